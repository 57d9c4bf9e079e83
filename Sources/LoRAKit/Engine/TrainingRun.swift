import Dispatch
import Foundation

/// The real training session the engine drives: a base model (from a file, quantized as asked), a tokenizer and
/// datasets, a `Trainer`, evaluation with exact match, base-vs-adapted samples, checkpoints and live setting changes.
public final class TrainingRun: TrainingSession, @unchecked Sendable {
    /// The options the run was started with (settings changed live are in `settings`).
    public let options: RunOptions
    /// The model being adapted.
    public let model: LlamaModel
    /// Tokenizer and chat template.
    public let tokens: ModelTokenizer
    /// Where the base came from (a path, or `preset:NAME`).
    public let modelPath: String
    /// Training examples and eval examples.
    public let train: Dataset
    /// Held-out examples (may be empty).
    public let eval: Dataset
    /// Prompts with reference answers for exact match and samples.
    public let evalQuestions: [EvalExample]
    /// The trainer (replaced on restart).
    public private(set) var trainer: Trainer
    private var loader: BatchLoader
    private let evalBatches: [Batch]
    /// The frozen source matrix of every adapted projection, for re-quantizing from the original weights.
    private let sourceMatrices: [String: FrozenMatrix]
    private let source: WeightSource?
    private var quant: QuantKind
    private var doubleQuant: Bool
    /// The storage the embedding and LM head were built for (a live re-quantize leaves them as they are).
    private let embeddingStorage: QuantKind
    private var baseAnswers: [Int: String] = [:]
    /// Keeps base norms and quantization errors between inspections.
    private let inspector = UpdateInspector()
    /// Where progress inside evaluate, sample and a re-quantization goes (the engine sets it).
    private var progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
    /// Planned optimizer steps.
    public let totalSteps: Int
    /// The precision the base's products run in, and why it is not what was asked (when it is not).
    public let compute: Compute.Choice

    /// What a checkpoint stores besides the trainer.
    public struct State: Codable, Sendable, Equatable {
        /// The data position.
        public var position: DataPosition
        /// The options (with live changes folded in).
        public var options: RunOptions
        /// The storage the embedding and LM head were built for: the quantization the run started with, which a live
        /// re-quantize does not change (nil in checkpoints written before it was stored: then `options.quant`).
        public var embeddingStorage: QuantKind?
        /// The precision the base's products ran in (fp32 or bf16; nil in checkpoints written before it was stored).
        public var compute: ComputePrecision?
    }

