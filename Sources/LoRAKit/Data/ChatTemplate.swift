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
///   `<start_of_turn>model\n` for a generation prompt;
/// - Llama 3.x's: `<|begin_of_text|>` first, then `<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>`
///   per message; Llama 3.1 and later always open with a system turn of "Cutting Knowledge Date: December 2023\nToday
///   Date: {date}\n\n" and the system message (`llamaDate`); `<|start_header_id|>assistant<|end_header_id|>\n\n` for a
///   generation prompt;
/// - Phi-3's: `<|{role}|>\n{content}<|end|>\n` per message, `<|assistant|>\n` for a generation prompt and otherwise
///   `<|endoftext|>` at the end (Phi-3.5 drops an empty system message; early Phi-3 templates begin with `<s>`).
public struct ChatTemplate: Sendable, Equatable {
    /// The formats loratop renders; `unsupported` is a model whose template is none of them (its plain-text and
    /// prompt-completion data still train; chat data and `--chat` are refused with `unsupportedReason`).
    public enum Format: String, Sendable, Equatable {
        case chatML, gemma, llama3, phi3, unsupported
    }

    /// The date Llama 3.1+'s system turn states: the template's own (`date_string`'s default), or today's where the
    /// template asks for it (`strftime_now`, as transformers renders it: the local date as "%d %b %Y").
    public enum LlamaDate: Sendable, Equatable {
        case fixed(String)
        case today
    }

    /// Inserted as a system message when the first message is not one; nil for plain ChatML (ChatML only).
    public var defaultSystemPrompt: String?
    /// How messages are written.
    public var format: Format = .chatML
    /// Why the model's template cannot be rendered (with `.unsupported`).
    public var unsupportedReason: String?
    /// Llama 3.1+'s dated system turn (nil for Llama 3.0's template, where a system message is a turn like any other).
    public var llamaDate: LlamaDate?
    /// Phi-3: the template begins with `<s>` (bos_token), writes a system message even when empty, and ends a
    /// conversation without a generation prompt with `<|endoftext|>` (eos_token).
    public var phiBOS = false, phiEmptySystem = true, phiEOS = true

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
    public var endOfTurn: String {
        switch format {
        case .gemma: return "<end_of_turn>"
        case .llama3: return "<|eot_id|>"
        case .phi3: return "<|end|>"
        case .chatML, .unsupported: return "<|im_end|>"
        }
    }

