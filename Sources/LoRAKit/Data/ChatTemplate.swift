import Foundation

/// One chat message, as JSONL `{"messages": [{"role": ..., "content": ...}]}` writes it.
public struct ChatMessage: Codable, Sendable, Equatable {
    /// `system`, `user` or `assistant`.
    public var role: String
    /// The text.
    public var content: String

    /// A message.
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// A tokenized sequence and which tokens the loss trains on.
public struct TokenizedExample: Sendable, Equatable {
    /// Token ids.
    public var ids: [Int32]
    /// `trained[t]`: predicting `ids[t]` (from position t−1) counts in the loss.
    public var trained: [Bool]

    /// An example; `trained` must have one flag per id.
    public init(ids: [Int32], trained: [Bool]) {
        precondition(ids.count == trained.count, "TokenizedExample: one trained flag per id")
        self.ids = ids
        self.trained = trained
    }

    /// Number of tokens the loss counts (the first token is never predicted).
    public var trainedCount: Int { trained.dropFirst().reduce(0) { $0 + ($1 ? 1 : 0) } }
}

/// A chat format, recognised from the model's Jinja template:
/// - ChatML as SmolLM2 and Qwen render it: `<|im_start|>{role}\n{content}<|im_end|>\n` per message, a default system
///   message first when the conversation has none, and `<|im_start|>assistant\n` for a generation prompt;
/// - Gemma's (2 and 3): `<bos>` first, then `<start_of_turn>{user|model}\n{content, trimmed}<end_of_turn>\n` per
///   message, a system message's content put before the first turn's (followed by a blank line), and
///   `<start_of_turn>model\n` for a generation prompt.
public struct ChatTemplate: Sendable, Equatable {
    /// The formats loratop renders; `unsupported` is a model whose template is neither (its plain-text and
    /// prompt-completion data still train; chat data and `--chat` are refused with `unsupportedReason`).
    public enum Format: String, Sendable, Equatable {
        case chatML, gemma, unsupported
    }

    /// Inserted as a system message when the first message is not one; nil for plain ChatML (ChatML only).
    public var defaultSystemPrompt: String?
    /// How messages are written.
    public var format: Format = .chatML
    /// Why the model's template cannot be rendered (with `.unsupported`).
    public var unsupportedReason: String?

    /// A template loratop cannot render, remembered with the reason (`ChatTemplate(jinja:)`'s error).
    public static func unsupported(_ reason: String) -> ChatTemplate {
        var t = ChatTemplate(defaultSystemPrompt: nil)
        t.format = .unsupported
        t.unsupportedReason = reason
        return t
    }

    /// A ChatML template with an optional default system prompt.
    public init(defaultSystemPrompt: String?) {
        self.defaultSystemPrompt = defaultSystemPrompt
    }

    /// Gemma's template.
    public static let gemma: ChatTemplate = {
        var t = ChatTemplate(defaultSystemPrompt: nil)
        t.format = .gemma
        return t
    }()

    /// The special token that closes a turn (generation stops on it).
    public var endOfTurn: String { format == .gemma ? "<end_of_turn>" : "<|im_end|>" }

