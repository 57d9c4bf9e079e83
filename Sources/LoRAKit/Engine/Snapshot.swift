/// The knobs of a run that the keyboard and the headless command language can change, plus the fixed ones shown beside them.
public struct TrainingSettings: Codable, Sendable, Equatable {
    /// LoRA rank r.
    public var rank: Int = 8
    /// LoRA alpha.
    public var alpha: Float = 16
    /// Whether scaling is alpha/√r (rsLoRA) instead of alpha/r.
    public var rsLoRA: Bool = false
    /// Dropout probability on the LoRA input.
    public var dropout: Float = 0
    /// Peak learning rate.
    public var learningRate: Float = 2e-4
    /// Schedule name: constant, linear or cosine.
    public var schedule: String = "cosine"
    /// Warm-up steps.
    public var warmup: Int = 10
    /// Adapted modules (q, k, v, o, gate, up, down).
    public var targets: [String] = ["q", "k", "v", "o", "gate", "up", "down"]
    /// Storage of the frozen base, e.g. "nf4+dq", "f32", "source (q4_1)".
    public var quantization: String = "none"
    /// Sequences per micro-batch.
    public var batchSize: Int = 4
    /// Micro-batches per optimizer step.
    public var gradAccum: Int = 1
    /// Tokens per sequence.
    public var seqLen: Int = 128
    /// Whether blocks recompute activations in backward.
    public var checkpointing: Bool = false
    /// Precision the base's products run in ("fp32", "bf16"); nil when the run does not say (a PyTorch run).
    public var compute: String?

    /// A settings value with the defaults above.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case rank, alpha, rsLoRA = "rslora", dropout, learningRate, schedule, warmup, targets, quantization, batchSize,
             gradAccum, seqLen, checkpointing, compute
    }

    /// Decodes settings; a missing key keeps its default (a second server may send only what it knows).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rank = try c.decodeIfPresent(Int.self, forKey: .rank) ?? rank
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha) ?? alpha
        rsLoRA = try c.decodeIfPresent(Bool.self, forKey: .rsLoRA) ?? rsLoRA
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? dropout
        learningRate = try c.decodeIfPresent(Float.self, forKey: .learningRate) ?? learningRate
        schedule = try c.decodeIfPresent(String.self, forKey: .schedule) ?? schedule
        warmup = try c.decodeIfPresent(Int.self, forKey: .warmup) ?? warmup
        targets = try c.decodeIfPresent([String].self, forKey: .targets) ?? targets
        quantization = try c.decodeIfPresent(String.self, forKey: .quantization) ?? quantization
        batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? batchSize
        gradAccum = try c.decodeIfPresent(Int.self, forKey: .gradAccum) ?? gradAccum
        seqLen = try c.decodeIfPresent(Int.self, forKey: .seqLen) ?? seqLen
        checkpointing = try c.decodeIfPresent(Bool.self, forKey: .checkpointing) ?? checkpointing
        compute = try c.decodeIfPresent(String.self, forKey: .compute)
    }

    /// The LoRA scaling factor: alpha/r, or alpha/√r with rsLoRA.
    public var scale: Float {
        guard rank > 0 else { return 0 }
        return rsLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
    }
}

/// One point of a curve.
public struct LossPoint: Codable, Sendable, Equatable {
    /// Optimizer step.
    public var step: Int
    /// Value at that step.
    public var value: Float
    /// A point at `step` with `value`.
    public init(step: Int, value: Float) {
        self.step = step
        self.value = value
    }
}

/// What one optimizer step did.
public struct StepRecord: Codable, Sendable, Equatable {
    /// Optimizer steps completed, this one included (1-based).
    public var step: Int
    /// Mean masked cross-entropy over the step's micro-batches.
    public var loss: Float
    /// Learning rate used for this step.
    public var learningRate: Float
    /// Global gradient norm before clipping.
    public var gradNorm: Float
    /// Tokens processed (inputs, B·T per micro-batch).
    public var tokens: Int
    /// Wall-clock seconds of this step.
    public var seconds: Double
    /// Fractional epoch reached.
    public var epoch: Double

    /// A record with every field given.
    public init(step: Int, loss: Float, learningRate: Float, gradNorm: Float, tokens: Int, seconds: Double, epoch: Double) {
        self.step = step
        self.loss = loss
        self.learningRate = learningRate
        self.gradNorm = gradNorm
        self.tokens = tokens
        self.seconds = seconds
        self.epoch = epoch
    }

