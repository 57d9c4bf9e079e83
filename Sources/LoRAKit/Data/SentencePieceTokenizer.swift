import Foundation

/// A SentencePiece-style BPE tokenizer (Gemma, Llama 2, Mistral, Phi-3 vocabularies): symbols are characters, not
/// bytes; spaces are written "▁"; a character the vocabulary lacks becomes its UTF-8 bytes as `<0xAB>` tokens.
///
/// Two sources give the same encoding (checked on the committed corpus against llama.cpp and `tokenizers`):
/// - GGUF (`tokenizer.ggml.model = llama`): tokens with scores; adjacent symbols whose concatenation is a token merge,
///   highest score first, equal scores left to right (llama.cpp's llm_tokenizer_spm). With `add_space_prefix` a
///   space goes before the text and after every special token, as llama.cpp does.
/// - tokenizer.json (BPE with byte fallback): merge rules by rank (Hugging Face's BPE), after its normalizer (Replace
///   " " → "▁", Prepend "▁") or Metaspace pre-tokenizer.
/// Both run `BPEMerge`'s O(n log n) loop; each text between special tokens is one word (SentencePiece pieces may
/// hold several spaces).
public final class SentencePieceTokenizer: Tokenizing, @unchecked Sendable {
    /// Number of ids.
    public var vocabularySize: Int { tokens.count }
    /// Ids with a fixed role.
    public let specialIDs: SpecialTokenIDs
    /// Vocabulary strings by id.
    public let tokens: [String]
    /// Whether sequences start with BOS (GGUF add_bos_token, default true for SentencePiece as in llama.cpp;
    /// tokenizer_config's add_bos_token).
    public var addsBOS = true

    private let tokenBytes: [[UInt8]]
    private let specialFlags: [Bool]
    private let specialByText: [String: Int32]
    private let splitter: SpecialTokenSplitter
    private let pieceIDs: [UInt32: Int32]      // the piece of each single character (by scalar: exact, unlike String keys)
    private let byteIDs: [Int32]               // <0xAB> for each byte, or -1
    private let merges: MergeTable
    private let prefix: PrefixRule
    private let splitWords: Bool               // Metaspace(split: true): a word starts at every "▁"

    /// Where a "▁" is put before the text.
    enum PrefixRule {
        case never
        /// Before the text and after each special token (llama.cpp's add_space_prefix).
        case afterSpecials
        /// Before the text only (Metaspace prepend_scheme "first", a Prepend normalizer).
        case first
    }

    static let space: Unicode.Scalar = "\u{2581}"

