/// Where frames go and keys come from. `NCursesBackend` drives a real terminal; `TextBackend` records frames for tests.
/// Use a backend from one thread only (curses is not thread-safe).
public protocol TerminalBackend: AnyObject {
    /// The current size in cells.
    var size: Size { get }
    /// The colour depth frames are shown with (build a `Palette` with it).
    var colorDepth: ColorDepth { get }
    /// Shows a frame, writing only the cells that differ from the previous one (all of them after a resize or
    /// `invalidate()`).
    func present(_ frame: CellBuffer)
    /// Waits up to `timeoutMilliseconds` (negative = forever) for a key; nil when none came.
    func readKey(timeoutMilliseconds: Int) -> Key?
    /// Forgets the previous frame so the next `present` repaints everything (Ctrl-L, after resume).
    func invalidate()
    /// Restores the terminal. Idempotent; later calls do nothing.
    func shutdown()
}
