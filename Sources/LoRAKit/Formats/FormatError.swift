/// A model or adapter file that cannot be read or written: names the file, the field or tensor,
/// what was expected and what was found, and a hint.
public struct FormatError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file or folder.
    public let file: String
    /// The header field, metadata key or tensor name at fault.
    public let field: String
    /// What was expected and what was found.
    public let message: String
    /// What the person can do about it.
    public let hint: String

    /// Builds an error naming the file, the field, expected vs found, and a hint.
    public init(file: String, field: String, message: String, hint: String = "") {
        self.file = file
        self.field = field
        self.message = message
        self.hint = hint
    }

    /// The message as printed: the field (often a name read from the file) escaped and cut to 80 characters, the
    /// message escaped and cut to 400.
    public var description: String {
        let text = "\(file): \(Printable.escaped(field)): \(Printable.escaped(message, limit: 400))"
        return hint.isEmpty ? text : text + " (hint: \(hint))"
    }
}