    init(tokens: [String], tokenTypes: [Int32], rules: [(a: Int32, b: Int32, rank: Int32, merged: Int32)],
         specialIDs: SpecialTokenIDs, prefix: PrefixRule, splitWords: Bool, source: String) throws {
        guard !tokens.isEmpty else {
            throw TokenizerError(source: source, message: "empty vocabulary (expected tokens, found 0)", hint: "is this a tokenizer file?")
        }
        for (name, id) in [("bos", specialIDs.bos), ("eos", specialIDs.eos), ("unk", specialIDs.unk), ("pad", specialIDs.pad)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw TokenizerError(source: source, message: "\(name) id out of range (expected 0..<\(tokens.count), found \(id))",
                                     hint: "check the special token ids in the model metadata")
            }
        }
        self.tokens = tokens
        self.specialIDs = specialIDs
        self.prefix = prefix
        self.splitWords = splitWords
        let special = tokenTypes.map { $0 == BPETokenizer.TokenType.control.rawValue || $0 == BPETokenizer.TokenType.userDefined.rawValue }
        specialFlags = special
        var byText = [String: Int32](), pieces = [UInt32: Int32]()
        var bytes = [Int32](repeating: -1, count: 256)
        var tb = [[UInt8]]()
        tb.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() {
            let type = tokenTypes[i]
            if special[i] { byText[t] = Int32(i) }
            if type == BPETokenizer.TokenType.byte.rawValue, let b = Self.byteValue(t) {
                if bytes[Int(b)] < 0 { bytes[Int(b)] = Int32(i) }
                tb.append([b])
            } else if special[i] {
                tb.append(Array(t.utf8))
            } else {
                let scalars = t.unicodeScalars
                if type != BPETokenizer.TokenType.control.rawValue, scalars.count == 1, let u = scalars.first, pieces[u.value] == nil {
                    pieces[u.value] = Int32(i)
                }
                tb.append(Array(t.replacingOccurrences(of: "\u{2581}", with: " ").utf8))
            }
        }
        specialByText = byText
        pieceIDs = pieces
        byteIDs = bytes
        tokenBytes = tb
        splitter = SpecialTokenSplitter(tokens: tokens, isSpecial: special)
        merges = MergeTable(rules)
    }

    /// `<0xAB>` → 0xAB.
    static func byteValue(_ t: String) -> UInt8? {
        guard t.count == 6, t.hasPrefix("<0x"), t.hasSuffix(">") else { return nil }
        return UInt8(t.dropFirst(3).prefix(2), radix: 16)
    }

    // MARK: Tokenizing

    public func bytes(of id: Int32) -> [UInt8] {
        id >= 0 && Int(id) < tokenBytes.count ? tokenBytes[Int(id)] : []
    }

    public func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < specialFlags.count && specialFlags[Int(id)]
    }

    public func specialID(_ text: String) -> Int32? { specialByText[text] }

    /// Token ids for `text`, special tokens recognised; no BOS is added.
    public func encode(_ text: String) -> [Int32] {
        let utf8 = Array(text.utf8)
        var out = [Int32]()
        out.reserveCapacity(utf8.count / 3 + 4)
        var afterSpecial = true  // the start counts as following one (llama.cpp)
        var first = true
        for segment in splitter.split(utf8) {
            switch segment {
            case .special(let id):
                out.append(id)
                afterSpecial = true
            case .text(let r):
                let prepend = prefix == .afterSpecials ? afterSpecial : prefix == .first && first
                encodeText(utf8[r], prepend: prepend, into: &out)
                afterSpecial = false
            }
            first = false
        }
        return out
    }

    /// One text between special tokens: "▁" for spaces (and before it when `prepend`), then merged as one word (or
    /// one per "▁"-led word with Metaspace's split).
    private func encodeText(_ bytes: ArraySlice<UInt8>, prepend: Bool, into out: inout [Int32]) {
        var scalars = [Unicode.Scalar]()
        scalars.reserveCapacity(bytes.count + 1)
        if prepend { scalars.append(Self.space) }
        var decoder = UTF8()
        var it = bytes.makeIterator()
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s): scalars.append(s == " " ? Self.space : s)
            case .emptyInput: break loop
            case .error: scalars.append("\u{FFFD}")
            }
        }
        var start = 0
        for i in scalars.indices where splitWords && i > start && scalars[i] == Self.space {
            out.append(contentsOf: word(scalars[start..<i]))
            start = i
        }
        if start < scalars.count { out.append(contentsOf: word(scalars[start...])) }
    }

    /// The symbols of a word (each character's piece, or its bytes' tokens, or unk), merged.
    private func word(_ scalars: ArraySlice<Unicode.Scalar>) -> [Int32] {
        var syms = [Int32]()
        syms.reserveCapacity(scalars.count)
        for s in scalars {
            if let id = pieceIDs[s.value] {
                syms.append(id)
                continue
            }
            for b in String(Character(s)).utf8 {
                let id = byteIDs[Int(b)]
                syms.append(id >= 0 ? id : specialIDs.unk ?? 0)
            }
        }
        return BPEMerge.merge(syms, table: merges)
    }
}

extension SentencePieceTokenizer {
    /// The vocabulary of a GGUF file with `tokenizer.ggml.model = llama`: tokens, scores and token types; the merge of
    /// two pieces is allowed when their concatenation is a piece, ranked by its score (highest first, ties sharing a
    /// rank so they merge left to right).
    public convenience init(gguf file: GGUFFile) throws {
        let source = file.mapped.path
        guard let tokens = file.strings("tokenizer.ggml.tokens") else {
            throw TokenizerError(source: source, message: "no tokenizer.ggml.tokens array", hint: "the GGUF has no tokenizer")
        }
        guard let scores = file.floats(key: "tokenizer.ggml.scores"), scores.count == tokens.count else {
            throw TokenizerError(source: source, message: "tokenizer.ggml.scores is missing or not one per token (\(tokens.count))",
                                 hint: "a SentencePiece (llama) vocabulary needs its scores")
        }
        let types = file.ints("tokenizer.ggml.token_type").map { $0.map { Int32(truncatingIfNeeded: $0) } }
            ?? [Int32](repeating: BPETokenizer.TokenType.normal.rawValue, count: tokens.count)
        guard types.count == tokens.count else {
            throw TokenizerError(source: source, message: "token types do not match tokens (expected \(tokens.count), found \(types.count))",
                                 hint: "tokenizer.ggml.token_type must have one entry per token")
        }
        func id(_ key: String) -> Int32? {
            guard let v = file.int("tokenizer.ggml." + key), v >= 0, v < tokens.count else { return nil }
            return Int32(v)
        }
        let unknown = types.firstIndex(of: BPETokenizer.TokenType.unknown.rawValue).map { Int32($0) }
        let special = SpecialTokenIDs(bos: id("bos_token_id"), eos: id("eos_token_id"), unk: id("unknown_token_id") ?? unknown,
                                      pad: id("padding_token_id"))
        try self.init(tokens: tokens, tokenTypes: types, rules: Self.scoreRules(tokens: tokens, scores: scores, types: types),
                      specialIDs: special, prefix: file.bool("tokenizer.ggml.add_space_prefix") ?? true ? .afterSpecials : .never,
                      splitWords: false, source: source)
        addsBOS = file.bool("tokenizer.ggml.add_bos_token") ?? true
    }

