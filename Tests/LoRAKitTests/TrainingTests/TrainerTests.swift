import Foundation
import XCTest
@testable import LoRAKit

final class TrainerTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    /// Ten AdamW steps (2 micro-batches each, cosine + warmup, clip 1.0) against PyTorch: losses within 1e-4.
    func testTenStepsMatchPyTorch() throws {
        let fx = try TinyLlamaFixture.load()
        let t = try fx.trainer()
        let batches = fx.batches.map(\.value)
        for s in 0..<fx.train.steps {
            let st = try t.step(microBatches: batches)
            XCTAssertEqual(Double(st.loss), fx.train.losses[s], accuracy: 1e-4, "loss at step \(s)")
            XCTAssertEqual(Double(st.learningRate), fx.train.lrs[s], accuracy: 1e-7, "lr at step \(s)")
            XCTAssertEqual(Double(st.gradNorm), fx.train.grad_norms[s], accuracy: 1e-4 * fx.train.grad_norms[s], "norm at step \(s)")
            XCTAssertEqual(st.tokens, batches.reduce(0) { $0 + $1.trainedTokens })
        }
        XCTAssertEqual(t.stepCount, 10)
    }

    func randomBatches(_ cfg: ModelConfig, count: Int, seed: UInt64) -> [Batch] {
        var rng = SeededRNG(seed: seed)
        return (0..<count).map { _ in
            let ids = (0..<(2 * 9)).map { _ in Int32(rng.next() % UInt64(cfg.vocab)) }
            var inputs: [Int32] = [], targets: [Int32] = []
            for b in 0..<2 { inputs += ids[(b * 9)..<(b * 9 + 8)]; targets += ids[(b * 9 + 1)..<(b * 9 + 9)] }
            targets[2] = Batch.ignore
            return Batch(batch: 2, seqLen: 8, inputs: inputs, targets: targets)
        }
    }

    func makeTrainer(seed: UInt64) throws -> (Trainer, ModelConfig) {
        let cfg = ModelConfig(layers: 2, dim: 24, heads: 4, kvHeads: 2, ffnDim: 32, vocab: 40, ropeTheta: 10_000)
        let model = try LlamaModel(random: cfg, seed: 1)
        let opt = OptimizerConfig(learningRate: 5e-3, schedule: LRSchedule(kind: .linear, warmupSteps: 2, totalSteps: 20))
        return (try Trainer(model: model, lora: try LoRAConfig(rank: 4, alpha: 8, dropout: 0.1), optimizer: opt, seed: seed), cfg)
    }

    func testSameSeedIsBitIdenticalAndResumeIsExact() throws {
        let (t1, cfg) = try makeTrainer(seed: 42)
        let (t2, _) = try makeTrainer(seed: 42)
        let data = randomBatches(cfg, count: 6, seed: 3)
        var l1: [Float] = [], l2: [Float] = []
        for i in 0..<6 { l1.append(try t1.step(microBatches: [data[i]]).loss) }
        for i in 0..<3 { l2.append(try t2.step(microBatches: [data[i]]).loss) }
        let saved = t2.state()
        // resume into a third trainer made with another seed: the state decides everything
        let (t3, _) = try makeTrainer(seed: 7)
        let encoded = try JSONEncoder().encode(saved)
        try t3.restore(try JSONDecoder().decode(TrainerState.self, from: encoded))
        var l3 = l2
        for i in 3..<6 { l2.append(try t2.step(microBatches: [data[i]]).loss) }
        for i in 3..<6 { l3.append(try t3.step(microBatches: [data[i]]).loss) }
        XCTAssertEqual(l1, l2)
        XCTAssertEqual(l1, l3)
        XCTAssertEqual(t1.state(), t3.state())
        XCTAssertNotEqual(t1.state().adapters[0].b, saved.adapters[0].b)  // training moved B
        // another seed draws another A (B starts at zero, so the first loss is the base model's either way)
        let (t4, _) = try makeTrainer(seed: 43), (t5, _) = try makeTrainer(seed: 42)
        XCTAssertNotEqual(t4.state().adapters[0].a, t5.state().adapters[0].a)
        XCTAssertEqual(try t4.step(microBatches: [data[0]]).loss, l1[0])
    }

    func testRuntimeSettersApplyAtNextStep() throws {
        let (t, cfg) = try makeTrainer(seed: 1)
        let data = randomBatches(cfg, count: 1, seed: 5)
        _ = try t.step(microBatches: data)
        try t.setAlpha(32)
        try t.setDropout(0)
        t.learningRate = 1e-3
        XCTAssertEqual(t.model.adapters[0].adapter.scale, 2)  // not yet
        let st = try t.step(microBatches: data)
        XCTAssertEqual(t.model.adapters[0].adapter.scale, 8)
        XCTAssertEqual(t.model.adapters[0].adapter.dropout, 0)
        XCTAssertEqual(st.learningRate, 1e-3 * Float(LRSchedule(kind: .linear, warmupSteps: 2, totalSteps: 20).factor(step: 1)), accuracy: 1e-9)
        XCTAssertThrowsError(try t.setAlpha(-1))
        XCTAssertThrowsError(try t.setDropout(1))
        XCTAssertEqual(try t.evaluate(data), try t.evaluate(data))
    }

    func testGradientAccumulationEqualsOneBigBatch() throws {
        // two micro-batches of 1×8 give the same gradient as one 2×8 batch (token-weighted mean)
        let (ta, cfg) = try makeTrainer(seed: 2)
        let (tb, _) = try makeTrainer(seed: 2)
        try ta.setDropout(0); try tb.setDropout(0)
        let big = randomBatches(cfg, count: 1, seed: 9)[0]
        let halves = (0..<2).map { b in
            Batch(batch: 1, seqLen: 8, inputs: Array(big.inputs[(b * 8)..<(b * 8 + 8)]), targets: Array(big.targets[(b * 8)..<(b * 8 + 8)]))
        }
        let sa = try ta.step(microBatches: [big]), sb = try tb.step(microBatches: halves)
        XCTAssertEqual(sa.loss, sb.loss, accuracy: 1e-5)
        XCTAssertEqual(sa.gradNorm, sb.gradNorm, accuracy: 1e-5 * sa.gradNorm)
        XCTAssertLessThan(relMaxDiff(tb.parameters[0].value.array, ta.parameters[0].value.array), 1e-4)
    }

    func testSchedulesMatchTransformersFormulas() {
        let cos = LRSchedule(kind: .cosine, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(cos.factor(step: 0), 0)
        XCTAssertEqual(cos.factor(step: 5), 0.5, accuracy: 1e-12)
        XCTAssertEqual(cos.factor(step: 10), 1, accuracy: 1e-12)
        XCTAssertEqual(cos.factor(step: 60), 0.5, accuracy: 1e-12)
        XCTAssertEqual(cos.factor(step: 110), 0, accuracy: 1e-12)
        let lin = LRSchedule(kind: .linear, warmupSteps: 0, totalSteps: 100)
        XCTAssertEqual(lin.factor(step: 25), 0.75, accuracy: 1e-12)
        XCTAssertEqual(lin.factor(step: 200), 0)
        XCTAssertEqual(LRSchedule(kind: .constant, warmupSteps: 4, totalSteps: 10).factor(step: 2), 0.5)
        XCTAssertEqual(LRSchedule(kind: .constant, warmupSteps: 4, totalSteps: 10).factor(step: 9), 1)
    }

    func testAdamWFirstStepMatchesClosedForm() {
        // step 1: m̂ = g, v̂ = g², so p ← p(1 − lr·wd) − lr·g/(|g| + eps)
        let p = ParameterTensor(name: "p", rows: 1, cols: 3)
        p.value.assign([1, -2, 0.5]); p.grad.assign([0.3, -0.1, 0])
        AdamW.update(p, lr: 0.1, t: 1, config: OptimizerConfig(weightDecay: 0.01))
        let e: [Float] = [1 * 0.999 - 0.1 * 0.3 / (0.3 + 1e-8), -2 * 0.999 + 0.1, 0.5 * 0.999]
        for i in 0..<3 { XCTAssertEqual(p.value[i], e[i], accuracy: 1e-6) }
    }
}
