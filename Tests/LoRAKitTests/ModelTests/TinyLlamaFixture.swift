import Foundation
import XCTest
@testable import LoRAKit

/// The committed PyTorch fixture Fixtures/engine/tiny_llama.json (made by make_tiny_fixture.py).
struct TinyLlamaFixture: Decodable {
    struct Tensor: Decodable { let shape: [Int]; let data: [Float] }
    struct BatchJSON: Decodable {
        let batch: Int, seq_len: Int, inputs: [Int32], targets: [Int32]
        var value: Batch { Batch(batch: batch, seqLen: seq_len, inputs: inputs, targets: targets) }
    }
    struct Expected: Decodable { let loss: Float; let logits: [Float]; let grads: [String: [Float]] }
    struct Train: Decodable {
        let lr: Float, warmup: Int, steps: Int, clip: Float, weight_decay: Float
        let losses: [Double], grad_norms: [Double], lrs: [Double]
    }
    let config: ModelConfig
    let lora: LoRAConfig
    let base: [String: Tensor]
    let lora_init: [String: Tensor]
    let batches: [BatchJSON]
    let expected: Expected
    let train: Train

    static func load() throws -> TinyLlamaFixture {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        let data = try Data(contentsOf: dir.appendingPathComponent("engine/tiny_llama.json"))
        return try JSONDecoder().decode(TinyLlamaFixture.self, from: data)
    }

    var source: DictWeightSource {
        DictWeightSource(config: config, tensors: base.mapValues { ($0.shape, $0.data) })
    }

    var optimizer: OptimizerConfig {
        OptimizerConfig(learningRate: train.lr, weightDecay: train.weight_decay,
                        schedule: LRSchedule(kind: .cosine, warmupSteps: train.warmup, totalSteps: train.steps),
                        maxGradNorm: train.clip)
    }

    /// A trainer on the fixture model whose adapters hold the fixture's initial A and B.
    func trainer(storage: @escaping (String, FrozenMatrix) throws -> FrozenMatrix = { $1 }, checkpointing: Bool = false) throws -> Trainer {
        let model = try LlamaModel(source: source, storage: storage)
        let t = try Trainer(model: model, lora: lora, optimizer: optimizer, seed: 0, checkpointing: checkpointing)
        var st = t.state()
        for i in st.adapters.indices {
            let n = st.adapters[i].name
            st.adapters[i].a = try XCTUnwrap(lora_init[n + ".lora_A"]).data
            st.adapters[i].b = try XCTUnwrap(lora_init[n + ".lora_B"]).data
        }
        try t.restore(st)
        return t
    }
}
