import CNCurses
import Foundation

/// Options for starting curses.
public struct NCursesOptions: Sendable {
    /// A colour depth to use instead of what curses reports (still capped by it); NO_COLOR always wins.
    public var forcedColorDepth: ColorDepth?
    /// Environment consulted for NO_COLOR.
    public var environment: [String: String]
    /// Install atexit and fatal-signal handlers that restore the terminal (see `NCursesBackend.installRestoreHandlers`).
    public var installRestoreHandlers: Bool
    /// Also restore-and-exit on SIGINT (Ctrl-C). Leave false if the app handles SIGINT itself.
    public var restoreOnInterrupt: Bool
    /// Terminal type for terminfo (nil = $TERM).
    public var terminalType: String?
    /// Input file descriptor (nil = stdin); with `outputFD`, lets tests drive a pseudo-terminal.
    public var inputFD: Int32?
    /// Output file descriptor (nil = stdout).
    public var outputFD: Int32?

    /// Makes options.
    public init(forcedColorDepth: ColorDepth? = nil, environment: [String: String] = ProcessInfo.processInfo.environment,
                installRestoreHandlers: Bool = true, restoreOnInterrupt: Bool = true, terminalType: String? = nil,
                inputFD: Int32? = nil, outputFD: Int32? = nil) {
        self.forcedColorDepth = forcedColorDepth; self.environment = environment
        self.installRestoreHandlers = installRestoreHandlers; self.restoreOnInterrupt = restoreOnInterrupt
        self.terminalType = terminalType; self.inputFD = inputFD; self.outputFD = outputFD
    }
}

/// Why curses could not start.
public struct TerminalStartError: Error, CustomStringConvertible, Sendable {
    /// What went wrong and a hint.
    public var description: String
}

/// The curses backend: the only code in the project that talks to ncurses. One per process, used from one thread.
/// It writes only changed cells, keeps a colour-pair cache, and restores the terminal on `shutdown()`, at exit and
/// on fatal signals.
public final class NCursesBackend: TerminalBackend {
    /// The size after the last resize.
    public private(set) var size: Size
    /// The colour depth in use.
    public let colorDepth: ColorDepth
    /// What curses reported as COLORS.
    public let cursesColors: Int
    private let maxPairs: Int
    private var pairs: [PairKey: Int32] = [:]
    private var nextPair: Int32 = 1
    private var previous: CellBuffer?
    private var closed = false
    private let inputFD: Int32
    /// True once the terminal has gone (hang-up, EIO): the app should detach or exit, never keep polling it.
    public private(set) var terminalLost = false

    private struct PairKey: Hashable { var fg: Int32; var bg: Int32 }

    /// Starts curses (newterm on stdin/stdout): cbreak, noecho, keypad, ESC delay 25 ms, hidden cursor, default
    /// colours kept. Throws when stdin/stdout is not a terminal curses can use.
    public init(options: NCursesOptions = NCursesOptions()) throws {
        guard isatty(options.inputFD ?? 0) == 1, isatty(options.outputFD ?? 1) == 1 else {
            throw TerminalStartError(description: "stdin/stdout is not a terminal (hint: run in a terminal, or use --headless)")
        }
        inputFD = options.inputFD ?? 0
        if options.installRestoreHandlers { cnc_install_restore_handlers(options.restoreOnInterrupt ? 1 : 0) }
        var colors: Int32 = 0, pairCount: Int32 = 0
        let started: Int32
        if let t = options.terminalType {
            started = t.withCString { cnc_start_on($0, options.inputFD ?? -1, options.outputFD ?? -1, &colors, &pairCount) }
        } else {
            started = cnc_start_on(nil, options.inputFD ?? -1, options.outputFD ?? -1, &colors, &pairCount)
        }
        guard started == 0 else {
            let term = options.terminalType ?? options.environment["TERM"] ?? "(unset)"
            throw TerminalStartError(description: "curses could not start on TERM=\(term) (hint: set TERM to a known terminal, e.g. xterm-256color, or use --headless)")
        }
        cursesColors = Int(colors)
        maxPairs = Int(pairCount)
        colorDepth = ColorCapability.effective(environment: options.environment, cursesColors: Int(colors),
                                               forced: options.forcedColorDepth)
        var r: Int32 = 0, c: Int32 = 0
        cnc_size(&r, &c)
        size = Size(width: Int(c), height: Int(r))
    }

    deinit { shutdown() }

