import Foundation
import XCTest
@testable import LoRAKit

/// An adapter trained by loratop on each family's tiny folder (committed as tiny-NAME-loratop-peft/, written by
/// `LoratopAdapterWriter`) loads in PEFT on the transformers model: PEFT's logits for the fixture prompts (the
/// `loratop` step of each family's make_*_fixture.py, in peft_logits.json beside it) are loratop's.
final class LoratopAdapterInPEFTTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// Family folder names (tiny-NAME-hf) and the LoRA modules per layer (Phi-3's fused ones are four).
    static let families = [("gemma2", 7), ("gemma3", 7), ("phi3", 4), ("llama3", 7), ("qwen3", 7), ("llama-dynamic", 7)]

    func testLoratopAdapterInPEFTGivesLoratopLogits() throws {
        for (name, perLayer) in Self.families {
            let model = try LlamaModel(source: try loadWeights(path: TestModels.fixtures.appendingPathComponent("parity/tiny-\(name)-hf").path),
                                       storage: { DenseMatrix($1) })
            let before = try FamilyParity.lastPromptDifference(model, expected: "parity/tiny-\(name)-loratop-peft/peft_logits.json")
            XCTAssertGreaterThan(before, 1e-2, "\(name): the trained adapter must change the logits, or this proves nothing")
            let adapter = try PEFTAdapter.read(folder: TestModels.fixtures.appendingPathComponent("parity/tiny-\(name)-loratop-peft").path)
            XCTAssertEqual(adapter.modules.count, perLayer * model.config.layers)
            try adapter.attach(to: model)
            let worst = try FamilyParity.checkPrompts(model, expected: "parity/tiny-\(name)-loratop-peft/peft_logits.json", greedy: false)
            print("\(name): loratop-trained adapter in PEFT, worst |Δlogit| / max |logit| \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-4, name)
        }
    }
}

/// Trains an adapter on each family's tiny folder (r 4, alpha 8, all seven targets, 12 AdamW steps on seeded random
/// batches) and writes it as PEFT files to Fixtures/parity/tiny-NAME-loratop-peft when LORATOP_WRITE_FIXTURES=1.
final class LoratopAdapterWriter: XCTestCase {
    func testWriteFixtures() throws {
        guard ProcessInfo.processInfo.environment["LORATOP_WRITE_FIXTURES"] == "1" else {
            throw XCTSkip("set LORATOP_WRITE_FIXTURES=1 to rewrite the loratop-trained adapters")
        }
        Parallel.setThreads(2)
        for (name, _) in LoratopAdapterInPEFTTests.families {
            let model = try LlamaModel(source: try loadWeights(path: TestModels.fixtures.appendingPathComponent("parity/tiny-\(name)-hf").path),
                                       storage: { DenseMatrix($1) })
            let lora = try LoRAConfig(rank: 4, alpha: 8, targets: LoRATarget.allCases)
            let trainer = try Trainer(model: model, lora: lora, optimizer: OptimizerConfig(learningRate: 2e-2), seed: 31)
            var rng = SeededRNG(seed: 41)
            var last: Float = 0
            for _ in 0..<12 {
                let ids = (0..<(2 * 16)).map { _ in Int32(rng.next() % UInt64(model.config.vocab)) }
                let targets = Array(ids.dropFirst()) + [Batch.ignore]
                last = try trainer.step(microBatches: [Batch(batch: 2, seqLen: 16, inputs: ids, targets: targets)]).loss
            }
            print("\(name): loss after 12 steps \(last)")
            let dir = TestModels.sourceFixtures.appendingPathComponent("parity/tiny-\(name)-loratop-peft").path
            try PEFTAdapter(model: model, config: lora, baseModel: "tiny-\(name)-hf").write(to: dir)
        }
    }
}
