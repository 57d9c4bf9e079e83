/// Where a loader stands: the epoch and the index into that epoch's shuffled order.
/// Saving it with a checkpoint and restoring it gives the exact batches an uninterrupted run would.
public struct DataPosition: Codable, Sendable, Equatable {
    /// Completed passes over the data.
    public var epoch: Int
    /// Next example within the epoch's order.
    public var index: Int

    /// A position.
    public init(epoch: Int = 0, index: Int = 0) {
        self.epoch = epoch
        self.index = index
    }
}

/// Cuts examples into `Batch`es of B rows of T positions: inputs are ids[0..<T], targets the next token
/// where trained and `Batch.ignore` elsewhere (padding included). Epoch orders are seeded shuffles.
public struct BatchLoader: Sendable {
    /// Examples to draw from.
    public let examples: [TokenizedExample]
    /// Rows per batch B.
    public let batchSize: Int
    /// Positions per row T.
    public let seqLen: Int
    /// Input id at padded positions.
    public let padID: Int32
    /// Seed of the per-epoch shuffles.
    public let seed: UInt64
    /// Whether epochs are shuffled (false: file order, for evaluation).
    public let shuffle: Bool
    /// The next example to draw.
    public private(set) var position: DataPosition

    private var order: [Int]

    /// A loader that resumes at `position`.
    public init(examples: [TokenizedExample], batchSize: Int, seqLen: Int, padID: Int32, seed: UInt64,
                shuffle: Bool = true, position: DataPosition = DataPosition()) {
        precondition(batchSize > 0 && seqLen > 0, "BatchLoader: batch size and sequence length must be positive")
        self.examples = examples
        self.batchSize = batchSize
        self.seqLen = seqLen
        self.padID = padID
        self.seed = seed
        self.shuffle = shuffle
        self.position = position
        self.order = []
        self.order = epochOrder(position.epoch)
    }

    /// Batches in one pass over the data (the last may wrap into the next epoch).
    public var batchesPerEpoch: Int { (examples.count + batchSize - 1) / batchSize }

    /// The example order of `epoch`: a seeded shuffle, or file order.
    public func epochOrder(_ epoch: Int) -> [Int] {
        guard shuffle else { return Array(examples.indices) }
        var rng = SeededRNG(seed: seed &+ 0x9E37_79B9_7F4A_7C15 &* UInt64(truncatingIfNeeded: epoch + 1))
        return Self.permutation(examples.count, rng: &rng)
    }

    /// A Fisher–Yates shuffle of 0..<n that depends only on the generator's state.
    static func permutation(_ n: Int, rng: inout SeededRNG) -> [Int] {
        var p = Array(0..<n)
        if n < 2 { return p }
        for i in stride(from: n - 1, to: 0, by: -1) {
            let j = Int(UInt64(i + 1).multipliedFullWidth(by: rng.next()).high)
            p.swapAt(i, j)
        }
        return p
    }

    /// The next batch; always B full rows (an epoch's end continues into the next epoch). Nil only with no examples.
    public mutating func next() -> Batch? {
        guard !examples.isEmpty else { return nil }
        var rows = [TokenizedExample]()
        rows.reserveCapacity(batchSize)
        while rows.count < batchSize {
            if position.index >= order.count {
                position = DataPosition(epoch: position.epoch + 1, index: 0)
                order = epochOrder(position.epoch)
            }
            rows.append(examples[order[position.index]])
            position.index += 1
        }
        return Self.batch(rows, batchSize: batchSize, seqLen: seqLen, padID: padID)
    }

    /// Every example once in file order, the last batch padded with fully masked rows (for evaluation).
    public static func sequentialBatches(_ examples: [TokenizedExample], batchSize: Int, seqLen: Int, padID: Int32) -> [Batch] {
        stride(from: 0, to: examples.count, by: batchSize).map { start in
            batch(Array(examples[start..<min(start + batchSize, examples.count)]), batchSize: batchSize, seqLen: seqLen, padID: padID)
        }
    }

    /// Rows → (B, T) inputs and shifted targets.
    public static func batch(_ rows: [TokenizedExample], batchSize: Int, seqLen: Int, padID: Int32) -> Batch {
        let T = seqLen
        var inputs = [Int32](repeating: padID, count: batchSize * T)        // (B, T)
        var targets = [Int32](repeating: Batch.ignore, count: batchSize * T) // (B, T)
        for (b, ex) in rows.prefix(batchSize).enumerated() {
            let n = min(T, ex.ids.count - 1)  // positions with a next token
            for t in 0..<max(n, 0) {
                inputs[b * T + t] = ex.ids[t]
                targets[b * T + t] = ex.trained[t + 1] ? ex.ids[t + 1] : Batch.ignore
            }
            // A one-token example still shows its token as input, with nothing to predict.
            if n <= 0, let first = ex.ids.first { inputs[b * T] = first }
        }
        return Batch(batch: batchSize, seqLen: T, inputs: inputs, targets: targets)
    }
}
