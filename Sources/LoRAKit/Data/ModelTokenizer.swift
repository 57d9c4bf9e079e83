import Foundation

extension BPETokenizer {
    /// The tokenizer a GGUF file carries (`tokenizer.ggml.*`): byte-level BPE (`model = gpt2`) only.
    public convenience init(gguf file: GGUFFile) throws {
        let source = file.mapped.path
        let model = file.string("tokenizer.ggml.model") ?? "gpt2"
        guard model == "gpt2" else {
            throw TokenizerError(source: source, message: "tokenizer.ggml.model is \(model) (expected gpt2, byte-level BPE)",
                                 hint: "SentencePiece (llama) vocabularies are read by SentencePieceTokenizer(gguf:)")
        }
        guard let tokens = file.strings("tokenizer.ggml.tokens") else {
            throw TokenizerError(source: source, message: "no tokenizer.ggml.tokens array", hint: "the GGUF has no tokenizer")
        }
        let merges = file.strings("tokenizer.ggml.merges") ?? []
        let types = file.ints("tokenizer.ggml.token_type").map { $0.map { Int32(truncatingIfNeeded: $0) } }
        func id(_ key: String) -> Int32? {
            guard let v = file.int("tokenizer.ggml." + key), v >= 0, v < tokens.count else { return nil }
            return Int32(v)
        }
        let special = SpecialTokenIDs(bos: id("bos_token_id"), eos: id("eos_token_id"), unk: id("unknown_token_id"),
                                      pad: id("padding_token_id"))
        try self.init(tokens: tokens, merges: merges, tokenTypes: types, specialIDs: special,
                      preTokenizer: try PreTokenizerKind(ggufName: file.string("tokenizer.ggml.pre") ?? "gpt2"),
                      source: source + " (tokenizer.ggml.merges)")
        addsBOS = file.bool("tokenizer.ggml.add_bos_token") ?? false
    }
}

/// The tokenizer and chat template that go with a base model.
public struct ModelTokenizer: Sendable {
    /// Encodes and decodes text.
    public let tokenizer: any Tokenizing
    /// Renders conversations (ChatML; SmolLM2 adds its default system prompt).
    public let template: ChatTemplate
    /// Ids that end generation (EOS and the template's end of turn, `<|im_end|>` or `<end_of_turn>`).
    public let stopIDs: Set<Int32>

    /// A tokenizer with its template; stop ids are EOS and the template's end-of-turn token when the vocabulary has them.
    public init(tokenizer: any Tokenizing, template: ChatTemplate) {
        self.tokenizer = tokenizer
        self.template = template
        var stop = Set<Int32>()
        if let e = tokenizer.specialIDs.eos { stop.insert(e) }
        if let e = tokenizer.specialID(template.endOfTurn) { stop.insert(e) }
        stopIDs = stop
    }

    /// The template `jinja` describes, or `.unsupported` with why not (naming the file): chat data is then refused, not
    /// rendered in a format the model was not trained on.
    static func template(jinja: String, source: String) -> ChatTemplate {
        do { return try ChatTemplate(jinja: jinja) } catch let e as TokenizerError {
            return .unsupported("\(source): chat_template: \(e.message)")
        } catch { return .unsupported("\(source): chat_template: \(error)") }
    }

    /// The tokenizer of a weight source: a GGUF file's own, or an HF folder's `tokenizer.json`.
    public static func load(for source: WeightSource) throws -> ModelTokenizer {
        if let g = source as? GGUFWeightSource {
            let tok: any Tokenizing = g.file.string("tokenizer.ggml.model") == "llama"
                ? try SentencePieceTokenizer(gguf: g.file) : try BPETokenizer(gguf: g.file)
            // a template loratop cannot render blocks chat data only, not plain text
            let template = g.file.string("tokenizer.chat_template").map { Self.template(jinja: $0, source: g.file.mapped.path) } ?? .chatML
            return ModelTokenizer(tokenizer: tok, template: template)
        }
        if let h = source as? HFFolderWeightSource {
            let url = URL(fileURLWithPath: h.folder).appendingPathComponent("tokenizer.json")
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw TokenizerError(source: h.folder, message: "no tokenizer.json in the model folder",
                                     hint: "copy the model's tokenizer.json next to config.json")
            }
            let tok = try BPETokenizer.load(tokenizerJSON: url)  // reads tokenizer_config.json's add_bos_token too
            var template = ChatTemplate.chatML
            let cfg = URL(fileURLWithPath: h.folder).appendingPathComponent("tokenizer_config.json")
            if let data = try? RegularFile.contents(cfg.path),
               let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
               let jinja = json["chat_template"] as? String {
                template = Self.template(jinja: jinja, source: cfg.path)
            }
            return ModelTokenizer(tokenizer: tok, template: template)
        }
        throw TokenizerError(source: source.origin, message: "no tokenizer for this kind of model source", hint: "use a GGUF file or a Hugging Face folder")
    }
}
