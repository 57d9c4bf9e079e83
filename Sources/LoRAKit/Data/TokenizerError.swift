/// Why a tokenizer could not be built from a file or from model metadata.
public struct TokenizerError: Error, CustomStringConvertible, Equatable {
    /// Where: a file path or a metadata key.
    public let source: String
    /// What was wrong, with expected and found values.
    public let message: String
    /// What to do about it.
    public let hint: String

    /// An error about `source`.
    public init(source: String, message: String, hint: String) {
        self.source = source
        self.message = message
        self.hint = hint
    }

    /// `source: message (hint: ...)`.
    public var description: String { "\(source): \(message)\n  hint: \(hint)" }
}
