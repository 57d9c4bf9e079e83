import Foundation

/// A byte-level BPE tokenizer (GPT-2 family: SmolLM2, LLaMA-3 style vocabularies).
///
/// Encoding: split out special tokens, cut the rest into words (`PreTokenizerKind`), map each word's UTF-8
/// bytes to byte tokens, then apply merges lowest rank first. Results per word are cached.
public final class BPETokenizer: Tokenizing, @unchecked Sendable {
    /// Number of ids.
    public var vocabularySize: Int { tokenBytes.count }
    /// Ids with a fixed role.
    public let specialIDs: SpecialTokenIDs
    /// The pre-tokenizer in use.
    public let preTokenizerKind: PreTokenizerKind
    /// Vocabulary strings by id (byte-level alphabet; special tokens verbatim).
    public let tokens: [String]
    /// Whether sequences start with BOS (false unless the model file says so).
    public var addsBOS = false

    private let tokenBytes: [[UInt8]]          // bytes each id stands for
    private let specialFlags: [Bool]           // id is split out of text / a control token
    private let specialByText: [String: Int32]
    private let specials: SpecialTokenSplitter
    let byteTokens: [Int32]                    // id of each single byte, or -1
    let merges: MergeTable
    private let preTokenizer: PreTokenizer

    // Word cache: UTF-8 bytes of a word → ids. Guarded by `lock`.
    private var cache: [[UInt8]: [Int32]] = [:]
    private let lock = NSLock()
    private static let cacheLimit = 200_000
    /// Longer words are merged every time, not cached (as Hugging Face tokenizers does): a long word rarely comes
    /// twice, and hashing and keeping a megabyte-long one costs more than it could save.
    private static let cachedWordBytes = 256

    /// GGUF `tokenizer.ggml.token_type` values.
    public enum TokenType: Int32, Sendable {
        /// Ordinary vocabulary entry.
        case normal = 1
        /// The unknown token.
        case unknown = 2
        /// A control token such as `<|im_start|>`.
        case control = 3
        /// A user-defined token, matched verbatim in text.
        case userDefined = 4
        /// Unused slot.
        case unused = 5
        /// A raw byte token `<0xAB>` (SentencePiece vocabularies).
        case byte = 6
    }

    /// A tokenizer from plain values, as GGUF stores them.
    ///
    /// - Parameters:
    ///   - tokens: vocabulary strings by id (`tokenizer.ggml.tokens`).
    ///   - merges: merge rules by rank, `"a b"` (`tokenizer.ggml.merges`).
    ///   - tokenTypes: `tokenizer.ggml.token_type`; control (3) and user-defined (4) tokens are recognised in text.
    ///   - specialIDs: bos/eos/unk/pad ids.
    ///   - preTokenizer: the word split (`PreTokenizerKind(ggufName:)` for `tokenizer.ggml.pre`).
    ///   - extraSpecialTokens: more ids to treat as special (e.g. tokenizer.json `added_tokens`).
    public convenience init(tokens: [String], merges: [String], tokenTypes: [Int32]? = nil,
                            specialIDs: SpecialTokenIDs, preTokenizer: PreTokenizerKind,
                            extraSpecialTokens: [Int32] = [], source: String = "tokenizer.ggml.merges") throws {
        var pairs = [(String, String)]()
        pairs.reserveCapacity(merges.count)
        for (rank, m) in merges.enumerated() {
            let parts = m.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError(source: source, message: "merge \(rank) is not two tokens (expected \"a b\", found \"\(m)\")",
                                     hint: "merges are space-separated token pairs, lowest rank first")
            }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        try self.init(tokens: tokens, mergePairs: pairs, tokenTypes: tokenTypes, specialIDs: specialIDs,
                      preTokenizer: preTokenizer, extraSpecialTokens: extraSpecialTokens, source: source)
    }

