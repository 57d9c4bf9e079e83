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

extension Batch {
    /// `batch` sequences of `seqLen` random ids below `vocab` from `rng`, each target the next id, the first `masked`
    /// targets of each sequence ignored (as a prompt's are): the work `bench` and `estimate --speed` time.
    public static func random(batch: Int, seqLen: Int, vocab: Int, masked: Int = 0, rng: inout SeededRNG) -> Batch {
        let ids = (0..<(batch * (seqLen + 1))).map { _ in Int32(truncatingIfNeeded: rng.next() % UInt64(max(1, vocab))) }
        var inputs: [Int32] = [], targets: [Int32] = []
        for b in 0..<batch {
            let s = b * (seqLen + 1)
            inputs += ids[s..<(s + seqLen)]
            targets += [Int32](repeating: Batch.ignore, count: masked) + ids[(s + 1 + masked)...(s + seqLen)]
        }
        return Batch(batch: batch, seqLen: seqLen, inputs: inputs, targets: targets)
    }
}
