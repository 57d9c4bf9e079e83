/// How text is cut into words before byte-pair merging.
public enum PreTokenizerKind: String, Sendable, Codable, CaseIterable {
    /// GPT-2's split, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    /// (tokenizers' `ByteLevel` with `use_regex`; llama.cpp `gpt2`).
    case gpt2
    /// Every number character on its own first, then the GPT-2 split on what lies between
    /// (tokenizers' `Sequence[Digits(individual_digits), ByteLevel]`; llama.cpp `smollm`, `starcoder`).
    case smollm

    /// The kind named by GGUF `tokenizer.ggml.pre`.
    public init(ggufName: String) throws {
        switch ggufName {
        case "gpt2", "default", "": self = .gpt2
        case "smollm", "starcoder", "refact", "codeshell": self = .smollm
        default:
            throw TokenizerError(source: "tokenizer.ggml.pre", message: "unsupported pre-tokenizer (expected gpt2 or smollm, found \"\(ggufName)\")",
                                 hint: "loratop implements the GPT-2 byte-level split and its individual-digits variant")
        }
    }
}

/// Character classes the GPT-2 pattern distinguishes.
enum CharClass: UInt8 {
    case letter, number, space, other
}

/// Cuts text into words by the pattern of a `PreTokenizerKind`, by hand over Unicode scalars.
struct PreTokenizer: Sendable {
    let kind: PreTokenizerKind

    @inline(__always) static func classify(_ s: Unicode.Scalar) -> CharClass {
        let v = s.value
        if v < 128 {
            return asciiClass[Int(v)]
        }
        if s.properties.isWhitespace { return .space }
        switch s.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return .letter
        case .decimalNumber, .letterNumber, .otherNumber: return .number
        default: return .other
        }
    }

    private static let asciiClass: [CharClass] = (0..<128).map { v -> CharClass in
        switch v {
        case 0x41...0x5A, 0x61...0x7A: return .letter
        case 0x30...0x39: return .number
        case 0x09...0x0D, 0x20: return .space
        default: return .other
        }
    }

    /// Word ranges (in scalar indices) of `scalars`, in order, covering it completely.
    func split(_ scalars: [Unicode.Scalar]) -> [Range<Int>] {
        let classes = scalars.map(Self.classify)
        var out = [Range<Int>]()
        out.reserveCapacity(scalars.count / 3 + 1)
        switch kind {
        case .gpt2:
            Self.gpt2Split(scalars, classes, 0..<scalars.count, into: &out)
        case .smollm:
            var start = 0
            for i in 0..<scalars.count where classes[i] == .number {
                if start < i { Self.gpt2Split(scalars, classes, start..<i, into: &out) }
                out.append(i..<(i + 1))
                start = i + 1
            }
            if start < scalars.count { Self.gpt2Split(scalars, classes, start..<scalars.count, into: &out) }
        }
        return out
    }

    /// The GPT-2 pattern over `range`, which behaves as a whole string (the lookahead sees its end).
    static func gpt2Split(_ s: [Unicode.Scalar], _ c: [CharClass], _ range: Range<Int>, into out: inout [Range<Int>]) {
        let end = range.upperBound
        var i = range.lowerBound
        while i < end {
            let m = matchAt(s, c, i, end)
            out.append(i..<m)
            i = m
        }
    }

    /// End of the match starting at `i` (always > i).
    @inline(__always)
    static func matchAt(_ s: [Unicode.Scalar], _ c: [CharClass], _ i: Int, _ end: Int) -> Int {
        // 's|'t|'re|'ve|'m|'ll|'d
        if s[i] == "'" && i + 1 < end {
            switch s[i + 1] {
            case "s", "t", "m", "d": return i + 2
            case "r": if i + 2 < end && s[i + 2] == "e" { return i + 3 }
            case "v": if i + 2 < end && s[i + 2] == "e" { return i + 3 }
            case "l": if i + 2 < end && s[i + 2] == "l" { return i + 3 }
            default: break
            }
        }
        // ' ?X+' for X in letter, number, other: an optional ASCII space then a run of one class.
        var j = i
        if s[i] == " " && i + 1 < end && c[i + 1] != .space { j = i + 1 }
        let cls = c[j]
        if cls != .space {
            var k = j + 1
            while k < end && c[k] == cls { k += 1 }
            return k
        }
        // \s+(?!\S) then \s+: a whitespace run; if a non-space follows, leave its last character to the next word.
        var k = i + 1
        while k < end && c[k] == .space { k += 1 }
        if k == end || k - i == 1 { return k }
        return k - 1
    }
}