    /// Why a full-screen UI cannot run on terminal type `term` ($TERM), or nil when it can: no TERM, `dumb`, or a type
    /// terminfo does not know (curses would draw nothing, or garbage).
    public static func unusableTerminal(_ term: String?) -> String? {
        guard let term, !term.isEmpty else { return "TERM is not set" }
        if term == "dumb" { return "TERM=dumb cannot show a full-screen display" }
        if cnc_terminal_known(term) == 0 { return "terminfo has no entry for TERM=\(term)" }
        return nil
    }

    /// Installs atexit and fault handlers (SIGQUIT, SIGABRT, SIGSEGV, SIGBUS) that restore the terminal and then let
    /// the signal take its default action. SIGINT, SIGTERM, SIGHUP and SIGTSTP are left to the program's own signal
    /// owner. Safe to call more than once.
    public static func installRestoreHandlers(includeInterrupt: Bool = true) {
        cnc_install_restore_handlers(includeInterrupt ? 1 : 0)
    }

    /// Writes the changed cells and updates the terminal.
    public func present(_ frame: CellBuffer) {
        guard !closed else { return }
        for change in frame.changes(since: previous) where !change.cell.isContinuation {
            put(change)
        }
        previous = frame
        cnc_flush()
    }

    private func put(_ change: CellChange) {
        let style = change.cell.style
        var flags: Int32 = 0
        if style.attributes.contains(.bold) { flags |= Int32(CNC_BOLD) }
        if style.attributes.contains(.dim) { flags |= Int32(CNC_DIM) }
        if style.attributes.contains(.reverse) { flags |= Int32(CNC_REVERSE) }
        if style.attributes.contains(.underline) { flags |= Int32(CNC_UNDERLINE) }
        var fg = cursesColor(style.fg), bg = cursesColor(style.bg)
        // With only 8 colours, draw bright foregrounds as bold normal ones.
        if cursesColors < 16 {
            if fg >= 8 { fg -= 8; flags |= Int32(CNC_BOLD) }
            if bg >= 8 { bg -= 8 }
        }
        let pair = pairNumber(fg: fg, bg: bg)
        var wide: [wchar_t] = change.cell.symbol.unicodeScalars.prefix(Int(CCHARW_MAX) - 1).map { wchar_t(bitPattern: $0.value) }
        if wide.isEmpty { wide = [wchar_t(32)] }
        wide.append(0)
        _ = cnc_put(Int32(change.y), Int32(change.x), wide, flags, pair)
    }

    private func cursesColor(_ c: Color) -> Int32 {
        switch c.degraded(to: colorDepth) {
        case .default: return -1
        case .indexed(let i): return Int32(i)
        case .rgb(let v): return (Int32(v.r) << 16) | (Int32(v.g) << 8) | Int32(v.b)
        }
    }

    private func pairNumber(fg: Int32, bg: Int32) -> Int32 {
        if fg == -1 && bg == -1 { return 0 }
        let key = PairKey(fg: fg, bg: bg)
        if let p = pairs[key] { return p }
        guard Int(nextPair) < maxPairs else { return 0 }   // out of pairs: fall back to default colours
        let p = nextPair
        nextPair += 1
        _ = cnc_init_pair(p, fg, bg)
        pairs[key] = p
        return p
    }

    /// Waits for a key; resizes update `size` and return `.resize`; mouse events are skipped.
    public func readKey(timeoutMilliseconds: Int) -> Key? {
        guard !closed, !terminalLost else { return nil }
        var ch: UInt32 = 0
        let r = cnc_read(Int32(clamping: timeoutMilliseconds), &ch)
        guard r >= 0 else {
            if cnc_input_lost(inputFD) == 1 { terminalLost = true }
            return nil
        }
        guard let key = Key.decode(ch, isKeyCode: r == 1) else { return nil }
        if key == .resize {
            var rows: Int32 = 0, cols: Int32 = 0
            cnc_size(&rows, &cols)
            size = Size(width: Int(cols), height: Int(rows))
            previous = nil
        }
        return key
    }

    /// Forgets the previous frame and makes the next update repaint the whole screen.
    public func invalidate() {
        previous = nil
        cnc_clear_screen()
    }

    /// Suspends like Ctrl-Z: leaves curses mode, stops the process, and on `fg` (SIGCONT) comes back with a full
    /// repaint. Call it when the app reads Ctrl-Z as a key (in cbreak mode the terminal sends SIGTSTP and ncurses'
    /// own handler does the same).
    public func suspend() {
        guard !closed else { return }
        cnc_suspend()
        invalidate()
    }

    /// Leaves curses mode (endwin) and restores the cursor; idempotent.
    public func shutdown() {
        guard !closed else { return }
        closed = true
        cnc_end()
    }
}
