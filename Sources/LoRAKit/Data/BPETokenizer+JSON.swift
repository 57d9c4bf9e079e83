import Foundation

extension BPETokenizer {
    /// A tokenizer from a Hugging Face `tokenizer.json` (BPE model, byte-level pre-tokenizer).
    ///
    /// Special ids come from `specialIDs` when given, else from `tokenizer_config.json` in the same folder,
    /// else from well-known token names (`<|endoftext|>`, `<|im_end|>`, `</s>`, ...).
    public convenience init(tokenizerJSON url: URL, specialIDs: SpecialTokenIDs? = nil) throws {
        let file = try TokenizerFile(url)
        try self.init(parsed: try Self.parse(file.root, source: file.path), specialIDs: specialIDs, config: file.config, source: file.path)
    }

    private convenience init(parsed: ParsedJSON, specialIDs: SpecialTokenIDs?, config: [String: Any]?, source: String) throws {
        let ids = specialIDs ?? TokenizerFile.specialIDs(config: config, vocab: parsed.vocab)
        try self.init(tokens: parsed.tokens, mergePairs: parsed.merges, tokenTypes: nil, specialIDs: ids,
                      preTokenizer: try Self.preTokenizer(parsed.root["pre_tokenizer"], source: source),
                      extraSpecialTokens: parsed.added, source: source)
    }

    /// The tokenizer of a Hugging Face `tokenizer.json`: byte-level BPE (`BPETokenizer`) or SentencePiece-style
    /// (`SentencePieceTokenizer`: byte fallback, "▁" for spaces), with special ids as `init(tokenizerJSON:)` finds them
    /// and BOS as `tokenizer_config.json`'s `add_bos_token` says. Each file is read once.
    public static func load(tokenizerJSON url: URL) throws -> any Tokenizing {
        let file = try TokenizerFile(url)
        let parsed = try parse(file.root, source: file.path)
        let ids = TokenizerFile.specialIDs(config: file.config, vocab: parsed.vocab)
        let addsBOS = file.config?["add_bos_token"] as? Bool
        if SentencePieceTokenizer.isSentencePiece(file.root) {
            // the vocabulary again, exactly (ExactJSON): JSONSerialization's merges canonically equivalent pieces
            let tok = try SentencePieceTokenizer(json: file.bytes, root: file.root, specialIDs: ids, source: file.path)
            if let addsBOS { tok.addsBOS = addsBOS }
            return tok
        }
        let tok = try BPETokenizer(parsed: parsed, specialIDs: ids, config: file.config, source: file.path)
        if let addsBOS { tok.addsBOS = addsBOS }
        return tok
    }

    /// What `tokenizer.json` holds, in plain values.
    struct ParsedJSON {
        var tokens: [String]
        var vocab: [String: Int32]
        var merges: [(String, String)]
        var added: [Int32]
        /// The whole JSON object (normalizer, pre_tokenizer).
        var root: [String: Any]
    }