    /// Loads the base, tokenizer and data and prepares the trainer; resumes from a checkpoint folder when given.
    ///
    /// When resuming, `options` are the run's settings: start from `storedOptions(resume:)` for an exact continuation.
    /// Where they differ from the checkpoint's adapter or optimizer (flags given with `--resume`), they are applied to
    /// the restored state as a live change would be.
    public init(options: RunOptions, resume: String? = nil) throws {
        try options.validate()
        let rssAtStart = ProcessMemory.current()?.residentBytes ?? 0
        var options = options
        Parallel.setThreads(options.threads)
        compute = Compute.select(options.compute ?? .fp32)  // nil: a checkpoint from before bf16 existed, which ran in fp32
        // the data files first: a typo there is reported before the model takes seconds to load
        try DatasetFile.checkReadable(options.data)
        if let e = options.evalData { try DatasetFile.checkReadable(e) }
        let resumed = try resume.map { try Checkpoint.load(try Checkpoint.resolve($0), as: State.self) }
        embeddingStorage = resumed?.1.session.embeddingStorage ?? options.quant
        let built = try TrainingRun.buildModel(options, embeddings: embeddingStorage)
        model = built.model
        tokens = built.tokens
        source = built.source
        sourceMatrices = built.sources
        modelPath = built.path
        quant = options.quant
        doubleQuant = options.doubleQuant

        let rssBeforeData = ProcessMemory.current()?.residentBytes ?? 0
        let maxLength = options.seqLen + 1
        let trainFile = try DatasetFile(url: URL(fileURLWithPath: options.data))
        let all = try Dataset.load(trainFile, tokenizer: tokens.tokenizer, template: tokens.template, maxLength: maxLength)
        var questions: [EvalExample] = []
        if let e = options.evalData {
            let evalFile = try DatasetFile(url: URL(fileURLWithPath: e))
            train = all
            eval = try Dataset.load(evalFile, tokenizer: tokens.tokenizer, template: tokens.template, maxLength: maxLength)
            questions = (try? EvalExample.extract(from: evalFile)) ?? []
        } else if options.valSetSize > 0 && all.examples.count >= 2 {
            (train, eval) = all.split(evalFraction: options.valSetSize, seed: options.seed)
            // the held-out records are the questions for samples and exact match, as an --eval-data file's would be
            let heldOut = Set(eval.lines)
            questions = ((try? EvalExample.extract(from: trainFile)) ?? []).filter { heldOut.contains($0.line) }
        } else {
            train = all
            eval = Dataset(format: all.format, examples: [], stats: DatasetStats())
        }
        evalQuestions = questions
        let rssAfterData = ProcessMemory.current()?.residentBytes ?? 0
        loadCosts = [
            MemoryComponent("runtime + libraries (measured)", bytes: rssAtStart, kind: .other),
            MemoryComponent("tokenizer (measured)", bytes: built.tokenizerBytes, kind: .other),
            MemoryComponent("datasets (measured)", bytes: max(0, rssAfterData - rssBeforeData), kind: .other),
        ]
        guard !train.examples.isEmpty else {
            throw RunOptionsError(flag: "--data", message: "\(options.data): no trainable examples after tokenizing (every example was empty or fully masked)")
        }
        for ex in train.examples + eval.examples {
            try model.checkTokens(ex.ids)
        }
        let perEpoch = max(1, (train.examples.count + options.batchSize - 1) / options.batchSize / options.gradAccum)
        totalSteps = options.maxSteps ?? max(1, Int((Double(perEpoch) * options.epochs).rounded(.up)))
        options.optimizer.schedule.totalSteps = totalSteps
        self.options = options
        evalBatches = BatchLoader.sequentialBatches(Array(eval.examples.prefix(options.evalLimit)), batchSize: options.batchSize,
                                                    seqLen: options.seqLen, padID: tokens.tokenizer.paddingID)
        trainer = try Trainer(model: model, lora: options.lora, optimizer: options.optimizer, seed: options.seed,
                              checkpointing: options.checkpointing)
        loader = BatchLoader(examples: train.examples, batchSize: options.batchSize, seqLen: options.seqLen,
                             padID: tokens.tokenizer.paddingID, seed: options.seed)
        if let r = resumed {
            let (state, meta) = r
            try TrainingRun.restore(trainer, from: state, adopting: options)
            loader = BatchLoader(examples: train.examples, batchSize: options.batchSize, seqLen: options.seqLen,
                                 padID: tokens.tokenizer.paddingID, seed: options.seed, position: meta.session.position)
            resumedHistory = meta.history
        }
    }

    /// Memory measured while loading (the process before the run, the tokenizer, the datasets): resident-set deltas.
    private var loadCosts: [MemoryComponent] = []

    /// The curves and events of the checkpoint this run resumed from.
    public private(set) var resumedHistory: TrainingHistory?

    // MARK: - Building the model

    struct Built {
        var model: LlamaModel
        var tokens: ModelTokenizer
        var source: WeightSource?
        var sources: [String: FrozenMatrix]
        var path: String
        var tokenizerBytes = 0
    }

