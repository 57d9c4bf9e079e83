/// One training batch of B sequences of T tokens.
///
/// `targets[b*T + t]` is the token the model should predict at position t (the next token), or
/// `Batch.ignore` where the position is masked: it costs nothing in the loss and gets no gradient.
public struct Batch: Sendable, Equatable {
    /// Target value for a masked position.
    public static let ignore: Int32 = -1
    /// Sequences B.
    public let batch: Int
    /// Positions per sequence T.
    public let seqLen: Int
    /// Input token ids, (B, T) row-major.
    public var inputs: [Int32]
    /// Next-token targets, (B, T) row-major; `Batch.ignore` where masked.
    public var targets: [Int32]

    /// A batch from inputs and targets of B·T entries each.
    public init(batch: Int, seqLen: Int, inputs: [Int32], targets: [Int32]) {
        precondition(inputs.count == batch * seqLen && targets.count == batch * seqLen,
                     "Batch: inputs and targets must hold B·T = \(batch * seqLen) ids")
        self.batch = batch
        self.seqLen = seqLen
        self.inputs = inputs
        self.targets = targets
    }

    /// Positions that count in the loss.
    public var trainedTokens: Int { targets.reduce(0) { $0 + ($1 == Batch.ignore ? 0 : 1) } }
}
