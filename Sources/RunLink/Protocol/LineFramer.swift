/// Splits a byte stream into newline-terminated lines of at most `limit` bytes (the protocol's 1 MiB). Feed it bytes
/// as they arrive; it keeps at most one partial line, so memory stays bounded whatever the peer sends.
public struct LineFramer: Sendable {
    /// The largest line accepted, newline excluded.
    public let limit: Int
    private var partial: [UInt8] = []

    /// A framer for lines of at most `limit` bytes (default 1 MiB).
    public init(limit: Int = 1 << 20) {
        self.limit = limit
    }

    /// What feeding bytes found.
    public enum Output: Equatable, Sendable {
        /// A whole line (without its newline; a trailing `\r` is dropped too).
        case line([UInt8])
        /// A line grew past the limit; the connection should be closed.
        case tooLong
    }

    /// Bytes waiting for their newline.
    public var bufferedCount: Int { partial.count }

    /// Appends bytes and returns the lines they complete (and `.tooLong` last, when the limit was passed).
    public mutating func feed<C: Collection>(_ bytes: C) -> [Output] where C.Element == UInt8 {
        var out: [Output] = []
        var start = bytes.startIndex
        while let nl = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) {
            let piece = bytes[start..<nl]
            if partial.count + piece.count > limit {
                partial.removeAll()
                out.append(.tooLong)
                return out
            }
            var line = partial
            line.append(contentsOf: piece)
            partial.removeAll(keepingCapacity: true)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            out.append(.line(line))
            start = bytes.index(after: nl)
        }
        let rest = bytes[start...]
        if partial.count + rest.count > limit {
            partial.removeAll()
            out.append(.tooLong)
            return out
        }
        partial.append(contentsOf: rest)
        return out
    }
}
