/// A training step's time predicted for a model shape on this machine, from timing a small piece of it: a few blocks
/// of the shape with an LM head of a fraction of the vocabulary, stored and run as `train` would (the same storage,
/// compute precision, adapters, checkpointing and threads), on random weights and token ids. The step is then
/// layers × (one block's time, its adapters' AdamW included) + the head's time × vocabulary / probed vocabulary: the
/// blocks are alike, and the head's products are linear in the vocabulary when it is cut into the same chunks of rows
/// as the whole model's (each chunk reads the whole head matrix, so a head of all the vocabulary in few chunks would
/// be a different cost: the probe's head takes the whole one's chunking). The probe has enough blocks that their
/// weights outgrow a last-level cache (`probeLayers`), as the whole model's do, so that none of them is timed from
/// cache (on the Llama-3.2-1B shape one block and three timed the same per block within the machine's noise,
/// 0.37–0.41 against 0.36–0.43 s: the head's chunking, not the cache, was what a one-block probe got wrong there).
/// Gemma's local and global layers
/// differ in their attention only (the probe's blocks are local ones when most are), so its prediction is rougher.
public struct SpeedEstimate: Codable, Sendable, Equatable {
    /// Median step of the probe (seconds): its `probeLayers` blocks and the probed head.
    public var probeStepSeconds: Double
    /// Of that, the LM head (forward and backward, loss included).
    public var probeHeadSeconds: Double
    /// Vocabulary of the probe's head.
    public var probeVocab: Int
    /// Blocks of the probe.
    public var probeLayers: Int
    /// Timed probe steps (after one warm-up).
    public var probeSteps: Int
    /// The predicted step (seconds) and throughput of the whole model.
    public var stepSeconds: Double
    /// Tokens per second (batch × sequence / step).
    public var tokensPerSecond: Double
}

extension SpeedEstimate {
    /// Weights the probe's blocks hold at least (twice a 32 MiB last-level cache), unless the model has fewer.
    public static let probeBytes = 64 << 20

    /// Blocks to probe: enough that their stored linear weights (`blockBytes` each) reach `probeBytes`, at least one,
    /// at most the model's.
    public static func probeLayers(blockBytes: Int, layers: Int) -> Int {
        min(layers, max(1, (probeBytes + max(1, blockBytes) - 1) / max(1, blockBytes)))
    }

    /// Times `steps` probe steps (after a warm-up) of `config` with the settings of `s`; `storage` stores each random
    /// matrix as the run would (`TrainingRun.store`). Builds a model of `probeLayers` blocks and a head of up to an
    /// eighth of the vocabulary (a vocabulary of 32k or less is probed whole), so it costs a fraction of the model's
    /// memory.
    public static func measure(_ config: ModelConfig, _ s: EstimateSettings, steps: Int = 5, seed: UInt64 = 0,
                               storage: @escaping (String, FrozenMatrix) throws -> FrozenMatrix) throws -> SpeedEstimate {
        var probe = config
        probe.layers = probeLayers(blockBytes: Estimator.blockLinearBytes(config, s), layers: config.layers)
        probe.vocab = config.vocab <= 32_768 ? config.vocab : (config.vocab / 8 + 63) / 64 * 64
        if var g = probe.gemma {
            let local = g.slidingLayers.filter { $0 }.count
            g.slidingLayers = Array(repeating: 2 * local > g.slidingLayers.count, count: probe.layers)
            probe.gemma = g
        }
        let model = try LlamaModel(random: probe, seed: seed, storage: storage)
        let lora = try LoRAConfig(rank: s.rank, alpha: s.alpha, targets: s.targets)
        let trainer = try Trainer(model: model, lora: lora, optimizer: OptimizerConfig(), seed: seed, checkpointing: s.checkpointing)
        // the head in the whole model's chunks: each chunk reads the whole head matrix, so their number sets its cost
        let n = s.batch * s.seqLen, shards = TrainingGraph.shardCount(B: s.batch, threads: s.threads)
        trainer.headChunkRows = CrossEntropyHead.defaultChunkRows(
            vocab: config.vocab, rows: n, budget: shards * TrainingGraph.headBudget(
                checkpointing: s.checkpointing, shards: shards, headBytes: Estimator.headMatrixBytes(config, s)))
        var rng = SeededRNG(seed: seed &+ 1)
        let wasEnabled = Profiler.enabled
        Profiler.enabled = true
        defer { Profiler.enabled = wasEnabled; Profiler.reset() }
        var times: [Double] = [], heads: [Double] = []
        for step in 0...max(1, steps) {
            let batch = Batch.random(batch: s.batch, seqLen: s.seqLen, vocab: probe.vocab, rng: &rng)
            Profiler.reset()
            let st = try trainer.step(microBatches: [batch])
            guard step > 0 else { continue }  // the warm-up allocates the graph
            times.append(st.seconds)
            heads.append(Profiler.report().first { $0.phase == "head" }?.seconds ?? 0)
        }
        let median = { (v: [Double]) in v.sorted()[v.count / 2] }
        return scaled(probeStep: median(times), probeHead: median(heads), probeVocab: probe.vocab, probeLayers: probe.layers,
                      steps: times.count, layers: config.layers, vocab: config.vocab, tokens: n)
    }

    /// The whole model's step from a probe's: `layers` / probeLayers × (probe step − probe head) + probe head × vocab /
    /// probeVocab, and `tokens` per step over it.
    public static func scaled(probeStep: Double, probeHead: Double, probeVocab: Int, probeLayers: Int, steps: Int, layers: Int,
                              vocab: Int, tokens: Int) -> SpeedEstimate {
        let perBlock = max(0, probeStep - probeHead) / Double(max(1, probeLayers))
        let predicted = Double(layers) * perBlock + probeHead * Double(vocab) / Double(max(1, probeVocab))
        return SpeedEstimate(probeStepSeconds: probeStep, probeHeadSeconds: probeHead, probeVocab: probeVocab,
                             probeLayers: probeLayers, probeSteps: steps, stepSeconds: predicted,
                             tokensPerSecond: predicted > 0 ? Double(tokens) / predicted : 0)
    }
}