    static func parse(_ root: [String: Any], source: String) throws -> ParsedJSON {
        func fail(_ message: String, _ hint: String = "expected a Hugging Face tokenizers file (tokenizer.json) with a BPE model") -> TokenizerError {
            TokenizerError(source: source, message: message, hint: hint)
        }
        guard let model = root["model"] as? [String: Any] else { throw fail("no \"model\" object") }
        let type = model["type"] as? String ?? "BPE"
        guard type == "BPE" else { throw fail("unsupported model type (expected BPE, found \(type))", "only byte-level BPE tokenizers are supported") }
        guard let vocabAny = model["vocab"] as? [String: Any] else { throw fail("model.vocab is missing or not an object") }

        // Ids index the token table, so they are bounded by what the file holds before anything is allocated: a
        // tokenizer's ids run 0..<entries; a few holes are allowed, an id of 2^40 is not.
        let addedAny = root["added_tokens"] as? [[String: Any]] ?? []
        let idLimit = vocabAny.count + addedAny.count + 1024
        func checkedID(_ any: Any?, _ what: String) throws -> Int32 {
            guard let n = any as? NSNumber else { throw fail("\(what) is not a number") }
            let d = n.doubleValue
            guard d == d.rounded(), d >= 0, d < Double(idLimit) else {
                throw fail("\(what) is \(n) (expected a whole number from 0 to \(idLimit - 1): the file has "
                           + "\(vocabAny.count) vocabulary entries and \(addedAny.count) added tokens)", "the tokenizer file is damaged")
            }
            return Int32(d)
        }
        var vocab = [String: Int32](minimumCapacity: vocabAny.count)
        var maxID = -1
        for (k, v) in vocabAny {
            let id = try checkedID(v, "model.vocab[\"\(String(k.prefix(40)))\"]")
            vocab[k] = id
            maxID = max(maxID, Int(id))
        }
        var added = [Int32]()
        var addedText = [(String, Int32)]()
        for (i, item) in addedAny.enumerated() {
            guard item["id"] != nil, let content = item["content"] as? String else {
                throw fail("an added_tokens entry lacks id or content")
            }
            let id = try checkedID(item["id"], "added_tokens[\(i)].id")
            added.append(id)
            addedText.append((content, id))
            maxID = max(maxID, Int(id))
        }
        var tokens = [String](repeating: "", count: maxID + 1)
        for (k, v) in vocab { tokens[Int(v)] = k }
        for (content, id) in addedText {
            tokens[Int(id)] = content
            vocab[content] = id
        }

        var merges = [(String, String)]()
        let rawMerges = model["merges"] as? [Any] ?? []
        merges.reserveCapacity(rawMerges.count)
        for (rank, m) in rawMerges.enumerated() {
            if let s = m as? String {
                let parts = s.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
                guard parts.count == 2 else { throw fail("merge \(rank) is not two tokens (expected \"a b\", found \"\(s)\")") }
                merges.append((String(parts[0]), String(parts[1])))
            } else if let p = m as? [String], p.count == 2 {
                merges.append((p[0], p[1]))
            } else {
                throw fail("merge \(rank) is neither \"a b\" nor [\"a\", \"b\"]")
            }
        }
        return ParsedJSON(tokens: tokens, vocab: vocab, merges: merges, added: added, root: root)
    }

    private static func preTokenizer(_ any: Any?, source: String) throws -> PreTokenizerKind {
        func fail(_ message: String, _ hint: String) -> TokenizerError { TokenizerError(source: source, message: message, hint: hint) }
        let hint = "supported: ByteLevel(use_regex) alone, Sequence[Digits(individual_digits), ByteLevel], or Sequence[Split(Llama 3's or Qwen2's regex, Isolated), ByteLevel(use_regex false)]"
        guard let obj = any as? [String: Any], let type = obj["type"] as? String else {
            throw fail("no pre_tokenizer (expected ByteLevel)", hint)
        }
        func checkByteLevel(_ o: [String: Any]) throws {
            if (o["add_prefix_space"] as? Bool) == true { throw fail("ByteLevel add_prefix_space = true is not supported", hint) }
            if (o["use_regex"] as? Bool) == false { throw fail("ByteLevel use_regex = false is not supported", hint) }
        }
        switch type {
        case "ByteLevel":
            try checkByteLevel(obj)
            return .gpt2
        case "Sequence":
            let items = obj["pretokenizers"] as? [[String: Any]] ?? []
            let types = items.map { $0["type"] as? String ?? "?" }
            if types == ["Digits", "ByteLevel"], (items[0]["individual_digits"] as? Bool) == true {
                try checkByteLevel(items[1])
                return .smollm
            }
            if types == ["ByteLevel"] {
                try checkByteLevel(items[0])
                return .gpt2
            }
            if types == ["Split", "ByteLevel"] {
                let split = items[0], byteLevel = items[1]
                let pattern = (split["pattern"] as? [String: Any])?["Regex"] as? String
                guard let kind = PreTokenizerKind.splitPatterns.first(where: { $0.value == pattern })?.key else {
                    throw fail("unsupported Split pattern \(Printable.escaped(pattern ?? "(not a Regex)", limit: 60))", hint)
                }
                guard (split["behavior"] as? String) == "Isolated", (split["invert"] as? Bool) != true else {
                    throw fail("Split behavior \(split["behavior"] ?? "?") / invert is not supported (expected Isolated, not inverted)", hint)
                }
                if (byteLevel["add_prefix_space"] as? Bool) == true { throw fail("ByteLevel add_prefix_space = true is not supported", hint) }
                if (byteLevel["use_regex"] as? Bool) == true { throw fail("ByteLevel use_regex = true after a Split is not supported", hint) }
                return kind
            }
            throw fail("unsupported pre_tokenizer Sequence \(types)", hint)
        default:
            throw fail("unsupported pre_tokenizer \(type)", hint)
        }
    }
}