    /// Every split of every mergeable piece into two pieces, ranked by the whole piece's score (descending; equal
    /// scores equal ranks). Control, byte and unused tokens neither merge nor are merged into.
    static func scoreRules(tokens: [String], scores: [Float], types: [Int32]) -> [(a: Int32, b: Int32, rank: Int32, merged: Int32)] {
        let mergeable = { (i: Int) -> Bool in
            let t = types[i]
            return t == BPETokenizer.TokenType.normal.rawValue || t == BPETokenizer.TokenType.userDefined.rawValue
                || t == BPETokenizer.TokenType.unknown.rawValue
        }
        // keyed by UTF-8 bytes: String keys would merge canonically equivalent pieces
        var ids = [[UInt8]: Int32](minimumCapacity: tokens.count)
        for i in tokens.indices where mergeable(i) && ids[Array(tokens[i].utf8)] == nil { ids[Array(tokens[i].utf8)] = Int32(i) }
        let distinct = Array(Set(scores)).sorted(by: >)
        var rankOf = [Float: Int32](minimumCapacity: distinct.count)
        for (r, s) in distinct.enumerated() { rankOf[s] = Int32(r) }
        var rules: [(a: Int32, b: Int32, rank: Int32, merged: Int32)] = []
        for (i, t) in tokens.enumerated() where mergeable(i) && ids[Array(t.utf8)] == Int32(i) {
            let chars = Array(t.unicodeScalars)  // the symbols are scalars, not grapheme clusters
            guard chars.count > 1, let rank = rankOf[scores[i]] else { continue }
            func text(_ s: ArraySlice<Unicode.Scalar>) -> [UInt8] { Array(String(String.UnicodeScalarView(s)).utf8) }
            for k in 1..<chars.count {
                guard let a = ids[text(chars[..<k])], let b = ids[text(chars[k...])] else { continue }
                rules.append((a, b, rank, Int32(i)))
            }
        }
        return rules
    }

