import Foundation

/// What one optimizer step did.
public struct StepStats: Sendable, Equatable {
    /// Mean cross-entropy over the unmasked positions of all micro-batches.
    public var loss: Float
    /// Global L2 norm of the LoRA gradients before clipping.
    public var gradNorm: Float
    /// The learning rate applied.
    public var learningRate: Float
    /// Unmasked (trained) positions in the step.
    public var tokens: Int
    /// Wall-clock seconds of the step.
    public var seconds: Double

    /// The loss or the gradient norm was NaN or infinite, so the step left the weights as they were.
    public var updateSkipped: Bool { !loss.isFinite || !gradNorm.isFinite }
}

/// Trains the LoRA adapters of a `LlamaModel`: forward, backward, clip, AdamW, one call per step.
///
/// Deterministic: the same model, seed, batches and thread count give bit-identical results; all state a
/// checkpoint needs (A, B, moments, step, RNG) is in `state()` / `restore(_:)`.
public final class Trainer {
    /// The model being adapted.
    public let model: LlamaModel
    /// Adapter settings (rank and targets fixed; alpha and dropout follow the setters).
    public internal(set) var lora: LoRAConfig
    /// Optimizer settings (the learning rate follows `learningRate`).
    public internal(set) var optimizer: OptimizerConfig
    /// Optimizer steps taken.
    public internal(set) var stepCount = 0
    /// Whether block activations are recomputed in backward.
    public let checkpointing: Bool
    var rng: SeededRNG
    var graph: TrainingGraph?
    var evalGraph: TrainingGraph?
    var pendingAlpha: Float?
    var pendingDropout: Float?
    /// The L2 norm of each adapter tensor's gradient in the last step, before clipping, by tensor
    /// (`ObjectIdentifier` of its `ParameterTensor`): the squares the global norm is summed from, kept for the update
    /// inspection. Nil before the first step, after a skipped (non-finite) step and after a rank change.
    public internal(set) var lastGradientNorms: [ObjectIdentifier: Double]?

    /// Attaches fresh adapters (PEFT init drawn from `seed`) to `model` and prepares the optimizer.
    public init(model: LlamaModel, lora: LoRAConfig, optimizer: OptimizerConfig, seed: UInt64,
                checkpointing: Bool = false) throws {
        try lora.validate()
        try Self.checkRank(lora.rank, fits: model, targets: lora.targets)
        self.model = model
        self.lora = lora
        self.optimizer = optimizer
        self.checkpointing = checkpointing
        rng = SeededRNG(seed: seed)
        model.attachAdapters(lora, rng: &rng)
    }

    /// A rank above the narrowest adapted projection's smaller side adds parameters and no capacity (ΔW = B·A has rank
    /// at most min(in, out)): refused, as `lora_r: 4096` on a 64-wide model once trained with "7459.99% trainable".
    static func checkRank(_ rank: Int, fits model: LlamaModel, targets: [LoRATarget]) throws {
        let narrowest = model.blocks.flatMap { b in targets.map { t in min(b.linear(t).base.rows, b.linear(t).base.cols) } }.min()
        if let n = narrowest, rank > n {
            throw LoRAConfigError(field: "r", message: "expected at most \(n) (the narrowest adapted projection's smaller side), found \(rank)")
        }
    }

    /// Every trainable tensor in a fixed order (per adapter: A then B).
    public var parameters: [ParameterTensor] { model.adapters.flatMap { [$0.adapter.a, $0.adapter.b] } }

    /// Peak learning rate of the schedule (a new value applies from the next step).
    public var learningRate: Float {
        get { optimizer.learningRate }
        set { optimizer.learningRate = newValue }
    }

    /// Changes LoRA alpha (scale = alpha/r or alpha/√r) from the next step.
    public func setAlpha(_ alpha: Float) throws {
        var c = lora
        c.alpha = alpha
        try c.validate()
        pendingAlpha = alpha
    }

    /// Changes the LoRA dropout probability from the next step.
    public func setDropout(_ p: Float) throws {
        var c = lora
        c.dropout = p
        try c.validate()
        pendingDropout = p
    }

    func applyPending() {
        if let a = pendingAlpha { lora.alpha = a; pendingAlpha = nil }
        if let p = pendingDropout { lora.dropout = p; pendingDropout = nil }
        for (_, ad) in model.adapters {
            ad.scale = lora.scale
            ad.dropout = lora.dropout
        }
    }

    /// The LM head's rows per chunk in the training graph, when not its own choice (`SpeedEstimate`'s probe).
    var headChunkRows: Int?