    /// SmolLM2-Instruct's template.
    public static let smolLM2 = ChatTemplate(defaultSystemPrompt: "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
    /// ChatML without a default system message.
    public static let chatML = ChatTemplate(defaultSystemPrompt: nil)

    /// Recognises a ChatML, Gemma, Llama 3.x or Phi-3 Jinja template (GGUF `tokenizer.chat_template`, tokenizer_config's
    /// `chat_template`) and reads what varies within the family: ChatML's default system prompt, Llama's date.
    public init(jinja: String) throws {
        if jinja.contains("<start_of_turn>"), jinja.contains("<end_of_turn>") {
            self = .gemma
            return
        }
        if jinja.contains("<|start_header_id|>"), jinja.contains("<|eot_id|>") {
            self = try Self.llama3(jinja: jinja)
            return
        }
        if jinja.contains("<|user|>"), jinja.contains("<|assistant|>"), jinja.contains("<|end|>") {
            var t = ChatTemplate(defaultSystemPrompt: nil)
            t.format = .phi3
            t.phiBOS = jinja.contains("bos_token")
            t.phiEmptySystem = !jinja.replacingOccurrences(of: " ", with: "").contains("=='system'andmessage['content']")
            t.phiEOS = jinja.contains("eos_token")
            self = t
            return
        }
        guard jinja.contains("<|im_start|>"), jinja.contains("<|im_end|>") else {
            throw TokenizerError(source: "tokenizer.chat_template", message: "not a ChatML, Gemma, Llama 3 or Phi-3 template (expected <|im_start|>…<|im_end|>, <start_of_turn>…<end_of_turn>, <|start_header_id|>…<|eot_id|> or <|user|>…<|end|>, found \(Printable.escaped(String(jinja.prefix(60)), limit: 60))…)",
                                 hint: "loratop renders ChatML, Gemma's, Llama 3's and Phi-3's formats; use such a model or plain-text / prompt-completion data")
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
        /// Trained (assistant content and its closing end-of-turn token).
        public var trained: Bool
    }

    /// The conversation as pieces; concatenated they are the rendered text.
    public func pieces(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> [Piece] {
        switch format {
        case .gemma: return gemmaPieces(messages, addGenerationPrompt: addGenerationPrompt)
        case .llama3: return llamaPieces(messages, addGenerationPrompt: addGenerationPrompt)
        case .phi3: return phiPieces(messages, addGenerationPrompt: addGenerationPrompt)
        case .chatML, .unsupported: break
        }
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

    /// Llama 3.x's turns: contents trimmed; from 3.1 on a system turn always comes first, with the dates and the system
    /// message (trimmed, or empty); trained are the assistant's content and its `<|eot_id|>`.
    private func llamaPieces(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> [Piece] {
        var out = [Piece(text: "<|begin_of_text|>", trained: false)]
        var rest = messages[...]
        if let date = llamaDate {
            var system = ""
            if let first = messages.first, first.role == "system" {
                system = first.content.trimmingCharacters(in: .whitespacesAndNewlines)
                rest = messages.dropFirst()
            }
            let day: String
            switch date {
            case .fixed(let d): day = d
            case .today: day = Self.llamaDateString(Date())
            }
            out.append(Piece(text: "<|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: "
                               + day + "\n\n" + system + "<|eot_id|>", trained: false))
        }
        for m in rest {
            out.append(Piece(text: "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n", trained: false))
            out.append(Piece(text: m.content.trimmingCharacters(in: .whitespacesAndNewlines) + "<|eot_id|>", trained: m.role == "assistant"))
        }
        if addGenerationPrompt { out.append(Piece(text: "<|start_header_id|>assistant<|end_header_id|>\n\n", trained: false)) }
        return out
    }

    /// Phi-3's turns, contents as written; trained are the assistant's content and its `<|end|>`.
    private func phiPieces(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> [Piece] {
        var out = phiBOS ? [Piece(text: "<s>", trained: false)] : []
        for m in messages where ["system", "user", "assistant"].contains(m.role) {
            if m.role == "system", m.content.isEmpty, !phiEmptySystem { continue }
            out.append(Piece(text: "<|" + m.role + "|>\n", trained: false))
            out.append(Piece(text: m.content + "<|end|>", trained: m.role == "assistant"))
            out.append(Piece(text: "\n", trained: false))
        }
        if addGenerationPrompt {
            out.append(Piece(text: "<|assistant|>\n", trained: false))
        } else if phiEOS {
            out.append(Piece(text: "<|endoftext|>", trained: false))
        }
        return out
    }

    /// A Llama 3.x template: 3.0's plain turns, or 3.1+'s dated system turn with the template's default date or
    /// today's (`strftime_now`).
    private static func llama3(jinja: String) throws -> ChatTemplate {
        var t = ChatTemplate(defaultSystemPrompt: nil)
        t.format = .llama3
        guard jinja.contains("Cutting Knowledge Date") else { return t }
        if jinja.contains("strftime_now") {
            t.llamaDate = .today
        } else if let r = jinja.range(of: #"set date_string = ""#), let e = jinja[r.upperBound...].firstIndex(of: "\"") {
            t.llamaDate = .fixed(String(jinja[r.upperBound..<e]))
        } else {
            throw TokenizerError(source: "tokenizer.chat_template", message: "a Llama 3.1+ template without the date it states (expected `set date_string = \"…\"` or strftime_now)",
                                 hint: "use the model's published template, or plain-text / prompt-completion data")
        }
        return t
    }

    /// A date as Llama 3.2's template writes it through transformers' strftime_now("%d %b %Y"): "06 Dec 2026", local time.
    /// (A calendar's fields rather than a DateFormatter: this runs once per rendered conversation of a dataset.)
    public static func llamaDateString(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone.current
        let d = calendar.dateComponents([.day, .month, .year], from: date)
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let day = d.day ?? 1, month = months[min(11, max(0, (d.month ?? 1) - 1))], year = d.year ?? 1970
        return (day < 10 ? "0" : "") + String(day) + " " + month + " " + String(year)
    }

    /// The rendered text (what transformers' `apply_chat_template(tokenize=False)` returns).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool) -> String {
        pieces(messages, addGenerationPrompt: addGenerationPrompt).map(\.text).joined()
    }

    /// Token ids of the rendered text, trained on assistant turns only: a token is trained when its bytes
    /// overlap an assistant message's content or its closing end-of-turn token.
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
