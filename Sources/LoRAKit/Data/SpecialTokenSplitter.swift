/// Finds special tokens written in text (control and user-defined tokens, tokenizer.json's added tokens), longest first
/// at each position, so the text between them can be tokenized on its own.
struct SpecialTokenSplitter: Sendable {
    private let byFirstByte: [UInt8: [(bytes: [UInt8], id: Int32)]]  // longest first

    /// A splitter for the tokens whose flag is set.
    init(tokens: [String], isSpecial: [Bool]) {
        var byFirst = [UInt8: [(bytes: [UInt8], id: Int32)]]()
        for (i, t) in tokens.enumerated() where i < isSpecial.count && isSpecial[i] && !t.isEmpty {
            let b = Array(t.utf8)
            byFirst[b[0], default: []].append((b, Int32(i)))
        }
        for k in byFirst.keys { byFirst[k]?.sort { $0.bytes.count > $1.bytes.count } }
        byFirstByte = byFirst
    }

    /// One piece of the text: ordinary bytes, or a special token.
    enum Segment {
        case text(Range<Int>)
        case special(Int32)
    }

    /// The text's segments in order (ordinary ranges are never empty).
    func split(_ utf8: [UInt8]) -> [Segment] {
        var out = [Segment]()
        var start = 0, i = 0
        let n = utf8.count
        while i < n {
            if let candidates = byFirstByte[utf8[i]], let hit = Self.match(utf8, at: i, candidates) {
                if start < i { out.append(.text(start..<i)) }
                out.append(.special(hit.id))
                i += hit.length
                start = i
            } else {
                i += 1
            }
        }
        if start < n { out.append(.text(start..<n)) }
        return out
    }

    private static func match(_ b: [UInt8], at i: Int, _ candidates: [(bytes: [UInt8], id: Int32)]) -> (id: Int32, length: Int)? {
        for c in candidates where i + c.bytes.count <= b.count {
            var same = true
            for k in 1..<c.bytes.count where b[i + k] != c.bytes[k] {
                same = false
                break
            }
            if same { return (c.id, c.bytes.count) }
        }
        return nil
    }
}
