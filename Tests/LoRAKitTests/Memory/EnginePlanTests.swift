import XCTest
@testable import LoRAKit

/// The estimator's activation figure for this engine is the graph's real allocation, not a separate model of it.
final class EnginePlanTests: XCTestCase {
    func testPlannedActivationsEqualWhatTheGraphAllocates() throws {
        // the last: a 150k × 256 fp32 head (146 MiB), whose checkpointing chunks follow its size
        let shapes = [ModelConfig(layers: 2, dim: 32, heads: 4, kvHeads: 2, ffnDim: 48, vocab: 96),
                      ModelConfig(layers: 3, dim: 48, heads: 6, kvHeads: 3, ffnDim: 80, vocab: 5000, tiedEmbeddings: false),
                      ModelConfig(layers: 1, dim: 256, heads: 4, kvHeads: 2, ffnDim: 64, vocab: 150_000)]
        for c in shapes {
            let model = try LlamaModel(random: c, seed: 1)
            for threads in [1, 2] {
                Parallel.setThreads(threads)
                for (B, T) in [(1, 8), (3, 17), (4, 9)] {  // (4, 9) with 2 threads: two shards
                    for ckpt in [false, true] {
                        let g = TrainingGraph(model: model, B: B, T: T, checkpointing: ckpt)
                        XCTAssertEqual(TrainingGraph.plannedActivationValues(c, B: B, T: T, checkpointing: ckpt, threads: threads,
                                                                             headBytes: model.lmHead.storageBytes) * 4,
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

    /// Under checkpointing the head's chunk budget is 16 MiB, or an eighth of the head matrix when that is more, up to
    /// the 64 MiB of the speed budget, split over the shards: Llama-3.2-1B's 501 MiB bf16 head gets 62.6 MiB (4 chunks of
    /// 128 rows for 512 positions instead of 16 of 32).
    func testCheckpointingHeadBudgetFollowsTheHeadSize() {
        let small = CrossEntropyHead.smallBudget, fast = CrossEntropyHead.fastBudget
        XCTAssertEqual(TrainingGraph.headBudget(checkpointing: false, shards: 2, headBytes: 1 << 30), fast)
        XCTAssertEqual(TrainingGraph.headBudget(checkpointing: true, shards: 1, headBytes: 30 << 20), small)
        XCTAssertEqual(TrainingGraph.headBudget(checkpointing: true, shards: 2, headBytes: 30 << 20), small / 2)
        let llama = 128_256 * 2048 * 2
        XCTAssertEqual(TrainingGraph.headBudget(checkpointing: true, shards: 1, headBytes: llama), llama / 32)
        XCTAssertEqual(CrossEntropyHead.defaultChunkRows(vocab: 128_256, rows: 512, budget: llama / 32), 128)
        XCTAssertEqual(CrossEntropyHead.defaultChunkRows(vocab: 128_256, rows: 512, budget: small), 32)
        XCTAssertEqual(TrainingGraph.headBudget(checkpointing: true, shards: 1, headBytes: 4 << 30), fast)
    }

    /// For a random model (what `bench` and the 1B-scale figures run), the engine row's components are what the run
    /// accounts once it has stepped: the NF4+DQ base, bf16 embeddings under bf16 products, adapters, gradients,
    /// AdamW and the graph's activations, to the byte.
    func testEngineRowIsWhatARandomRunAccounts() throws {
        let c = ModelConfig(layers: 2, dim: 64, heads: 4, kvHeads: 2, ffnDim: 128, vocab: 300)
        var s = EstimateSettings()
        s.quant = .nf4
        s.doubleQuant = true
        s.checkpointing = true
        s.batch = 1
        s.seqLen = 16
        s.rank = 4
        s.computeBF16 = true
        Parallel.setThreads(2)
        let model = try LlamaModel(random: c, seed: 3) { name, m in
            try TrainingRun.store(m, name: name, kind: .nf4, blockSize: 64, doubleQuant: true, bf16: true)
        }
        let trainer = try Trainer(model: model, lora: try LoRAConfig(rank: 4, alpha: 8, targets: LoRATarget.allCases),
                                  optimizer: OptimizerConfig(), seed: 3, checkpointing: true)
        let ids = (0..<17).map { Int32($0 * 7 % 300) }
        _ = try trainer.step(microBatches: [Batch(batch: 1, seqLen: 16, inputs: Array(ids.prefix(16)), targets: Array(ids.dropFirst()))])
        let run = MemoryReport.training(model: model, trainer: trainer)
        let row = try XCTUnwrap(Estimator.estimate(c, s).first { $0.method == Estimator.engineMethod })
        for kind in [MemoryKind.baseWeights, .adapters, .gradients, .optimizerState, .activations] {
            XCTAssertEqual(row.report.bytes(of: kind), run.bytes(of: kind), "\(kind)")
        }
        XCTAssertTrue(run.components.contains { $0.name == "embeddings bf16" }, "\(run.components.map(\.name))")
    }

    /// The speed prediction: layers × (probe step − its head) / probed blocks + the head × vocabulary / probed vocabulary;
    /// the probe takes blocks until their weights pass 64 MiB (Llama-3.2-1B's NF4+DQ blocks: 31 MiB each, so 3).
    /// The block's bytes are the engine row's base divided by the layers.
    func testSpeedScalesTheProbeByLayersAndVocabulary() throws {
        let sp = SpeedEstimate.scaled(probeStep: 1.3, probeHead: 0.1, probeVocab: 16_064, probeLayers: 3, steps: 3, layers: 16,
                                      vocab: 128_256, tokens: 512)
        XCTAssertEqual(sp.stepSeconds, 16 * 0.4 + 0.1 * 128_256 / 16_064, accuracy: 1e-12)
        XCTAssertEqual(sp.tokensPerSecond, 512 / sp.stepSeconds, accuracy: 1e-9)
        XCTAssertEqual(SpeedEstimate.probeLayers(blockBytes: 31 << 20, layers: 16), 3)
        XCTAssertEqual(SpeedEstimate.probeLayers(blockBytes: 32 << 20, layers: 16), 2)
        XCTAssertEqual(SpeedEstimate.probeLayers(blockBytes: 100 << 20, layers: 16), 1)
        XCTAssertEqual(SpeedEstimate.probeLayers(blockBytes: 1 << 20, layers: 30), 30)
        let llama = try XCTUnwrap(ModelPreset.named("llama-1b")).config
        var s = EstimateSettings()
        s.doubleQuant = true
        let row = try XCTUnwrap(Estimator.estimate(llama, s).first { $0.method == Estimator.engineMethod })
        XCTAssertEqual(Estimator.blockLinearBytes(llama, s) * llama.layers, row.report.components.first?.bytes)
        XCTAssertEqual(SpeedEstimate.probeLayers(blockBytes: Estimator.blockLinearBytes(llama, s), layers: llama.layers), 3)
    }

    /// The probe builds its blocks (all of a model whose blocks are tiny) and a head of an eighth of a large vocabulary
    /// (a small one whole), and times the steps it is asked for.
    func testSpeedProbeTimesItsBlocksAndPartOfTheHead() throws {
        Parallel.setThreads(2)
        var s = EstimateSettings()
        s.batch = 1
        s.seqLen = 8
        s.rank = 2
        for (vocab, probed) in [(96, 96), (40_000, 5056)] {
            let c = ModelConfig(layers: 6, dim: 32, heads: 4, kvHeads: 2, ffnDim: 48, vocab: vocab)
            let sp = try SpeedEstimate.measure(c, s, steps: 2) { $1 }
            XCTAssertEqual(sp.probeVocab, probed)
            XCTAssertEqual(sp.probeLayers, 6, "tiny blocks: all of them")
            XCTAssertEqual(sp.probeSteps, 2)
            XCTAssertGreaterThan(sp.probeStepSeconds, 0)
            XCTAssertLessThanOrEqual(sp.probeHeadSeconds, sp.probeStepSeconds)
            XCTAssertTrue(sp.tokensPerSecond.isFinite && sp.tokensPerSecond > 0)
        }
        XCTAssertFalse(Profiler.enabled, "the probe leaves the profiler as it found it")
    }
}