    /// Tokens per second of this step.
    public var tokensPerSecond: Double { seconds > 0 ? Double(tokens) / seconds : 0 }

    /// The loss or the gradient norm was NaN or infinite: the trainer skipped the update (weights unchanged).
    public var updateSkipped: Bool { !loss.isFinite || !gradNorm.isFinite }
}

/// What one evaluation found.
public struct EvalRecord: Codable, Sendable, Equatable {
    /// Optimizer steps completed when it ran.
    public var step: Int
    /// Mean masked loss over the eval set.
    public var loss: Float
    /// Exact-match accuracy on generated answers (0…1), when the task defines one and it was computed.
    public var exactMatch: Double?
    /// Wall-clock seconds it took.
    public var seconds: Double

    /// A record with every field given.
    public init(step: Int, loss: Float, exactMatch: Double? = nil, seconds: Double) {
        self.step = step
        self.loss = loss
        self.exactMatch = exactMatch
        self.seconds = seconds
    }
}

/// A setting change that took effect, shown as a marker on the chart ("r 8→16") and logged.
public struct ChangeEvent: Codable, Sendable, Equatable {
    /// Optimizer steps completed when it took effect (it applies from step `step + 1`).
    public var step: Int
    /// What changed: rank, alpha, lr, dropout, quant, restart.
    public var kind: String
    /// The value before.
    public var from: String
    /// The value after.
    public var to: String
    /// Extra facts, e.g. the relative error a rank shrink introduced.
    public var detail: String?

    /// A change of `kind` from `from` to `to` at `step`.
    public init(step: Int, kind: String, from: String, to: String, detail: String? = nil) {
        self.step = step
        self.kind = kind
        self.from = from
        self.to = to
        self.detail = detail
    }

    /// Short marker label, e.g. "r 8→16".
    public var label: String {
        let short = ["rank": "r", "alpha": "α", "lr": "lr", "dropout": "p", "quant": "q"][kind] ?? kind
        return "\(short) \(from)→\(to)"
    }

    /// The label and its detail: "r 8→4 (truncated-SVD error 8.64%)".
    public var text: String { label + (detail.map { " (\($0))" } ?? "") }

    /// The engine's message for it, "step 12: r 8→4 (…)": viewers that show the change itself skip this message.
    public var note: String { "step \(step): \(text)" }
}

/// One generated sample: the base model's answer next to the adapted one.
public struct SampleRecord: Codable, Sendable, Equatable {
    /// Optimizer steps completed when generated.
    public var step: Int
    /// The prompt (user turn).
    public var prompt: String
    /// The base model's answer (adapter off), if generated.
    public var base: String?
    /// The adapted model's answer.
    public var adapted: String
    /// The reference answer, when the dataset has one.
    public var reference: String?

    /// A sample with every field given.
    public init(step: Int, prompt: String, base: String?, adapted: String, reference: String?) {
        self.step = step
        self.prompt = prompt
        self.base = base
        self.adapted = adapted
        self.reference = reference
    }
}

/// A previous run kept on the chart after a restart, for comparison.
public struct GhostRun: Sendable, Equatable {
    /// Label, e.g. "run 1: r8 α16 lr2e-4".
    public var label: String
    /// Its training-loss curve.
    public var train: [LossPoint]
    /// Its eval-loss curve.
    public var eval: [LossPoint]

    /// A ghost with every field given.
    public init(label: String, train: [LossPoint], eval: [LossPoint]) {
        self.label = label
        self.train = train
        self.eval = eval
    }
}

/// Where the engine is.
public enum EngineStatus: Sendable, Equatable {
    /// Loading, before the first step.
    case starting
    /// Stepping.
    case running
    /// Waiting for `resume`.
    case paused
    /// Running an evaluation.
    case evaluating
    /// Generating samples.
    case sampling
    /// Writing a checkpoint.
    case saving
    /// Reached the planned number of steps.
    case finished
    /// Stopped on request.
    case stopped
    /// Stopped by an error.
    case failed(String)

    /// A one-word label.
    public var label: String {
        switch self {
        case .starting: return "starting"
        case .running: return "running"
        case .paused: return "paused"
        case .evaluating: return "evaluating"
        case .sampling: return "sampling"
        case .saving: return "saving"
        case .finished: return "finished"
        case .stopped: return "stopped"
        case .failed: return "failed"
        }
    }