    /// A tokenizer from merge pairs (tokenizer.json's `[["a","b"], ...]` form).
    public init(tokens: [String], mergePairs: [(String, String)], tokenTypes: [Int32]? = nil,
                specialIDs: SpecialTokenIDs, preTokenizer: PreTokenizerKind,
                extraSpecialTokens: [Int32] = [], source: String = "tokenizer") throws {
        guard !tokens.isEmpty else {
            throw TokenizerError(source: source, message: "empty vocabulary (expected tokens, found 0)", hint: "is this a tokenizer file?")
        }
        if let types = tokenTypes, types.count != tokens.count {
            throw TokenizerError(source: source, message: "token types do not match tokens (expected \(tokens.count), found \(types.count))",
                                 hint: "tokenizer.ggml.token_type must have one entry per token")
        }
        for (name, id) in [("bos", specialIDs.bos), ("eos", specialIDs.eos), ("unk", specialIDs.unk), ("pad", specialIDs.pad)] {
            if let id, id < 0 || Int(id) >= tokens.count {
                throw TokenizerError(source: source, message: "\(name) id out of range (expected 0..<\(tokens.count), found \(id))",
                                     hint: "check the special token ids in the model metadata")
            }
        }
        self.tokens = tokens
        self.specialIDs = specialIDs
        self.preTokenizerKind = preTokenizer
        self.preTokenizer = PreTokenizer(kind: preTokenizer)

        var isSpecial = [Bool](repeating: false, count: tokens.count)
        if let types = tokenTypes {
            for (i, t) in types.enumerated() where t == TokenType.control.rawValue || t == TokenType.userDefined.rawValue {
                isSpecial[i] = true
            }
        }
        for id in extraSpecialTokens where id >= 0 && Int(id) < tokens.count { isSpecial[Int(id)] = true }

        var ids = [String: Int32](minimumCapacity: tokens.count)
        var bytes = [[UInt8]]()
        bytes.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() {
            if ids[t] == nil { ids[t] = Int32(i) }
            if isSpecial[i] {
                bytes.append(Array(t.utf8))
            } else if let b = ByteLevel.bytes(of: t) {
                bytes.append(b)
            } else {
                bytes.append(Array(t.utf8))  // outside the byte alphabet: decode as written
            }
        }
        tokenBytes = bytes
        specialFlags = isSpecial

        var byText = [String: Int32]()
        for (i, t) in tokens.enumerated() where isSpecial[i] && !t.isEmpty { byText[t] = Int32(i) }
        specialByText = byText
        specials = SpecialTokenSplitter(tokens: tokens, isSpecial: isSpecial)

        byteTokens = (0..<256).map { b in ids[String(Character(ByteLevel.byteToScalar[b]))] ?? -1 }

        var rules: [(a: Int32, b: Int32, rank: Int32, merged: Int32)] = []
        rules.reserveCapacity(mergePairs.count)
        for (rank, (a, b)) in mergePairs.enumerated() {
            guard let ia = ids[a], let ib = ids[b], let im = ids[a + b] else {
                throw TokenizerError(source: source, message: "merge \(rank) \"\(a) \(b)\" names a token not in the vocabulary",
                                     hint: "the merges and the vocabulary must come from the same tokenizer")
            }
            rules.append((ia, ib, Int32(rank), im))
        }
        merges = MergeTable(rules)
    }


    // MARK: Tokenizing

    /// The bytes a token stands for.
    public func bytes(of id: Int32) -> [UInt8] {
        id >= 0 && Int(id) < tokenBytes.count ? tokenBytes[Int(id)] : []
    }

    /// Whether `id` is a special token.
    public func isSpecial(_ id: Int32) -> Bool {
        id >= 0 && Int(id) < specialFlags.count && specialFlags[Int(id)]
    }

    /// The id of a special token by its text.
    public func specialID(_ text: String) -> Int32? { specialByText[text] }

    /// Token ids for `text`, with special tokens recognised; no BOS is added.
    public func encode(_ text: String) -> [Int32] {
        let utf8 = Array(text.utf8)
        var out = [Int32]()
        out.reserveCapacity(utf8.count / 3 + 4)
        for segment in specials.split(utf8) {
            switch segment {
            case .special(let id): out.append(id)
            case .text(let r): encodeOrdinary(utf8[r], into: &out)
            }
        }
        return out
    }

    /// Text without special tokens: pre-tokenize, then BPE each word.
    private func encodeOrdinary(_ bytes: ArraySlice<UInt8>, into out: inout [Int32]) {
        // Decode scalars by hand (String(decoding:) would drop a leading U+FEFF) and keep each one's UTF-8 offset.
        var scalars = [Unicode.Scalar]()
        scalars.reserveCapacity(bytes.count)
        var offsets = [Int]()
        offsets.reserveCapacity(bytes.count + 1)
        let base = bytes.startIndex
        var at = base
        var decoder = UTF8()
        var it = bytes.makeIterator()
        loop: while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s):
                scalars.append(s)
                offsets.append(at - base)
                at += UTF8.width(s)
            case .emptyInput:
                break loop
            case .error:
                // Unreachable for bytes taken from a String; keep the byte count right regardless.
                scalars.append("\u{FFFD}")
                offsets.append(at - base)
                at += 1
            }
        }
        offsets.append(at - base)
        for word in preTokenizer.split(scalars) {
            let wordBytes = Array(bytes[(base + offsets[word.lowerBound])..<(base + offsets[word.upperBound])])
            out.append(contentsOf: encodeWord(wordBytes))
        }
    }

    /// BPE of one word, through the cache.
    func encodeWord(_ word: [UInt8]) -> [Int32] {
        guard word.count <= Self.cachedWordBytes else { return bpe(word) }
        lock.lock()
        if let hit = cache[word] {
            lock.unlock()
            return hit
        }
        lock.unlock()
        let ids = bpe(word)
        lock.lock()
        if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
        cache[word] = ids
        lock.unlock()
        return ids
    }

    /// Merges lowest rank first, equal ranks left to right (`BPEMerge`: O(n log n) in the word's length, a long word in
    /// pieces cut where no merge can cross).
    private func bpe(_ word: [UInt8]) -> [Int32] {
        let unk = specialIDs.unk ?? 0
        let syms = word.map { b -> Int32 in
            let id = byteTokens[Int(b)]
            return id >= 0 ? id : unk
        }
        return BPEMerge.merge(syms, table: merges)
    }
}