    /// Random-weight shapes for `preset:NAME` (byte-level tokenizer, so the vocabulary is 259).
    public static func presetConfig(_ name: String) -> ModelConfig? {
        switch name {
        case "tiny": return ModelConfig(layers: 2, dim: 64, heads: 4, kvHeads: 2, ffnDim: 128, vocab: 259, ropeTheta: 10_000, maxPositions: 1024)
        case "small": return ModelConfig(layers: 4, dim: 128, heads: 4, kvHeads: 2, ffnDim: 256, vocab: 259, ropeTheta: 10_000, maxPositions: 2048)
        default:
            guard let p = ModelPreset.named(name) else { return nil }
            var c = p.config
            c.vocab = max(c.vocab, ByteTokenizer().vocabularySize)
            return c
        }
    }

    static func buildModel(_ o: RunOptions, embeddings: QuantKind? = nil) throws -> Built {
        var sources: [String: FrozenMatrix] = [:]
        func storage(_ name: String, _ m: FrozenMatrix) throws -> FrozenMatrix {
            let kind = isEmbedding(name) ? embeddings ?? o.quant : o.quant
            // File-backed sources (mapped) cost nothing to keep for re-quantizing. A random preset's fp32 matrices live
            // on the heap: in bf16 their rounded copy is the source (as a bf16 file would be), not kept beside it, and
            // every storage is made from it (so a resumed run re-quantizes from exactly what the first run did).
            let source: FrozenMatrix = Compute.bf16 && m is DenseMatrix ? BF16Matrix(m) : m
            if !isEmbedding(name) { sources[name] = source }
            return try TrainingRun.store(source, name: name, kind: kind, blockSize: o.blockSize, doubleQuant: o.doubleQuant,
                                         bf16: Compute.bf16)
        }
        if o.model.hasPrefix("preset:") {
            let name = String(o.model.dropFirst("preset:".count))
            guard let config = presetConfig(name) else {
                throw RunOptionsError(flag: "--model", message: "unknown preset `\(name)`; expected tiny, small or one of "
                                      + ModelPreset.all.map(\.name).joined(separator: ", "))
            }
            let model = try LlamaModel(random: config, seed: o.seed &+ 7919, storage: storage)
            return Built(model: model, tokens: ModelTokenizer(tokenizer: ByteTokenizer(), template: .chatML),
                         source: nil, sources: sources, path: o.model)
        }
        let path = try SampleModel.resolve(o.model)
        let src = try loadWeights(path: path)
        let rss0 = ProcessMemory.current()?.residentBytes ?? 0
        let tokens = try ModelTokenizer.load(for: src)
        let tokenizerBytes = max(0, (ProcessMemory.current()?.residentBytes ?? 0) - rss0)
        let model = try LlamaModel(source: src, storage: storage)
        // The base now lives in its own storage (fp32 copies or quantized blocks): the file's pages that were read to
        // build it need not stay resident. With `source` the file is the storage and its pages come back as used.
        if o.quant != .source { src.releaseResidentPages() }
        guard tokens.tokenizer.vocabularySize <= model.config.vocab else {
            throw RunOptionsError(flag: "--model", message: "\(path): the tokenizer has \(tokens.tokenizer.vocabularySize) tokens but the embedding only \(model.config.vocab) rows")
        }
        return Built(model: model, tokens: tokens, source: src, sources: sources, path: path, tokenizerBytes: tokenizerBytes)
    }

    /// Whether a tensor is the token embedding or the LM head (kept in the file's storage under a quantized base).
    public static func isEmbedding(_ name: String) -> Bool {
        name == "model.embed_tokens.weight" || name == "lm_head.weight"
    }