/// A `tokenizer.json` read once: its bytes, the JSON object, and `tokenizer_config.json` beside it when there is one.
struct TokenizerFile {
    let path: String
    let bytes: [UInt8]
    let root: [String: Any]
    let config: [String: Any]?

    init(_ url: URL) throws {
        path = url.path
        let data: Data
        do {
            guard let d = try RegularFile.contents(path) else { throw FileError(path: path, message: "no such file") }
            data = d
        } catch let e as FileError {
            throw TokenizerError(source: path, message: e.message, hint: "pass the tokenizer.json of a Hugging Face model folder")
        }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw TokenizerError(source: path, message: "not a JSON object",
                                 hint: "expected a Hugging Face tokenizers file (tokenizer.json) with a BPE model")
        }
        bytes = [UInt8](data)
        self.root = root
        let cfg = url.deletingLastPathComponent().appendingPathComponent("tokenizer_config.json").path
        config = (try? RegularFile.contents(cfg)).flatMap { $0 }.flatMap { (try? JSONSerialization.jsonObject(with: $0)) as? [String: Any] }
    }

    /// Special ids by tokenizer_config.json's names, else by well-known names.
    static func specialIDs(config: [String: Any]?, vocab: [String: Int32]) -> SpecialTokenIDs {
        (config.map { TokenizerConfigNames(json: $0) } ?? .wellKnown).resolve(in: vocab)
    }
}

/// Special token names, as tokenizer_config.json gives them.
struct TokenizerConfigNames {
    var bos: [String]
    var eos: [String]
    var unk: [String]
    var pad: [String]

    static let wellKnown = TokenizerConfigNames(bos: ["<|im_start|>", "<s>", "<|begin_of_text|>"],
                                                eos: ["<|im_end|>", "<|endoftext|>", "</s>", "<|end_of_text|>"],
                                                unk: ["<|endoftext|>", "<unk>"], pad: [])

    init(bos: [String], eos: [String], unk: [String], pad: [String]) {
        self.bos = bos
        self.eos = eos
        self.unk = unk
        self.pad = pad
    }

    init(json: [String: Any]) {
        func name(_ key: String) -> [String] {
            if let s = json[key] as? String { return [s] }
            if let o = json[key] as? [String: Any], let s = o["content"] as? String { return [s] }
            return []
        }
        self.init(bos: name("bos_token"), eos: name("eos_token"), unk: name("unk_token"), pad: name("pad_token"))
    }

    func resolve(in vocab: [String: Int32]) -> SpecialTokenIDs {
        func first(_ names: [String]) -> Int32? { names.lazy.compactMap { vocab[$0] }.first }
        return SpecialTokenIDs(bos: first(bos), eos: first(eos), unk: first(unk), pad: first(pad) ?? first(eos))
    }
}
