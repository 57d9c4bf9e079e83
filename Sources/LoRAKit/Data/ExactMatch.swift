import Foundation

/// Exact match after normalisation: trim, collapse whitespace runs to one space, case-fold.
public enum ExactMatch {
    /// The normalised form two answers are compared in.
    public static func normalize(_ s: String) -> String {
        s.lowercased().split(whereSeparator: { $0.isWhitespace }).joined(separator: " ")
    }

    /// Whether `generated` equals `reference` after normalisation.
    public static func matches(_ generated: String, _ reference: String) -> Bool {
        normalize(generated) == normalize(reference)
    }

    /// Fraction of pairs that match (0 when empty).
    public static func score(generated: [String], references: [String]) -> Double {
        precondition(generated.count == references.count, "ExactMatch.score: one generated answer per reference")
        guard !references.isEmpty else { return 0 }
        let hits = zip(generated, references).filter { matches($0, $1) }.count
        return Double(hits) / Double(references.count)
    }
}

/// A held-out question with its reference answer, for exact-match evaluation.
public struct EvalExample: Sendable, Equatable {
    /// What the model is given.
    public enum Prompt: Sendable, Equatable {
        /// Chat messages before the answer; rendered with the template and a generation prompt.
        case chat([ChatMessage])
        /// A raw prompt (prompt/completion data), encoded as is.
        case raw(String)
    }

    /// The prompt.
    public var prompt: Prompt
    /// The reference answer (the last assistant message, the completion or the output).
    public var reference: String
    /// Line in the dataset file.
    public var line: Int

    /// Token ids to generate from.
    public func promptIDs(template: ChatTemplate, tokenizer: any Tokenizing) -> [Int32] {
        switch prompt {
        case .chat(let messages): return tokenizer.encode(template.render(messages, addGenerationPrompt: true))
        case .raw(let text): return tokenizer.bosPrefix + tokenizer.encode(text)
        }
    }

    /// Prompt/answer pairs of a chat, prompt/completion or Alpaca file; the answer is the last assistant turn.
    public static func extract(from file: DatasetFile) throws -> [EvalExample] {
        switch file.format {
        case .plainText, .text:
            throw DatasetError(file: file.path, line: nil,
                               message: "exact match needs prompts and answers (expected chat, prompt/completion or alpaca lines, found \(file.format.rawValue))",
                               hint: "use a {\"messages\"} eval file, or evaluate by loss only")
        case .chat, .alpaca, .promptCompletion:
            return file.records.compactMap { line, record in
                if case .promptCompletion(let p, let c) = record { return EvalExample(prompt: .raw(p), reference: c, line: line) }
                guard let messages = record.messages, let last = messages.lastIndex(where: { $0.role == "assistant" }) else { return nil }
                return EvalExample(prompt: .chat(Array(messages[..<last])), reference: messages[last].content, line: line)
            }
        }
    }
}