    /// SmolLM2-Instruct's template.
    public static let smolLM2 = ChatTemplate(defaultSystemPrompt: "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
    /// ChatML without a default system message.
    public static let chatML = ChatTemplate(defaultSystemPrompt: nil)

    /// Recognises a ChatML Jinja template (GGUF `tokenizer.chat_template`) and reads its default system prompt.
    public init(jinja: String) throws {
        if jinja.contains("<start_of_turn>"), jinja.contains("<end_of_turn>") {
            self = .gemma
            return
        }
        guard jinja.contains("<|im_start|>"), jinja.contains("<|im_end|>") else {
            throw TokenizerError(source: "tokenizer.chat_template", message: "not a ChatML or Gemma template (expected <|im_start|>…<|im_end|> or <start_of_turn>…<end_of_turn>, found \(Printable.escaped(String(jinja.prefix(60)), limit: 60))…)",
                                 hint: "loratop renders ChatML and Gemma's format; use such a model or plain-text / prompt-completion data")
        }
        let text = jinja.replacingEscapedNewlines()
        let head = "<|im_start|>system\n"
        if let r = text.range(of: head), let e = text.range(of: "<|im_end|>", range: r.upperBound..<text.endIndex) {
            let prompt = String(text[r.upperBound..<e.lowerBound])
            // A system header followed by template code (`' + message['content']`) is not a literal default prompt.
            self.defaultSystemPrompt = prompt.contains("'") || prompt.contains("{") ? nil : prompt
        } else {
            self.defaultSystemPrompt = nil
        }
    }

    /// A rendered piece and whether the loss trains on it.
    public struct Piece: Sendable, Equatable {
        /// Text of the piece.
        public var text: String
        /// Trained (assistant content and its closing `<|im_end|>`).
        public var trained: Bool
    }

    /// The conversation as pieces; concatenated they are the rendered text.
    public func pieces(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> [Piece] {
        if format == .gemma { return gemmaPieces(messages, addGenerationPrompt: addGenerationPrompt) }
        var out = [Piece]()
        if let system = defaultSystemPrompt, messages.first?.role != "system" {
            out.append(Piece(text: "<|im_start|>system\n" + system + "<|im_end|>\n", trained: false))
        }
        for m in messages {
            let assistant = m.role == "assistant"
            out.append(Piece(text: "<|im_start|>" + m.role + "\n", trained: false))
            out.append(Piece(text: m.content + "<|im_end|>", trained: assistant))
            out.append(Piece(text: "\n", trained: false))
        }
        if addGenerationPrompt { out.append(Piece(text: "<|im_start|>assistant\n", trained: false)) }
        return out
    }

    /// Gemma's turns: the system message's content joins the first turn's, the assistant is `model`, contents are trimmed
    /// of surrounding whitespace; trained are the assistant's content and its `<end_of_turn>`.
    private func gemmaPieces(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> [Piece] {
        var out = [Piece(text: "<bos>", trained: false)]
        var prefix = ""
        var rest = messages[...]
        if let first = messages.first, first.role == "system" {
            prefix = first.content + "\n\n"
            rest = messages.dropFirst()
        }
        for (i, m) in rest.enumerated() {
            let assistant = m.role == "assistant"
            out.append(Piece(text: "<start_of_turn>" + (assistant ? "model" : m.role) + "\n" + (i == 0 ? prefix : ""), trained: false))
            out.append(Piece(text: m.content.trimmingCharacters(in: .whitespacesAndNewlines) + "<end_of_turn>", trained: assistant))
            out.append(Piece(text: "\n", trained: false))
        }
        if addGenerationPrompt { out.append(Piece(text: "<start_of_turn>model\n", trained: false)) }
        return out
    }

    /// The rendered text (what transformers' `apply_chat_template(tokenize=False)` returns).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        pieces(messages, addGenerationPrompt: addGenerationPrompt).map(\.text).joined()
    }

    /// Token ids of the rendered text, trained on assistant turns only: a token is trained when its bytes
    /// overlap an assistant message's content or its closing `<|im_end|>`.
    public func encode(_ messages: [ChatMessage], addGenerationPrompt: Bool, tokenizer: any Tokenizing) -> TokenizedExample {
        let parts = pieces(messages, addGenerationPrompt: addGenerationPrompt)
        var spans = [Range<Int>]()
        var at = 0
        for p in parts {
            let n = p.text.utf8.count
            if p.trained { spans.append(at..<(at + n)) }
            at += n
        }
        let ids = tokenizer.encode(parts.map(\.text).joined())
        let offsets = tokenizer.byteOffsets(of: ids)
        var trained = [Bool](repeating: false, count: ids.count)
        var s = 0
        for t in 0..<ids.count {
            let lo = offsets[t], hi = offsets[t + 1]
            while s < spans.count && spans[s].upperBound <= lo { s += 1 }
            if s < spans.count && spans[s].lowerBound < hi && lo < hi { trained[t] = true }
        }
        return TokenizedExample(ids: ids, trained: trained)
    }
}

extension String {
    /// Jinja string literals may write a newline as `\n`; the GGUF template stores real newlines. Accept both.
    fileprivate func replacingEscapedNewlines() -> String {
        var out = ""
        var it = makeIterator()
        while let c = it.next() {
            if c == "\\" {
                if let d = it.next() {
                    if d == "n" { out.append("\n") } else { out.append(c); out.append(d) }
                } else { out.append(c) }
            } else {
                out.append(c)
            }
        }
        return out
    }
}
