import Foundation
import XCTest
@testable import LoRAKit

/// The whole tiny model (2 layers, 4 heads / 2 KV heads, tied head, LoRA r 4 on all seven projections with
/// nonzero B) against PyTorch + PEFT autograd: for each tensor, largest |Δ| ≤ 1e-4 × its largest magnitude.
final class TinyLlamaParityTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func checkParity(storage: @escaping (String, FrozenMatrix) throws -> FrozenMatrix, checkpointing: Bool) throws {
        let fx = try TinyLlamaFixture.load()
        let trainer = try fx.trainer(storage: storage, checkpointing: checkpointing)
        let batch = fx.batches[0].value
        XCTAssertTrue(batch.targets.contains(Batch.ignore))
        let graph = TrainingGraph(model: trainer.model, B: batch.batch, T: batch.seqLen, checkpointing: checkpointing)
        let logits = try graph.logits(batch)
        XCTAssertLessThan(relMaxDiff(logits, fx.expected.logits), 1e-4, "logits")
        for p in trainer.parameters { p.grad.zero() }
        try graph.forward(batch, dropoutSeed: nil)
        let lossSum = graph.backward(batch, gradScale: 1 / Float(batch.trainedTokens))
        let loss = Float(lossSum / Double(batch.trainedTokens))
        XCTAssertEqual(loss, fx.expected.loss, accuracy: 1e-4 * abs(fx.expected.loss))
        XCTAssertEqual(try trainer.evaluate([batch]), fx.expected.loss, accuracy: 1e-4 * abs(fx.expected.loss))
        var checked = 0
        for (name, ad) in trainer.model.adapters {
            let ea = try XCTUnwrap(fx.expected.grads[name + ".lora_A"]), eb = try XCTUnwrap(fx.expected.grads[name + ".lora_B"])
            XCTAssertGreaterThan(ea.map(abs).max()!, 0, name)
            XCTAssertLessThan(relMaxDiff(ad.a.grad.array, ea), 1e-4, name + ".lora_A")
            XCTAssertLessThan(relMaxDiff(ad.b.grad.array, eb), 1e-4, name + ".lora_B")
            checked += 2
        }
        XCTAssertEqual(checked, 2 * 7 * 2)
    }

    func testLogitsLossAndLoRAGradientsMatchPyTorch() throws {
        try checkParity(storage: { $1 }, checkpointing: false)
    }

    func testTiledBaseAndCheckpointingMatchPyTorch() throws {
        try checkParity(storage: { TileOnlyMatrix($1) }, checkpointing: true)
    }

    func testCheckpointingGivesBitIdenticalGradientsWithDropout() throws {
        let fx = try TinyLlamaFixture.load()
        var grads: [[Float]] = []
        for ckpt in [false, true] {
            let t = try fx.trainer(checkpointing: ckpt)
            for ad in t.model.adapters { ad.adapter.dropout = 0.2 }
            let b = fx.batches[1].value
            let g = TrainingGraph(model: t.model, B: b.batch, T: b.seqLen, checkpointing: ckpt)
            for p in t.parameters { p.grad.zero() }
            try g.forward(b, dropoutSeed: 99)
            _ = g.backward(b, gradScale: 0.1)
            grads.append(t.parameters.flatMap { $0.grad.array })
        }
        XCTAssertEqual(grads[0], grads[1])
    }

    func testBadTokensAreRejectedWithPosition() throws {
        let fx = try TinyLlamaFixture.load()
        let t = try fx.trainer()
        var b = fx.batches[0].value
        b.inputs[5] = 1000
        XCTAssertThrowsError(try t.evaluate([b])) { e in XCTAssertTrue("\(e)".contains("position 5"), "\(e)") }
    }
}

/// KV-cache decoding against the full forward, on a random GQA model with Qwen2-style q/k/v biases and
/// nonzero LoRA B: every position's logits agree within 1e-5 of the largest logit.
final class KVCacheTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testPrefillAndDecodeMatchFullForward() throws {
        let cfg = ModelConfig(layers: 2, dim: 32, heads: 4, kvHeads: 2, ffnDim: 40, vocab: 50, ropeTheta: 10_000,
                              tiedEmbeddings: false, maxPositions: 64, attentionBias: true)
        let model = try LlamaModel(random: cfg, seed: 8, storage: { name, m in name.contains("mlp") ? TileOnlyMatrix(m) : m })
        var rng = SeededRNG(seed: 9)
        model.attachAdapters(try LoRAConfig(rank: 2), rng: &rng)
        for (_, ad) in model.adapters { for i in 0..<ad.b.count { ad.b.value[i] = rng.uniform(-0.3, 0.3) } }
        let T = 12
        let tokens: [Int32] = (0..<T).map { _ in Int32(rng.next() % 50) }
        let full = try TrainingGraph(model: model, B: 1, T: T).logits(Batch(batch: 1, seqLen: T, inputs: tokens, targets: tokens))
        let cache = KVCache(model: model, capacity: 16)
        var inc = try cache.append(Array(tokens[0..<5]))
        for t in 5..<T { inc += try cache.decodeNext(tokens[t]) }
        XCTAssertEqual(cache.length, T)
        XCTAssertLessThan(relMaxDiff(inc, full), 1e-5)
        cache.reset()
        let last = try cache.prefill(tokens)
        XCTAssertLessThan(relMaxDiff(last, Array(full[((T - 1) * 50)...])), 1e-5)
        XCTAssertThrowsError(try cache.append([Int32](repeating: 1, count: 5)))  // 12 + 5 > 16
    }
}
