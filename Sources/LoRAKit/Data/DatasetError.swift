/// A dataset problem a person must fix, named by file and line: `file:line: what (expected …, found …)` and a hint.
public struct DatasetError: Error, CustomStringConvertible, Equatable {
    /// The dataset file.
    public let file: String
    /// 1-based line, when the problem is on one line.
    public let line: Int?
    /// What was wrong, with expected and found.
    public let message: String
    /// What to do about it.
    public let hint: String

    /// An error at `file:line`.
    public init(file: String, line: Int?, message: String, hint: String) {
        self.file = file
        self.line = line
        self.message = message
        self.hint = hint
    }

    /// `file:line: message` and the hint on the next line.
    public var description: String {
        let place = line.map { "\(file):\($0)" } ?? file
        return "\(place): \(message)\n  hint: \(hint)"
    }
}