    func graph(for b: Batch) -> TrainingGraph {
        if let g = graph, g.B == b.batch, g.T == b.seqLen { return g }
        graph = nil  // release the old activations first
        evalGraph = nil  // evaluation uses this graph from now on when the shapes match
        let g = TrainingGraph(model: model, B: b.batch, T: b.seqLen, checkpointing: checkpointing, headChunkRows: headChunkRows)
        graph = g
        return g
    }

    /// The learning rate the next step will use.
    public var nextLearningRate: Float {
        optimizer.learningRate * Float(optimizer.schedule.factor(step: stepCount))
    }

    /// One optimizer step over `microBatches` (gradient accumulation): the loss is the mean over every
    /// unmasked position of all micro-batches, gradients are clipped to `maxGradNorm`, then AdamW. A non-finite loss
    /// or gradient norm skips the update (`StepStats.updateSkipped`).
    public func step(microBatches: [Batch]) throws -> StepStats {
        let start = DispatchTime.now().uptimeNanoseconds
        guard !microBatches.isEmpty else { throw ModelInputError(message: "a step needs at least one micro-batch") }
        applyPending()
        let tokens = microBatches.reduce(0) { $0 + $1.trainedTokens }
        let params = parameters
        for p in params { p.grad.zero() }
        let stepSeed = rng.next()
        var lossSum = 0.0
        if tokens > 0 {
            let scale = 1 / Float(tokens)
            for (i, mb) in microBatches.enumerated() {
                let g = graph(for: mb)
                try g.forward(mb, dropoutSeed: stepSeed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15)
                lossSum += g.backward(mb, gradScale: scale)
            }
        }
        // global gradient norm (Double, fixed order) and clipping as torch.nn.utils.clip_grad_norm_
        var sq = 0.0
        var squares: [ObjectIdentifier: Double] = [:]
        squares.reserveCapacity(params.count)
        for p in params {
            let s = Vec.sumSquares(p.grad.pointer, p.count)
            sq += s
            squares[ObjectIdentifier(p)] = s
        }
        let norm = Float(sq.squareRoot())
        let loss = tokens > 0 ? Float(lossSum / Double(tokens)) : 0
        if !loss.isFinite || !norm.isFinite {
            // Diverged (or a non-finite base): skip the update, as a loss scaler does. The weights and AdamW moments
            // stay as they were; the step still counts, so the schedule and the data move on.
            lastGradientNorms = nil
            let lr = nextLearningRate  // the rate this step would have used, as a finite step reports it
            stepCount += 1
            return StepStats(loss: loss, gradNorm: norm, learningRate: lr, tokens: tokens,
                             seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        if optimizer.maxGradNorm > 0 {
            let coef = min(1, optimizer.maxGradNorm / (norm + 1e-6))
            if coef < 1 { for p in params { for i in 0..<p.count { p.grad[i] *= coef } } }
        }
        lastGradientNorms = squares.mapValues { $0.squareRoot() }
        let lr = nextLearningRate
        stepCount += 1
        if tokens > 0 {
            for p in params { AdamW.update(p, lr: lr, t: stepCount, config: optimizer) }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return StepStats(loss: loss, gradNorm: norm, learningRate: lr, tokens: tokens, seconds: seconds)
    }

    /// Mean masked cross-entropy over `batches` (weighted by unmasked positions), no gradients or dropout.
    public func evaluate(_ batches: [Batch], progress: ((_ batchesDone: Int) -> Void)? = nil) throws -> Float {
        applyPending()
        var sum = 0.0, count = 0
        for (i, b) in batches.enumerated() {
            defer { progress?(i + 1) }
            // the training graph when the shapes match (its buffers are rewritten by the next step anyway, so
            // evaluation costs no memory); otherwise a separate, activation-light graph (checkpointing keeps one
            // block's activations), so evaluating batches of another shape never throws away the training graph
            let eg: TrainingGraph
            if let g = graph, g.B == b.batch, g.T == b.seqLen {
                eg = g
            } else if let g = evalGraph, g.B == b.batch, g.T == b.seqLen {
                eg = g
            } else {
                evalGraph = nil
                eg = TrainingGraph(model: model, B: b.batch, T: b.seqLen, checkpointing: true)
                evalGraph = eg
            }
            let (s, n) = try eg.loss(b)
            sum += s
            count += n
        }
        return count > 0 ? Float(sum / Double(count)) : .nan
    }

    /// Releases the activation buffers (they come back at the next step).
    public func releaseActivations() {
        graph = nil
        evalGraph = nil
    }
}
