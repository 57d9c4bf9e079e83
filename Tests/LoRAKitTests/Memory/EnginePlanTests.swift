import XCTest
@testable import LoRAKit

/// The estimator's activation figure for this engine is the graph's real allocation, not a separate model of it.
final class EnginePlanTests: XCTestCase {
    func testPlannedActivationsEqualWhatTheGraphAllocates() throws {
        let shapes = [ModelConfig(layers: 2, dim: 32, heads: 4, kvHeads: 2, ffnDim: 48, vocab: 96),
                      ModelConfig(layers: 3, dim: 48, heads: 6, kvHeads: 3, ffnDim: 80, vocab: 5000, tiedEmbeddings: false)]
        for c in shapes {
            let model = try LlamaModel(random: c, seed: 1)
            for threads in [1, 2] {
                Parallel.setThreads(threads)
                for (B, T) in [(1, 8), (3, 17), (4, 9)] {  // (4, 9) with 2 threads: two shards
                    for ckpt in [false, true] {
                        let g = TrainingGraph(model: model, B: B, T: T, checkpointing: ckpt)
                        XCTAssertEqual(TrainingGraph.plannedActivationValues(c, B: B, T: T, checkpointing: ckpt, threads: threads) * 4,
                                       g.activationBytes, "\(c.layers) layers, B \(B), T \(T), checkpointing \(ckpt), threads \(threads)")
                    }
                }
            }
            Parallel.setThreads(2)
        }
    }

    func testEngineRowUsesTheFileEmbeddingUnderAQuantizedBase() {
        let c = ModelConfig()
        var s = EstimateSettings()
        s.quant = .nf4
        s.doubleQuant = true
        s.checkpointing = true
        s.embeddingFileBytes = 30_081_024
        let rows = Estimator.estimate(c, s)
        let engine = rows.last
        XCTAssertEqual(engine?.method, "loratop, this run")
        XCTAssertEqual(engine?.linearBitsPerParam ?? 0, 4.127, accuracy: 0.001)
        let embed = engine?.report.components.first { $0.name == "embeddings" }?.bytes ?? 0
        XCTAssertEqual(embed, 30_081_024 + 4 * (c.parameterCount - Estimator.parameterSplit(c).linear - c.vocab * c.dim))
    }
}
