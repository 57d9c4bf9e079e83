import Foundation
import XCTest
@testable import LoRAKit

/// Training never writes the frozen base: the model file's bytes and every base matrix's values are the same after
/// training as before, for every storage (fp32 copy, NF4+DQ, INT8, and the file's own mmapped tensors).
final class FrozenBaseTests: XCTestCase {
    private func digest(_ model: LlamaModel) -> [String: [Float]] {
        var out: [String: [Float]] = ["embed": model.embedding.dequantizedArray(), "norm": model.finalNorm.array]
        for b in model.blocks {
            for t in LoRATarget.allCases { out[b.linear(t).name] = b.linear(t).base.dequantizedArray() }
            out[b.q.name + ".norms"] = b.inputNorm.array + b.postNorm.array
        }
        return out
    }

    func testBaseBytesAndValuesUnchangedByTraining() throws {
        let folder = TestModels.fixtures.appendingPathComponent("parity/tiny-llama-hf").path
        let file = folder + "/model.safetensors"
        let fileBefore = try SHA256.hex(file: file)
        for kind in [QuantKind.none, .nf4, .int8, .source] {
            let source = try loadWeights(path: folder)
            let model = try LlamaModel(source: source) { name, m in
                try TrainingRun.store(m, name: name, kind: kind, blockSize: 64, doubleQuant: kind == .nf4)
            }
            let before = digest(model)
            var opt = OptimizerConfig(learningRate: 1e-2)
            opt.weightDecay = 0.1
            let trainer = try Trainer(model: model, lora: try LoRAConfig(rank: 4, alpha: 8, dropout: 0.1), optimizer: opt, seed: 1)
            var rng = SeededRNG(seed: 9)
            for _ in 0..<5 {
                let ids = (0..<(2 * 16)).map { _ in Int32(rng.next() % 96) }
                _ = try trainer.step(microBatches: [Batch(batch: 2, seqLen: 16, inputs: ids, targets: Array(ids.dropFirst()) + [-1])])
            }
            try trainer.resize(rank: 8)
            XCTAssertTrue(model.adapters.contains { $0.adapter.b.value.array.contains { $0 != 0 } }, "the adapter trained")
            XCTAssertEqual(digest(model), before, "base changed by training with storage \(kind)")
        }
        XCTAssertEqual(try SHA256.hex(file: file), fileBefore, "the model file changed")
    }
}
