/// An in-memory backend for tests: keeps the last frame as text, counts the cells and ANSI bytes each frame would
/// write, and replays queued keys.
public final class TextBackend: TerminalBackend {
    /// The current size.
    public private(set) var size: Size
    /// The depth colours are reported at.
    public var colorDepth: ColorDepth
    /// The last frame presented.
    public private(set) var frame: CellBuffer?
    /// Cells written by the last `present` (changed cells only).
    public private(set) var lastChanges: [CellChange] = []
    /// Bytes a VT terminal would have received for the last frame (see `ANSIEncoder`).
    public private(set) var lastFrameBytes = 0
    /// Bytes over all frames.
    public private(set) var totalBytes = 0
    /// Frames presented.
    public private(set) var frameCount = 0
    /// True after `shutdown()`.
    public private(set) var isShutDown = false
    private var keys: [Key] = []
    private var previous: CellBuffer?

    /// Makes a backend of a size.
    public init(width: Int, height: Int, colorDepth: ColorDepth = .ansi256) {
        size = Size(width: width, height: height); self.colorDepth = colorDepth
    }

    /// Adds keys to be returned by `readKey`, in order.
    public func enqueue(_ more: [Key]) { keys += more }

    /// Changes the size and queues a `.resize` key, like a terminal would.
    public func resize(width: Int, height: Int) {
        size = Size(width: width, height: height); keys.append(.resize)
    }

    /// Records the frame and what changed.
    public func present(_ frame: CellBuffer) {
        guard !isShutDown else { return }
        lastChanges = frame.changes(since: previous)
        let bytes = ANSIEncoder(depth: colorDepth).encode(lastChanges).count
        lastFrameBytes = bytes; totalBytes += bytes; frameCount += 1
        previous = frame; self.frame = frame
    }

    /// The next queued key (the timeout is ignored).
    public func readKey(timeoutMilliseconds: Int) -> Key? { keys.isEmpty ? nil : keys.removeFirst() }

    /// Forgets the previous frame.
    public func invalidate() { previous = nil }

    /// Marks the backend shut down.
    public func shutdown() { isShutDown = true }

    /// The last frame's rows as text (empty before the first frame).
    public var lines: [String] { frame?.lines() ?? [] }
}
