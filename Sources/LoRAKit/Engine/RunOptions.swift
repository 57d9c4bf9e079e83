/// Everything that defines a training run: the base, the data, the adapter, the optimizer and the bookkeeping.
/// The command line and the YAML run file both fill this in; a checkpoint stores it.
public struct RunOptions: Codable, Sendable, Equatable {
    /// Base model: a sample name (`smollm2`), a GGUF file, a Hugging Face folder, or `preset:NAME` (random weights of a
    /// preset shape with the byte-level tokenizer, for tests and benchmarks).
    public var model: String = "smollm2"
    /// Training data (.txt or .jsonl).
    public var data: String = ""
    /// Separate eval data; when nil, `valSetSize` of the training data is held out.
    public var evalData: String?
    /// Fraction held out for evaluation when there is no eval file (0 = no eval).
    public var valSetSize: Double = 0.05
    /// Adapter settings.
    public var lora = LoRAConfig()
    /// Storage of the frozen base.
    public var quant: QuantKind = .none
    /// Double quantization of the block scales.
    public var doubleQuant = false
    /// Quantization block size.
    public var blockSize = 64
    /// Recompute block activations in backward.
    public var checkpointing = false
    /// Precision of the base's products (the command line's default is auto: bf16 where the CPU has native bf16).
    /// nil means fp32: checkpoints written before it existed decode to it and continue as they ran.
    public var compute: ComputePrecision?
    /// AdamW, schedule and clipping (the schedule's total is set from the planned steps).
    public var optimizer = OptimizerConfig()
    /// Sequences per micro-batch.
    public var batchSize = 4
    /// Micro-batches per optimizer step.
    public var gradAccum = 1
    /// Tokens per sequence.
    public var seqLen = 128
    /// Optimizer steps to run; nil = from `epochs`.
    public var maxSteps: Int?
    /// Passes over the data when `maxSteps` is nil.
    public var epochs: Double = 1
    /// Evaluate every N steps (0 = at the end only).
    public var evalEvery = 0
    /// Save every N steps (0 = at the end only).
    public var saveEvery = 0
    /// Generate samples every N steps (0 = on request).
    public var sampleEvery = 0
    /// Compute the update inspection every N steps (nil or 0 = only when a viewer's Inside panel asks). Optional so
    /// checkpoints written before it existed still decode.
    public var inspectEvery: Int?
    /// Checkpoints to keep.
    public var keep = 3
    /// Seed of adapter init, dropout and data order.
    public var seed: UInt64 = 0
    /// Compute threads (OpenBLAS and loops).
    public var threads = 2
    /// Folder for checkpoints.
    public var output = "runs/latest"
    /// At most this many eval examples count in the eval loss.
    public var evalLimit = 32
    /// At most this many eval examples are answered for exact match (0 = off).
    public var exactMatchLimit = 8
    /// Samples shown (base vs adapted).
    public var sampleCount = 2
    /// Longest generated answer for samples and exact match.
    public var sampleTokens = 24

    /// Defaults.
    public init() {}

    /// Checks ranges; the message names the flag.
    public func validate() throws {
        func fail(_ flag: String, _ message: String) -> RunOptionsError { RunOptionsError(flag: flag, message: message) }
        try lora.validate()
        if data.isEmpty { throw fail("--data", "a training data file is required (.txt or .jsonl)") }
        if batchSize < 1 || batchSize > 4096 { throw fail("--batch-size", "expected 1…4096, found \(batchSize)") }
        if gradAccum < 1 || gradAccum > 4096 { throw fail("--grad-accum", "expected 1…4096, found \(gradAccum)") }
        if seqLen < 2 || seqLen > 1 << 16 { throw fail("--seq-len", "expected 2…65536, found \(seqLen)") }
        if let m = maxSteps, m < 1 { throw fail("--max-steps", "expected at least 1, found \(m)") }
        if !(epochs > 0) || !epochs.isFinite { throw fail("--epochs", "expected a positive number, found \(epochs)") }
        if !(valSetSize >= 0 && valSetSize < 1) { throw fail("--val-set-size", "expected 0 ≤ x < 1, found \(valSetSize)") }
        if threads < 1 || threads > 256 { throw fail("--threads", "expected 1…256, found \(threads)") }
        if keep < 1 { throw fail("--keep", "expected at least 1, found \(keep)") }
        if !(optimizer.learningRate > 0 && optimizer.learningRate < 10) {
            throw fail("--lr", "expected 0 < lr < 10, found \(optimizer.learningRate)")
        }
        if quant.isBlockwise, !QuantKind.validBlockSizes.contains(blockSize) {
            throw fail("--block-size", "expected one of \(QuantKind.validBlockSizes.map(String.init).joined(separator: ", ")), found \(blockSize)")
        }
    }
}

/// A run setting that is out of range.
public struct RunOptionsError: Error, CustomStringConvertible, Sendable {
    /// The flag (or run-file key) at fault.
    public let flag: String
    /// What was expected and found.
    public let message: String
    public var description: String { "\(flag): \(message)" }
}

extension LoRAConfig {
    /// PEFT's defaults: r 8, alpha 16, no dropout, all seven targets, alpha/r scaling.
    public init() {}
}