    /// The storage a source matrix is trained on. Embeddings (and an untied LM head) keep the file's storage when the
    /// base is quantized, as QLoRA keeps them out of 4 bits; with `none` everything is expanded to fp32, or to bf16 when
    /// the products run in bf16 (`bf16`: their operands are bf16 anyway, so the dense base is held at half the memory;
    /// an fp32 embedding under a quantized base too).
    public static func store(_ m: FrozenMatrix, name: String, kind: QuantKind, blockSize: Int, doubleQuant: Bool,
                             bf16: Bool = false) throws -> FrozenMatrix {
        switch kind {
        case .none:
            if bf16 { return m is BF16Matrix ? m : BF16Matrix(m) }
            return m is DenseMatrix ? m : DenseMatrix(m)
        case .source: return m
        default:
            if isEmbedding(name) { return bf16 && m is DenseMatrix ? BF16Matrix(m) : m }
            return try Quantizer.quantize(m, kind: kind, blockSize: blockSize, doubleQuant: doubleQuant, name: name)
        }
    }

    // MARK: - TrainingSession

    public var settings: TrainingSettings {
        var s = TrainingSettings()
        s.rank = trainer.lora.rank
        s.alpha = trainer.pendingAlphaValue ?? trainer.lora.alpha
        s.rsLoRA = trainer.lora.useRSLoRA
        s.dropout = trainer.pendingDropoutValue ?? trainer.lora.dropout
        s.learningRate = trainer.learningRate
        s.schedule = trainer.optimizer.schedule.kind.rawValue
        s.warmup = trainer.optimizer.schedule.warmupSteps
        s.targets = trainer.lora.targets.map(\.shortName)
        s.quantization = quantLabel
        s.batchSize = options.batchSize
        s.gradAccum = options.gradAccum
        s.seqLen = options.seqLen
        s.checkpointing = options.checkpointing
        s.compute = compute.precision.rawValue
        return s
    }

    private var quantLabel: String {
        switch quant {
        case .none: return Compute.bf16 ? "bf16" : "f32"
        case .source:
            // a mixed file (llama.cpp's Q4_K_M: Q4_K with Q5_0, Q6_K, Q8_0 where rows do not fit) names every type,
            // the one holding most weights first
            var weights: [String: Int] = [:]
            for m in sourceMatrices.values { weights[m.storageName, default: 0] += m.rows * m.cols }
            let names = weights.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.map(\.key)
            return "source (" + (names.isEmpty ? "?" : names.joined(separator: "/")) + ")"
        default: return quant.rawValue + (doubleQuant ? "+dq" : "")
        }
    }

    public var step: Int { trainer.stepCount }

    public var epoch: Double {
        let n = max(1, train.examples.count)
        return Double(loader.position.epoch) + Double(loader.position.index) / Double(n)
    }

    public var trainableParameters: Int { trainer.parameters.reduce(0) { $0 + $1.count } }

    public var baseParameters: Int { model.config.parameterCount }

    public func trainStep() throws -> StepRecord {
        var micro: [Batch] = []
        for _ in 0..<options.gradAccum {
            guard let b = loader.next() else { throw RunOptionsError(flag: "--data", message: "no training examples") }
            micro.append(b)
        }
        let s = try trainer.step(microBatches: micro)
        let inputs = micro.reduce(0) { $0 + $1.batch * $1.seqLen }
        return StepRecord(step: trainer.stepCount, loss: s.loss, learningRate: s.learningRate, gradNorm: s.gradNorm,
                          tokens: inputs, seconds: s.seconds, epoch: epoch)
    }

    public func evaluate() throws -> EvalRecord? {
        guard !evalBatches.isEmpty else { return nil }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let qs = Array(evalQuestions.prefix(options.exactMatchLimit))
        let units = evalBatches.count + qs.count
        progress(0, units)
        let loss = try trainer.evaluate(evalBatches) { [self] done in progress(done, units) }
        var em: Double?
        if !qs.isEmpty {
            let answers = try qs.enumerated().map { i, q in
                defer { progress(evalBatches.count + i + 1, units) }
                return try answer(q)
            }
            em = ExactMatch.score(generated: answers, references: qs.map(\.reference))
        }
        trainer.releaseActivations()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return EvalRecord(step: trainer.stepCount, loss: loss, exactMatch: em, seconds: seconds)
    }

