/// How text is cut into words before byte-pair merging.
public enum PreTokenizerKind: String, Sendable, Codable, CaseIterable {
    /// GPT-2's split, `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    /// (tokenizers' `ByteLevel` with `use_regex`; llama.cpp `gpt2`).
    case gpt2
    /// Every number character on its own first, then the GPT-2 split on what lies between
    /// (tokenizers' `Sequence[Digits(individual_digits), ByteLevel]`; llama.cpp `smollm`, `starcoder`).
    case smollm
    /// Llama 3's split, `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    /// (tokenizers' `Sequence[Split(that regex, Isolated), ByteLevel(use_regex: false)]`; llama.cpp `llama-bpe`).
    case llama3
    /// Qwen2's (Qwen2.5, Qwen3): Llama 3's with `\p{N}` one number at a time instead of up to three (llama.cpp `qwen2`).
    case qwen2

    /// The Split regex tokenizer.json gives for a kind, as written there.
    static let splitPatterns: [PreTokenizerKind: String] = [
        .llama3: #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
        .qwen2: #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#,
    ]

    /// The kind named by GGUF `tokenizer.ggml.pre`.
    public init(ggufName: String) throws {
        switch ggufName {
        case "gpt2", "default", "": self = .gpt2
        case "smollm", "starcoder", "refact", "codeshell": self = .smollm
        case "llama-bpe", "llama3", "llama-v3": self = .llama3
        case "qwen2": self = .qwen2
        default:
            throw TokenizerError(source: "tokenizer.ggml.pre", message: "unsupported pre-tokenizer (expected gpt2, smollm, llama-bpe or qwen2, found \"\(ggufName)\")",
                                 hint: "loratop implements the GPT-2 byte-level split, its individual-digits variant, and Llama 3's and Qwen2's")
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
        case .llama3, .qwen2:
            let digits = kind == .llama3 ? 3 : 1
            var i = 0
            while i < scalars.count {
                let m = Self.llama3MatchAt(scalars, classes, i, scalars.count, maxDigits: digits)
                out.append(i..<m)
                i = m
            }
        }
        return out
    }

    @inline(__always) static func isNewline(_ s: Unicode.Scalar) -> Bool { s == "\r" || s == "\n" }

    /// End of the Llama 3 / Qwen2 pattern's match at `i` (always > i): its alternatives in order, the first that
    /// matches winning, as the regex engine takes them.
    static func llama3MatchAt(_ s: [Unicode.Scalar], _ c: [CharClass], _ i: Int, _ end: Int, maxDigits: Int) -> Int {
        // (?i:'s|'t|'re|'ve|'m|'ll|'d)
        if s[i] == "'" && i + 1 < end {
            func lower(_ k: Int) -> Unicode.Scalar? {
                guard k < end, s[k].isASCII else { return nil }
                let v = s[k].value
                return Unicode.Scalar(v >= 0x41 && v <= 0x5A ? v + 32 : v)
            }
            switch lower(i + 1) {
            case "s", "t", "m", "d": return i + 2
            case "r", "v": if lower(i + 2) == "e" { return i + 3 }
            case "l": if lower(i + 2) == "l" { return i + 3 }
            default: break
            }
        }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        var j = i
        if c[i] != .letter && c[i] != .number && !isNewline(s[i]) && i + 1 < end && c[i + 1] == .letter { j = i + 1 }
        if c[j] == .letter {
            var k = j + 1
            while k < end && c[k] == .letter { k += 1 }
            return k
        }
        // \p{N}{1,maxDigits}
        if c[i] == .number {
            var k = i + 1
            while k < end && k - i < maxDigits && c[k] == .number { k += 1 }
            return k
        }
        // ?[^\s\p{L}\p{N}]+[\r\n]*
        j = i
        if s[i] == " " && i + 1 < end && c[i + 1] == .other { j = i + 1 }
        if c[j] == .other {
            var k = j + 1
            while k < end && c[k] == .other { k += 1 }
            while k < end && isNewline(s[k]) { k += 1 }
            return k
        }
        // whitespace from here on (c[i] == .space)
        var k = i + 1
        while k < end && c[k] == .space { k += 1 }
        // \s*[\r\n]+: up to and including the run's last newline
        var last = k - 1
        while last >= i && !isNewline(s[last]) { last -= 1 }
        if last >= i { return last + 1 }
        // \s+(?!\S), then \s+
        if k == end || k - i == 1 { return k }
        return k - 1
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
