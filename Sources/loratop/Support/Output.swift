import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes to stdout and stderr with write(2), never through FileHandle (whose `write` traps on EPIPE and EIO): a
/// terminal that went away, a closed pipe or a full disk make a write fail quietly, never crash the run. Text for stdout
/// and stderr is spelled in ASCII when the locale is not UTF-8 (`TerminalText`); other descriptors (logs) get UTF-8.
enum Output {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var broken: Set<Int32> = []

    /// Writes `text` to a descriptor in full; false when it failed. Once stdout or stderr has failed (the terminal or
    /// pipe is gone) no more attempts are made on it; other descriptors (a log on a full disk) are tried again next time.
    /// `json`: the text is a JSON document (non-ASCII escaped, not spelled out, under a non-UTF-8 locale).
    @discardableResult
    static func write(_ text: String, to fd: Int32, json: Bool = false) -> Bool {
        let isTerminalStream = fd == STDOUT_FILENO || fd == STDERR_FILENO
        let bytes = Array((isTerminalStream ? TerminalText.forTerminal(text, json: json) : text).utf8)
        lock.lock()
        defer { lock.unlock() }
        guard !broken.contains(fd) else { return false }
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                if isTerminalStream { broken.insert(fd) }
                return false
            }
            off += n
        }
        return true
    }

    /// A line on stdout.
    @discardableResult
    static func out(_ line: String) -> Bool { write(line + "\n", to: STDOUT_FILENO) }

    /// Text on stderr, as given (callers end it with a newline).
    static func err(_ text: String) { write(text, to: STDERR_FILENO) }
}
