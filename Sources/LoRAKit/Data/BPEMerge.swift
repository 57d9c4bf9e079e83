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
///
/// A long word is merged in pieces that fit the cache (a megabyte-long word's million candidates miss it on every
/// heap level and every symbol), cut where no merge can cross, which is checked rather than assumed: merging the
/// pieces alone gives the whole word's tokens exactly when no symbol that ever ends one piece has a rule with any that
/// ever starts the next (then no candidate ever spans the cut, and the whole word's merges are the pieces' merges
/// interleaved by rank). A cut that fails the check is dropped and the pieces around it merged as one.
enum BPEMerge {
    /// Words of at least twice this many symbols are merged in pieces of about this size.
    static let pieceSymbols = 4096

    /// Merges `symbols` by the rules of `table`; `pieces: false` merges a long word whole (tests compare the two).
    static func merge(_ symbols: [Int32], table: MergeTable, pieces: Bool = true) -> [Int32] {
        guard symbols.count > 1 else { return symbols }
        if pieces && symbols.count >= 2 * pieceSymbols { return mergeInPieces(symbols, table: table).tokens }
        return symbols.withUnsafeBufferPointer { run($0, table: table, history: nil) }
    }

    /// The symbols that held a piece's first and last places over its merging (first and last in time order).
    struct Ends {
        var first: [Int32] = []
        var last: [Int32] = []
    }

    /// A long word in pieces: cuts near every `pieceSymbols` where the two symbols have no rule, each piece merged
    /// alone, then every cut checked against both pieces' ends; failed cuts are dropped and their pieces merged again
    /// as one, until every cut holds (at worst one piece: the whole word). Returns the tokens and the pieces that held.
    static func mergeInPieces(_ symbols: [Int32], table: MergeTable) -> (tokens: [Int32], pieces: Int) {
        let n = symbols.count
        var cuts = [0]
        var c = pieceSymbols
        while c < n - pieceSymbols / 2 {
            var at = c
            let end = min(n - 1, c + pieceSymbols / 2)
            while at < end && table.rule(symbols[at - 1], symbols[at]) != nil { at += 1 }
            if at < end { cuts.append(at) }
            c = max(at, c) + pieceSymbols
        }
        cuts.append(n)
        // piece k is symbols[cuts[k]..<cuts[k + 1]]; nil results are merged (again) in the next round
        var results = [(tokens: [Int32], ends: Ends)?](repeating: nil, count: cuts.count - 1)
        var merged = 0
        return symbols.withUnsafeBufferPointer { all in
            while true {
                for k in results.indices where results[k] == nil {
                    let piece = UnsafeBufferPointer(rebasing: all[cuts[k]..<cuts[k + 1]])
                    var ends = Ends()
                    let tokens = run(piece, table: table, history: &ends)
                    results[k] = (tokens, ends)
                    merged += piece.count
                }
                var holds = [Bool](repeating: true, count: results.count - 1)
                var failed = false
                for k in holds.indices {
                    guard let left = results[k]?.ends.last, let right = results[k + 1]?.ends.first else { continue }
                    if left.contains(where: { x in right.contains { table.rule(x, $0) != nil } }) {
                        holds[k] = false
                        failed = true
                    }
                }
                if !failed { return (results.flatMap { $0?.tokens ?? [] }, results.count) }
                // past four times the word in re-merged pieces, merge it whole (pieces could otherwise grow one cut at
                // a time)
                if merged > 4 * n { return (run(all, table: table, history: nil), 1) }
                var newCuts = [cuts[0]]
                var newResults: [(tokens: [Int32], ends: Ends)?] = [results[0]]
                for k in holds.indices {
                    if holds[k] {
                        newCuts.append(cuts[k + 1])
                        newResults.append(results[k + 1])
                    } else {
                        newResults[newResults.count - 1] = nil
                    }
                }
                newCuts.append(n)
                cuts = newCuts
                results = newResults
            }
        }
    }

    /// The loop. A candidate is rank << 32 | left position: comparing keys orders by rank, then left to right. A
    /// popped candidate is stale when the pair now at its position has another rank (ranks are unique per pair). At
    /// most n − 1 start and each of the ≤ n − 1 merges adds two: a heap of 3n never fills. With `history`, records the
    /// symbols that hold the first and the last place.
    private static func run(_ symbols: UnsafeBufferPointer<Int32>, table: MergeTable,
                            history: UnsafeMutablePointer<Ends>?) -> [Int32] {
        let rule = table.rule
        let n = symbols.count
        guard n > 1 else {
            history?.pointee = Ends(first: Array(symbols), last: Array(symbols))
            return Array(symbols)
        }
        // symbol, next and previous side by side: a merge touches all three of a position, one cache line
        var links = [Link](unsafeUninitializedCapacity: n) { buf, count in
            for i in 0..<n { buf[i] = Link(sym: symbols[i], next: Int32(i + 1 < n ? i + 1 : -1), prev: Int32(i - 1)) }
            count = n
        }
        history?.pointee = Ends(first: [symbols[0]], last: [symbols[n - 1]])
        var heap = Heap(capacity: 3 * n)
        defer { heap.deallocate() }
        for i in 0..<(n - 1) {
            if let r = rule(symbols[i], symbols[i + 1]) { heap.append(UInt64(UInt32(bitPattern: r.rank)) << 32 | UInt64(i)) }
        }
        heap.heapify()
        while let top = heap.pop() {
            let i = Int(top & 0xFFFF_FFFF), rank = Int32(truncatingIfNeeded: top >> 32)
            let j = Int(links[i].next)
            // a merged-away symbol has no successor recorded as its own (its `next` was cut to -2)
            guard j >= 0, let r = rule(links[i].sym, links[j].sym), r.rank == rank else { continue }
            let merged = r.merged
            links[i].sym = merged
            let k = Int(links[j].next)
            links[j].next = -2
            links[i].next = Int32(k)
            if k >= 0 { links[k].prev = Int32(i) }
            let p = Int(links[i].prev)
            if let h = history {
                if i == 0 { h.pointee.first.append(merged) }
                if k < 0 { h.pointee.last.append(merged) }
            }
            if p >= 0, let m = rule(links[p].sym, merged) { heap.push(UInt64(UInt32(bitPattern: m.rank)) << 32 | UInt64(p)) }
            if k >= 0, let m = rule(merged, links[k].sym) { heap.push(UInt64(UInt32(bitPattern: m.rank)) << 32 | UInt64(i)) }
        }
        var out = [Int32]()
        out.reserveCapacity(n)
        var i = 0
        while i >= 0 {
            out.append(links[i].sym)
            i = Int(links[i].next)
        }
        return out
    }

    /// One symbol of the word being merged, in the doubly linked list of those still standing.
    private struct Link {
        var sym: Int32
        var next: Int32
        var prev: Int32
    }
}
