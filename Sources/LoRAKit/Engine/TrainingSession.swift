/// The work the engine drives: a model with adapters, an optimizer and data. The engine calls it only from
/// its own serial queue, so implementations need no locking of their own.
public protocol TrainingSession: AnyObject {
    /// Current settings.
    var settings: TrainingSettings { get }
    /// Optimizer steps completed.
    var step: Int { get }
    /// Planned optimizer steps.
    var totalSteps: Int { get }
    /// Fractional epoch reached.
    var epoch: Double { get }
    /// Trainable adapter parameters.
    var trainableParameters: Int { get }
    /// Parameters of the frozen base.
    var baseParameters: Int { get }
    /// Runs one optimizer step (all micro-batches) and says what it did.
    func trainStep() throws -> StepRecord
    /// Evaluates on the held-out data; nil when there is none.
    func evaluate() throws -> EvalRecord?
    /// Generates samples (base vs adapted) for a few eval prompts; empty when there are none.
    func sample() throws -> [SampleRecord]
    /// Applies a setting change (rank, alpha, lr, dropout, quant) and describes it.
    func apply(_ command: Command) throws -> ChangeEvent
    /// Writes a checkpoint of everything needed to resume exactly; returns its folder.
    func saveCheckpoint(history: TrainingHistory) throws -> String
    /// Starts over from the same base and data with the current settings (fresh adapters and optimizer).
    func restart() throws
    /// Memory by component next to the measured resident set (nil when the session cannot tell).
    func memoryReport() -> MemoryReport?
    /// The adapter's update explained (sizes, spectra, effective ranks, gradients, quantization errors, rank advice),
    /// computed now from the small factors; nil when the session cannot tell.
    func inspect() throws -> UpdateInspection?
    /// Where the session reports progress inside a long call (evaluate, sample, a re-quantizing apply): `(done, total)`
    /// in that call's units, on the engine's queue. The engine sets it before its loop starts.
    func reportProgress(to handler: @escaping (_ done: Int, _ total: Int) -> Void)
}

extension TrainingSession {
    /// No memory accounting by default.
    public func memoryReport() -> MemoryReport? { nil }
    /// No inspection by default.
    public func inspect() throws -> UpdateInspection? { nil }
    /// No progress inside calls by default (the phase still shows, with its time).
    public func reportProgress(to handler: @escaping (_ done: Int, _ total: Int) -> Void) {}
}

/// The curves and events a checkpoint keeps so a resumed run shows its whole history.
public struct TrainingHistory: Codable, Sendable, Equatable {
    /// Training loss per step.
    public var trainLoss: [LossPoint] = []
    /// Eval loss per evaluation.
    public var evalLoss: [LossPoint] = []
    /// Learning rate per step.
    public var learningRates: [LossPoint] = []
    /// Applied changes.
    public var changes: [ChangeEvent] = []
    /// Seconds spent stepping.
    public var elapsed: Double = 0

    /// An empty history.
    public init() {}
}