    public func sample() throws -> [SampleRecord] {
        let qs = Array(evalQuestions.prefix(options.sampleCount))
        var out: [SampleRecord] = []
        // one unit per answer: the base model's (once per prompt, then kept) and the adapted one's
        let units = qs.count + qs.indices.filter { baseAnswers[$0] == nil }.count
        var done = 0
        progress(0, units)
        for (i, q) in qs.enumerated() {
            if baseAnswers[i] == nil {
                baseAnswers[i] = try answer(q, adapted: false)
                done += 1
                progress(done, units)
            }
            out.append(SampleRecord(step: trainer.stepCount, prompt: q.promptText, base: baseAnswers[i], adapted: try answer(q),
                                    reference: q.reference))
            done += 1
            progress(done, units)
        }
        return out
    }

    /// Greedy answer to an eval question, with the adapter (or without: its scale set to 0 for the call).
    func answer(_ q: EvalExample, adapted: Bool = true) throws -> String {
        let ids = q.promptIDs(template: tokens.template, tokenizer: tokens.tokenizer)
        let saved = model.adapters.map { $0.adapter.scale }
        if !adapted { for (_, a) in model.adapters { a.scale = 0 } }
        defer { if !adapted { for (i, (_, a)) in model.adapters.enumerated() { a.scale = saved[i] } } }
        let out = try Generator.generate(model: model, prompt: ids, maxTokens: options.sampleTokens, sampling: SamplingOptions(),
                                         stop: tokens.stopIDs)
        return tokens.tokenizer.decode(out, skipSpecial: true).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    public func apply(_ command: Command) throws -> ChangeEvent {
        let s = trainer.stepCount
        defer { if command.isStorageChange { ProcessMemory.returnFreedPages() } }
        switch command {
        case .setRank(let r):
            let from = trainer.lora.rank
            let err = try trainer.resize(rank: r)
            let detail = r < from ? String(format: "truncated-SVD error %.2f%%", err * 100) : "update unchanged"
            return ChangeEvent(step: s, kind: "rank", from: "\(from)", to: "\(r)", detail: detail)
        case .setAlpha(let a):
            let from = settings.alpha
            guard LiveLimits.alpha.contains(a) else {
                throw RunOptionsError(flag: "alpha", message: "expected \(LiveLimits.describe(LiveLimits.alpha)), found \(a)")
            }
            try trainer.setAlpha(a)
            let scale = LoRAConfig.scale(alpha: a, rank: trainer.lora.rank, rsLoRA: trainer.lora.useRSLoRA)
            return ChangeEvent(step: s, kind: "alpha", from: formatNumber(from), to: formatNumber(a),
                               detail: "scale \(formatNumber(scale))")
        case .setLearningRate(let lr):
            let from = trainer.learningRate
            guard LiveLimits.learningRate.contains(lr) else {
                throw RunOptionsError(flag: "lr", message: "expected \(LiveLimits.describe(LiveLimits.learningRate)), found \(lr)")
            }
            trainer.learningRate = lr
            return ChangeEvent(step: s, kind: "lr", from: formatNumber(from), to: formatNumber(lr))
        case .setDropout(let p):
            let from = settings.dropout
            try trainer.setDropout(p)
            return ChangeEvent(step: s, kind: "dropout", from: formatNumber(from), to: formatNumber(p))
        case .setQuantization(let name):
            guard let kind = QuantKind(parsing: name) else {
                throw RunOptionsError(flag: "quant", message: "unknown quantization `\(name)`")
            }
            let from = quantLabel
            try requantize(kind)
            return ChangeEvent(step: s, kind: "quant", from: from, to: quantLabel)
        default:
            throw RunOptionsError(flag: command.label, message: "not a setting change")
        }
    }

    /// Re-stores every adapted projection's base from the original source matrices (never from a lossy copy).
    func requantize(_ kind: QuantKind) throws {
        if kind == .source && source == nil {
            throw RunOptionsError(flag: "quant", message: "a random preset has no source file; choose none, int8, fp4 or nf4")
        }
        let dq = kind.isBlockwise ? (doubleQuant || options.doubleQuant || kind == .nf4) : false
        var replaced: [(LoRALinear, FrozenMatrix)] = []
        let units = model.blocks.reduce(0) { $0 + $1.projections.count }
        progress(0, units)
        for block in model.blocks {
            for (_, lin, _) in block.projections {
                defer { progress(replaced.count, units) }
                guard let src = sourceMatrices[lin.name + ".weight"] else {
                    throw RunOptionsError(flag: "quant", message: "no source weights for \(lin.name)")
                }
                replaced.append((lin, try TrainingRun.store(src, name: lin.name + ".weight", kind: kind, blockSize: options.blockSize,
                                                            doubleQuant: dq, bf16: Compute.bf16)))
            }
        }
        for (lin, m) in replaced { lin.base = m }
        if kind != .source { source?.releaseResidentPages() }
        quant = kind
        doubleQuant = dq
        trainer.releaseActivations()
    }

    public func saveCheckpoint(history: TrainingHistory) throws -> String {
        var o = options
        o.lora = trainer.lora
        o.optimizer = trainer.optimizer
        o.quant = quant
        o.doubleQuant = doubleQuant
        return try Checkpoint.save(trainer: trainer, history: history,
                                   session: State(position: loader.position, options: o, embeddingStorage: embeddingStorage,
                                                  compute: compute.precision),
                                   baseModel: modelPath, outputDir: options.output, keep: options.keep)
    }

    public func restart() throws {
        var lora = trainer.lora
        if let a = trainer.pendingAlphaValue { lora.alpha = a }
        if let p = trainer.pendingDropoutValue { lora.dropout = p }
        var opt = trainer.optimizer
        opt.learningRate = trainer.learningRate
        trainer = try Trainer(model: model, lora: lora, optimizer: opt, seed: options.seed, checkpointing: options.checkpointing)
        loader = BatchLoader(examples: train.examples, batchSize: options.batchSize, seqLen: options.seqLen,
                             padID: tokens.tokenizer.paddingID, seed: options.seed)
    }

    public func reportProgress(to handler: @escaping (_ done: Int, _ total: Int) -> Void) {
        progress = handler
    }

    public func inspect() throws -> UpdateInspection? {
        try inspector.inspect(model: model, lora: trainer.lora, step: trainer.stepCount, sources: sourceMatrices,
                              storage: quantLabel, gradientNorms: trainer.lastGradientNorms)
    }

    public func memoryReport() -> MemoryReport? {
        MemoryReport.training(model: model, trainer: trainer, sources: Array(sourceMatrices.values), other: loadCosts)
    }
}

extension EvalExample {
    /// The question as a person reads it (the last user turn, or the raw prompt).
    public var promptText: String {
        switch prompt {
        case .chat(let messages): return messages.last { $0.role == "user" }?.content ?? messages.last?.content ?? ""
        case .raw(let text): return text
        }
    }
}

extension Command {
    /// Whether applying it re-allocates the adapters or the base (rank, quantization), freeing the old ones.
    var isStorageChange: Bool {
        switch self {
        case .setRank, .setQuantization: return true
        default: return false
        }
    }
}

extension Trainer {
    /// An alpha set with `setAlpha` that applies at the next step.
    var pendingAlphaValue: Float? { pendingAlpha }
    /// A dropout set with `setDropout` that applies at the next step.
    var pendingDropoutValue: Float? { pendingDropout }
    /// Bytes of activations the training graph holds (0 before the first step).
    public var activationBytes: Int { graph?.activationBytes ?? 0 }
    /// Bytes of the per-shard LoRA gradient sums of the training graph (0 before the first step or with one shard).
    public var shardGradientBytes: Int { graph?.shardGradientBytes ?? 0 }
}