    /// Whether the engine has stopped for good.
    public var isTerminal: Bool {
        switch self {
        case .finished, .stopped, .failed: return true
        default: return false
        }
    }
}

/// How far a long phase of the engine has got (an evaluation, sampling, a save, a re-quantization), published as it
/// goes so a viewer shows it moving instead of a frozen screen.
public struct PhaseProgress: Codable, Sendable, Equatable {
    /// What the engine is doing: "evaluating", "sampling", "saving" or "requantizing".
    public var phase: String
    /// Units done (batches, prompts, modules); 0 before the first.
    public var done: Int
    /// Units in the phase; 0 when not known.
    public var total: Int
    /// Seconds since the phase began, when this was published.
    public var seconds: Double

    /// A phase `done` of `total` units in, `seconds` after it began.
    public init(phase: String, done: Int, total: Int, seconds: Double) {
        self.phase = phase
        self.done = done
        self.total = total
        self.seconds = seconds
    }
}

/// An immutable picture of the run, published after every step, eval, sample and command. Reading the latest is O(1).
public struct Snapshot: Sendable {
    /// Increases with every publication; the UI redraws only when it changes.
    public var version: UInt64 = 0
    /// Where the engine is.
    public var status: EngineStatus = .starting
    /// Optimizer steps completed.
    public var step: Int = 0
    /// Planned optimizer steps.
    public var totalSteps: Int = 0
    /// Fractional epoch reached.
    public var epoch: Double = 0
    /// Current settings.
    public var settings = TrainingSettings()
    /// Training loss per step.
    public var trainLoss: [LossPoint] = []
    /// Eval loss per evaluation.
    public var evalLoss: [LossPoint] = []
    /// Learning rate per step.
    public var learningRates: [LossPoint] = []
    /// The last step's record.
    public var lastStep: StepRecord?
    /// The last evaluation.
    public var lastEval: EvalRecord?
    /// Tokens per second over the recent steps.
    public var tokensPerSecond: Double = 0
    /// Seconds per step over the recent steps.
    public var secondsPerStep: Double = 0
    /// Seconds spent stepping since the start (pauses excluded).
    public var elapsed: Double = 0
    /// Estimated seconds to the planned end, when known.
    public var eta: Double?
    /// Applied changes, oldest first.
    public var changes: [ChangeEvent] = []
    /// Commands sent but not yet applied, oldest first.
    public var pending: [Command] = []
    /// The latest samples.
    public var samples: [SampleRecord] = []
    /// Previous runs kept for comparison.
    public var ghosts: [GhostRun] = []
    /// The last checkpoint written.
    public var lastCheckpoint: String?
    /// Recent messages for the status line (newest last).
    public var messages: [String] = []
    /// Trainable adapter parameters.
    public var trainableParameters: Int = 0
    /// Parameters of the frozen base.
    public var baseParameters: Int = 0
    /// Whether there is progress since the last checkpoint.
    public var unsavedProgress: Bool = false
    /// Memory by component and the measured resident set (after the latest step).
    public var memory: MemoryReport?
    /// How many engine events (sequence numbers 1…n) this snapshot reflects; see `TrainingEngine.observe(sequenced:)`.
    public var eventSequence: UInt64 = 0
    /// The last (up to 20) steps that tokens/s and s/step are averaged over.
    public var recentSteps: [StepRecord] = []
    /// The latest update inspection (computed on request, or every `--inspect-every` steps); nil before the first.
    public var inspection: UpdateInspection?
    /// The long phase under way (eval, sampling, saving, re-quantizing) and how far it has got; nil between phases.
    public var progress: PhaseProgress?

    /// An empty snapshot (version 0, starting).
    public init() {}

    /// Sets the recent steps and what they give: seconds per step and tokens per second over them, and the ETA from
    /// `step` and `totalSteps` (set those first). The engine and every viewer's mirror compute these the same way.
    public mutating func setRecentSteps(_ recent: [StepRecord]) {
        let secs = recent.reduce(0) { $0 + $1.seconds }
        let toks = recent.reduce(0) { $0 + $1.tokens }
        recentSteps = recent
        secondsPerStep = recent.isEmpty ? 0 : secs / Double(recent.count)
        tokensPerSecond = secs > 0 ? Double(toks) / secs : 0
        eta = recent.isEmpty ? nil : Double(max(0, totalSteps - step)) * secondsPerStep
    }
}