    /// A tokenizer.json whose BPE model is SentencePiece-style (byte fallback, "▁" for spaces): its vocabulary, added
    /// tokens and merges read exactly (`ExactJSON`), and the normalizer / pre-tokenizer that put the "▁".
    convenience init(json bytes: [UInt8], root: [String: Any], specialIDs: SpecialTokenIDs, source: String) throws {
        func fail(_ m: String) -> TokenizerError {
            TokenizerError(source: source, message: m, hint: "expected a Hugging Face tokenizers file (tokenizer.json) with a BPE model")
        }
        let doc: ExactJSON.Value
        do { doc = try ExactJSON.parse(bytes) } catch let e as ExactJSON.ParseError {
            throw fail("not JSON at byte \(e.offset): \(e.message)")
        }
        guard let vocab = doc["model"]?["vocab"]?.pairs else { throw fail("model.vocab is missing or not an object") }
        let added = doc["added_tokens"]?.array ?? []
        let limit = vocab.count + added.count + 1024
        func id(_ v: ExactJSON.Value?, _ what: String) throws -> Int {
            guard let d = v?.number, d == d.rounded(), d >= 0, d < Double(limit) else {
                throw fail("\(what) is not a whole number from 0 to \(limit - 1)")
            }
            return Int(d)
        }
        var entries: [(String, Int, Bool)] = []
        for (k, v) in vocab { entries.append((k, try id(v, "model.vocab[\"\(Printable.escaped(k, limit: 40))\"]"), false)) }
        for (n, a) in added.enumerated() {
            guard let content = a["content"]?.string else { throw fail("added_tokens[\(n)] lacks content") }
            entries.append((content, try id(a["id"], "added_tokens[\(n)].id"), true))
        }
        let count = (entries.map(\.1).max() ?? -1) + 1
        var tokens = [String](repeating: "", count: count)
        var types = [Int32](repeating: BPETokenizer.TokenType.unused.rawValue, count: count)
        var ids = [[UInt8]: Int32](minimumCapacity: count)
        for (text, i, isAdded) in entries {
            tokens[i] = text
            types[i] = isAdded ? BPETokenizer.TokenType.control.rawValue
                : Self.byteValue(text) != nil ? BPETokenizer.TokenType.byte.rawValue : BPETokenizer.TokenType.normal.rawValue
            if !isAdded { ids[Array(text.utf8)] = Int32(i) }
        }
        var rules: [(a: Int32, b: Int32, rank: Int32, merged: Int32)] = []
        for (rank, m) in (doc["model"]?["merges"]?.array ?? []).enumerated() {
            let pair: (String, String)
            if let s = m.string {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("merge \(rank) is not two tokens (expected \"a b\")") }
                pair = (String(parts[0]), String(parts[1]))
            } else if let a = m.array, a.count == 2, let x = a[0].string, let y = a[1].string {
                pair = (x, y)
            } else {
                throw fail("merge \(rank) is neither \"a b\" nor [\"a\", \"b\"]")
            }
            guard let ia = ids[Array(pair.0.utf8)], let ib = ids[Array(pair.1.utf8)], let im = ids[Array((pair.0 + pair.1).utf8)] else {
                throw TokenizerError(source: source, message: "merge \(rank) \"\(Printable.escaped(pair.0, limit: 20)) \(Printable.escaped(pair.1, limit: 20))\" names a token not in the vocabulary",
                                     hint: "the merges and the vocabulary must come from the same tokenizer")
            }
            rules.append((ia, ib, Int32(rank), im))
        }
        let style = try Self.style(root, source: source)
        try self.init(tokens: tokens, tokenTypes: types, rules: rules, specialIDs: specialIDs, prefix: style.prefix,
                      splitWords: style.split, source: source)
    }

    /// Whether a tokenizer.json is SentencePiece-style: a BPE model with byte fallback, or steps that write "▁" for
    /// spaces (`style` accepts only such steps).
    static func isSentencePiece(_ root: [String: Any]) -> Bool {
        if let model = root["model"] as? [String: Any], model["byte_fallback"] as? Bool == true { return true }
        return (try? style(root, source: "")) != nil
    }

    /// The "▁" rules of the normalizer and pre-tokenizer: Replace(" ", "▁"), Prepend("▁"), Metaspace, and Gemma's
    /// Split(" ", MergedWithPrevious) (a no-op once spaces are "▁").
    static func style(_ root: [String: Any], source: String) throws -> (prefix: PrefixRule, split: Bool) {
        let hint = "supported SentencePiece-style steps: normalizer Replace(\" \", \"▁\") and Prepend(\"▁\"), pre_tokenizer Metaspace or Split(\" \", MergedWithPrevious)"
        func fail(_ m: String) -> TokenizerError { TokenizerError(source: source, message: m, hint: hint) }
        var prefix = PrefixRule.never, split = false, replaces = false
        func normalizer(_ o: [String: Any]) throws {
            switch o["type"] as? String {
            case "Sequence": for n in o["normalizers"] as? [[String: Any]] ?? [] { try normalizer(n) }
            case "Replace":
                guard (o["pattern"] as? [String: Any])?["String"] as? String == " ", o["content"] as? String == "\u{2581}" else {
                    throw fail("unsupported Replace normalizer (expected \" \" → \"▁\")")
                }
                replaces = true
            case "Prepend":
                guard o["prepend"] as? String == "\u{2581}" else { throw fail("unsupported Prepend normalizer (expected \"▁\")") }
                prefix = .first
            case let t: throw fail("unsupported normalizer \(t ?? "?")")
            }
        }
        if let n = root["normalizer"] as? [String: Any] { try normalizer(n) }
        if let p = root["pre_tokenizer"] as? [String: Any] {
            switch p["type"] as? String {
            case "Metaspace":
                replaces = true
                switch p["prepend_scheme"] as? String ?? ((p["add_prefix_space"] as? Bool) == false ? "never" : "always") {
                case "first", "always": prefix = .first
                case "never": break
                case let s: throw fail("unsupported Metaspace prepend_scheme \(s)")
                }
                split = p["split"] as? Bool ?? true
            case "Split":
                guard (p["pattern"] as? [String: Any])?["String"] as? String == " " else { throw fail("unsupported Split pre_tokenizer") }
            case let t: throw fail("unsupported pre_tokenizer \(t ?? "?") for a SentencePiece-style vocabulary")
            }
        }
        guard replaces else { throw fail("no step writes spaces as \"▁\"") }
        return (prefix, split)
    }
}
