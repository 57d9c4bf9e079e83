import XCTest
@testable import LoRAKit

/// Rank, alpha and learning-rate changes on a real (tiny, random) model and trainer.
final class LiveChangeTests: XCTestCase {
    static let config = ModelConfig(layers: 2, dim: 32, heads: 4, kvHeads: 2, ffnDim: 48, vocab: 64, ropeTheta: 10_000,
                                    tiedEmbeddings: true, maxPositions: 64)

    private func makeTrainer(rank: Int = 8) throws -> Trainer {
        let model = try LlamaModel(random: Self.config, seed: 3)
        var opt = OptimizerConfig(learningRate: 5e-3)
        opt.schedule = LRSchedule(kind: .constant, warmupSteps: 0, totalSteps: 100)
        return try Trainer(model: model, lora: try LoRAConfig(rank: rank, alpha: 16), optimizer: opt, seed: 11)
    }

    private func batch(seed: UInt64) -> Batch {
        var rng = SeededRNG(seed: seed)
        let ids = (0..<(2 * 12)).map { _ in Int32(rng.next() % 64) }
        var targets = Array(ids.dropFirst()) + [Batch.ignore]
        targets[5] = Batch.ignore
        return Batch(batch: 2, seqLen: 12, inputs: ids, targets: targets)
    }

    private func updates(_ t: Trainer) -> [String: [Float]] {
        var out: [String: [Float]] = [:]
        for (name, ad) in t.model.adapters { out[name] = ad.delta() }
        return out
    }

    private func relative(_ x: [Float], _ y: [Float]) -> Double {
        var n = 0.0, d = 0.0
        for i in x.indices { n += Double(x[i] - y[i]) * Double(x[i] - y[i]); d += Double(y[i]) * Double(y[i]) }
        return d == 0 ? n.squareRoot() : (n / d).squareRoot()
    }

    func testGrowingTheRankKeepsEveryUpdateAndTheLoss() throws {
        let t = try makeTrainer()
        for s in 0..<4 { _ = try t.step(microBatches: [batch(seed: UInt64(s))]) }
        let fixed = batch(seed: 99)
        let before = updates(t)
        let lossBefore = try t.evaluate([fixed])
        XCTAssertEqual(before.count, 2 * 7, "all seven targets in both layers")
        XCTAssertEqual(try t.resize(rank: 16), 0)
        XCTAssertEqual(t.lora.rank, 16)
        let after = updates(t)
        for (name, u) in before {
            XCTAssertTrue(u.contains { $0 != 0 }, "\(name) learned something")
            XCTAssertLessThan(relative(after[name] ?? [], u), 1e-5, name)
        }
        XCTAssertEqual(try t.evaluate([fixed]), lossBefore, accuracy: 1e-5 * abs(lossBefore))
        for (_, ad) in t.model.adapters { XCTAssertEqual(ad.rank, 16); XCTAssertEqual(ad.scale, 1) }
        // Training continues at the new rank.
        let st = try t.step(microBatches: [batch(seed: 5)])
        XCTAssertTrue(st.loss.isFinite)
    }

    func testShrinkingReportsTheTruncationError() throws {
        let t = try makeTrainer()
        for s in 0..<6 { _ = try t.step(microBatches: [batch(seed: UInt64(s))]) }
        let before = t.state()
        let err = try t.resize(rank: 2)
        XCTAssertGreaterThan(err, 0)
        XCTAssertLessThan(err, 1)
        // The reported error is the worst module's, as RankResize computes it on the same factors.
        var worst = 0.0
        for a in before.adapters {
            let f = LoRAFactors(rank: a.rank, inFeatures: a.inFeatures, outFeatures: a.outFeatures, a: a.a, b: a.b)
            worst = max(worst, try RankResize.shrink(f, to: 2, oldScale: 2, newScale: 8).1)
        }
        XCTAssertEqual(err, worst, accuracy: 1e-9)
        XCTAssertEqual(t.model.adapters.first?.adapter.rank, 2)
    }

    func testAlphaChangesScaleExactlyAndLearningRateAppliesNextStep() throws {
        let t = try makeTrainer()
        _ = try t.step(microBatches: [batch(seed: 1)])
        try t.setAlpha(32)
        t.learningRate = 1e-3
        let s = try t.step(microBatches: [batch(seed: 2)])
        XCTAssertEqual(s.learningRate, 1e-3)
        for (_, ad) in t.model.adapters { XCTAssertEqual(ad.scale, 32 / 8) }
        var rs = try LoRAConfig(rank: 16, alpha: 32, useRSLoRA: true)
        XCTAssertEqual(rs.scale, 32 / 4)
        rs.useRSLoRA = false
        XCTAssertEqual(rs.scale, 2)
    }
}
