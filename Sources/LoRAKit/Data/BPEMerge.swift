/// The merge rules of a BPE tokenizer in an open-addressing table: pair (a, b) → its rank and the id it merges into.
/// One multiply and usually one probe per lookup (a Dictionary would hash each pair with SipHash): the merge loop
/// looks pairs up about three times per symbol.
struct MergeTable: Sendable {
    private var keys: [UInt64]
    private var values: [UInt64]   // rank << 32 | merged
    private let shift: UInt64
    private static let empty = UInt64.max  // the pair (-1, -1): no token has id -1

    /// A table of `rules` (pair, rank, merged); a pair given twice keeps its first (lowest) rank.
    init(_ rules: [(a: Int32, b: Int32, rank: Int32, merged: Int32)]) {
        var bits: UInt64 = 4
        while (1 << bits) < 2 * max(rules.count, 1) { bits += 1 }
        shift = 64 - bits
        keys = [UInt64](repeating: Self.empty, count: 1 << bits)
        values = [UInt64](repeating: 0, count: 1 << bits)
        let mask = (1 << bits) - 1
        for r in rules {
            let key = Self.key(r.a, r.b)
            var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
            while keys[i] != Self.empty && keys[i] != key { i = (i + 1) & mask }
            guard keys[i] == Self.empty else { continue }
            keys[i] = key
            values[i] = UInt64(UInt32(bitPattern: r.rank)) << 32 | UInt64(UInt32(bitPattern: r.merged))
        }
    }

    @inline(__always) static func key(_ a: Int32, _ b: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))
    }

    /// The rank of merging `a` then `b` and the id it gives, or nil when they do not merge.
    @inline(__always) func rule(_ a: Int32, _ b: Int32) -> (rank: Int32, merged: Int32)? {
        let key = Self.key(a, b)
        let mask = keys.count - 1
        var i = Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> shift)
        while true {
            let k = keys[i]
            if k == key {
                let v = values[i]
                return (Int32(truncatingIfNeeded: v >> 32), Int32(truncatingIfNeeded: v))
            }
            if k == Self.empty { return nil }
            i = (i + 1) & mask
        }
    }
}

/// The merge loop of byte-pair encoding in O(n log n) for a word of n symbols, as Hugging Face tokenizers does it:
/// the symbols form a linked list and the candidate pairs a min-heap on (rank, position), so the lowest-ranked pair
/// merges first and equal ranks merge left to right. Rescanning the whole word after each merge (the textbook loop)
/// is quadratic: one megabyte of letters without a space took minutes.
enum BPEMerge {
    /// Merges `symbols` by the rules of `table`.
    static func merge(_ symbols: [Int32], table: MergeTable) -> [Int32] {
        let rule = table.rule
        let n = symbols.count
        guard n > 1 else { return symbols }
        var sym = symbols
        var next = (0..<n).map { Int32($0 + 1 < n ? $0 + 1 : -1) }
        var prev = (0..<n).map { Int32($0 - 1) }
        // A candidate is rank << 32 | left position: comparing keys orders by rank, then left to right. A popped
        // candidate is stale when the pair now at its position has another rank (ranks are unique per pair). At most
        // n − 1 start and each of the ≤ n − 1 merges adds two.
        var heap = Heap(capacity: 3 * n)
        defer { heap.deallocate() }
        for i in 0..<(n - 1) {
            if let r = rule(sym[i], sym[i + 1]) { heap.append(UInt64(UInt32(bitPattern: r.rank)) << 32 | UInt64(i)) }
        }
        heap.heapify()
        while let top = heap.pop() {
            let i = Int(top & 0xFFFF_FFFF), rank = Int32(truncatingIfNeeded: top >> 32)
            let j = Int(next[i])
            // a merged-away symbol has no successor recorded as its own (its `next` was cut to -2)
            guard j >= 0, let r = rule(sym[i], sym[j]), r.rank == rank else { continue }
            sym[i] = r.merged
            let k = Int(next[j])
            next[j] = -2
            next[i] = Int32(k)
            if k >= 0 { prev[k] = Int32(i) }
            let p = Int(prev[i])
            if p >= 0, let m = rule(sym[p], sym[i]) { heap.push(UInt64(UInt32(bitPattern: m.rank)) << 32 | UInt64(p)) }
            if k >= 0, let m = rule(sym[i], sym[k]) { heap.push(UInt64(UInt32(bitPattern: m.rank)) << 32 | UInt64(i)) }
        }
        var out = [Int32]()
        out.reserveCapacity(n)
        var i = 0
        while i >= 0 {
            out.append(sym[i])
            i = Int(next[i])
        }
        return out
    }

    /// A 4-ary min-heap of UInt64 in a buffer of fixed capacity (shallower than a binary one, and its four children
    /// share a cache line).
    struct Heap {
        private let items: UnsafeMutablePointer<UInt64>
        private let capacity: Int
        private(set) var count = 0

        init(capacity: Int) {
            self.capacity = max(capacity, 1)
            items = .allocate(capacity: self.capacity)
        }

        func deallocate() { items.deallocate() }

        /// Adds without ordering (call `heapify` before the first `pop`).
        mutating func append(_ v: UInt64) {
            precondition(count < capacity, "BPEMerge.Heap: over capacity")
            items[count] = v
            count += 1
        }

        mutating func heapify() {
            guard count > 1 else { return }
            for i in stride(from: (count - 2) / 4, through: 0, by: -1) { siftDown(i) }
        }

        mutating func push(_ v: UInt64) {
            precondition(count < capacity, "BPEMerge.Heap: over capacity")
            var i = count
            count += 1
            while i > 0 {
                let parent = (i - 1) / 4
                guard v < items[parent] else { break }
                items[i] = items[parent]
                i = parent
            }
            items[i] = v
        }

        mutating func pop() -> UInt64? {
            guard count > 0 else { return nil }
            let top = items[0]
            count -= 1
            if count > 0 {
                items[0] = items[count]
                siftDown(0)
            }
            return top
        }

        private func siftDown(_ start: Int) {
            var i = start
            let v = items[i]
            while true {
                let first = 4 * i + 1
                guard first < count else { break }
                var m = first
                var mv = items[first]
                for c in (first + 1)..<min(first + 4, count) where items[c] < mv {
                    m = c
                    mv = items[c]
                }
                guard mv < v else { break }
                items[i] = mv
                i = m
            }
            items[i] = v
        }
    }
}
