import Foundation
import XCTest
@testable import LoRAKit

/// With two threads and a batch they divide, the graph runs each half of the batch on its own worker and sums the
/// shards' LoRA gradients; it must compute what one thread computes over the whole batch (up to the order of the
/// gradient sums), mask for mask under dropout, with and without checkpointing, and repeat itself bit for bit.
final class ShardedGraphTests: XCTestCase {
    override func tearDown() { Parallel.setThreads(2) }

    /// Four sequences: the fixture's two batches side by side.
    func fourSequences(_ fx: TinyLlamaFixture) -> Batch {
        let a = fx.batches[0].value, b = fx.batches[1].value
        return Batch(batch: 4, seqLen: a.seqLen, inputs: a.inputs + b.inputs, targets: a.targets + b.targets)
    }

    func run(threads: Int, checkpointing: Bool, dropout: Float) throws -> (loss: Double, grads: [Float], eval: Double, shards: Int) {
        Parallel.setThreads(threads)
        let fx = try TinyLlamaFixture.load()
        let t = try fx.trainer(checkpointing: checkpointing)
        for ad in t.model.adapters { ad.adapter.dropout = dropout }
        let batch = fourSequences(fx)
        let g = TrainingGraph(model: t.model, B: batch.batch, T: batch.seqLen, checkpointing: checkpointing)
        for p in t.parameters { p.grad.zero() }
        try g.forward(batch, dropoutSeed: dropout > 0 ? 7 : nil)
        let loss = g.backward(batch, gradScale: 1 / Float(batch.trainedTokens))
        let eval = try g.loss(batch).sum
        return (loss, t.parameters.flatMap { $0.grad.array }, eval, g.shards.count)
    }

    func testTwoShardsMatchOneThread() throws {
        for ckpt in [false, true] {
            for dropout: Float in [0, 0.2] {
                let one = try run(threads: 1, checkpointing: ckpt, dropout: dropout)
                let two = try run(threads: 2, checkpointing: ckpt, dropout: dropout)
                let what = "checkpointing \(ckpt), dropout \(dropout)"
                XCTAssertEqual(one.shards, 1, what)
                XCTAssertEqual(two.shards, 2, what)
                XCTAssertEqual(two.loss, one.loss, accuracy: 1e-5 * abs(one.loss), what)
                XCTAssertEqual(two.eval, one.eval, accuracy: 1e-5 * abs(one.eval), what)
                XCTAssertGreaterThan(one.grads.map(abs).max() ?? 0, 0, what)
                XCTAssertLessThan(relMaxDiff(two.grads, one.grads), 1e-5, what)
            }
        }
    }

    func testShardedRunsAreBitIdentical() throws {
        let a = try run(threads: 2, checkpointing: false, dropout: 0.2)
        let b = try run(threads: 2, checkpointing: false, dropout: 0.2)
        XCTAssertEqual(a.loss, b.loss)
        XCTAssertEqual(a.grads, b.grads)
    }

    /// Three sequences do not divide over two workers: one shard, each kernel split over the workers instead.
    func testABatchTheThreadsDoNotDivideRunsAsOneShard() {
        XCTAssertEqual(TrainingGraph.shardCount(B: 3, threads: 2), 1)
        XCTAssertEqual(TrainingGraph.shardCount(B: 1, threads: 2), 1)
        XCTAssertEqual(TrainingGraph.shardCount(B: 8, threads: 4), 4)
        XCTAssertEqual(TrainingGraph.shardCount(B: 8, threads: 1), 1)
    }
}
