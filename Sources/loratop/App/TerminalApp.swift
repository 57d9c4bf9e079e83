import Dispatch
import Foundation
import LoRAKit
import RunLink
import TerminalUI

/// How the interactive UI looks and what it shows besides the engine's snapshots.
struct AppOptions {
    /// An extra theme folder searched first (`--themes-dir`).
    var themesDir: String?
    /// The theme to start with (`--theme`; nil = "default").
    var themeName: String?
    /// Frame cap in frames per second (`--fps`).
    var fps: Int = 10
    /// Draw with ASCII only (`--ascii`); also chosen when the locale is not UTF-8.
    var forceASCII = false
    /// The model's name for the header.
    var modelName = ""
    /// The dataset's name for the header.
    var dataName = ""
    /// This run's memory figures; called on the UI thread about once a second, so it must not wait for the engine.
    var memoryProvider: (@Sendable () -> MemoryFigures?)?
    /// Theme folders searched after the standard ones (default: the repository's themes/ found near the binary).
    var themeFolders: [String] = AppOptions.defaultThemeFolders()
    /// The environment (NO_COLOR, TERM, LORATOP_UI_STATS).
    var environment: [String: String] = ProcessInfo.processInfo.environment

    /// Folders named `themes` holding `.theme` files, looked for next to the binary and up to five folders above it
    /// (a SwiftPM build sits in <package>/.build/<config>/), and in the current directory.
    static func defaultThemeFolders(executable: String? = CommandLine.arguments.first,
                                    currentDirectory: String = FileManager.default.currentDirectoryPath) -> [String] {
        var candidates: [URL] = []
        if let exe = executable, !exe.isEmpty {
            var dir = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
            for _ in 0..<6 {
                candidates.append(dir.appendingPathComponent("themes"))
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append(URL(fileURLWithPath: currentDirectory).appendingPathComponent("themes"))
        var seen = Set<String>()
        return candidates.map(\.standardizedFileURL.path).filter { path in
            guard seen.insert(path).inserted,
                  let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return false }
            return names.contains { $0.hasSuffix(".theme") }
        }
    }
}

/// How the interactive UI ended.
enum AppExit: Equatable, Sendable {
    /// The user stopped the run; `saved` when a final checkpoint was written on the way out.
    case quit(saved: Bool)
    /// Training had finished (or failed) and the user left.
    case finished
    /// The user detached (or the terminal went away); the run goes on.
    case detached
    /// SIGINT or SIGTERM stopped the run after saving (foreground runs), or made the viewer leave.
    case signal(Int32)
    /// The connection to the run ended while watching.
    case disconnected(String)
}

extension AppKey {
    /// The app's view of a terminal key; nil for keys the app does not use.
    init?(_ key: Key) {
        switch key {
        case .char(let c): self = .char(c)
        case .ctrl(let c): self = .ctrl(c)
        case .function(1): self = .f1
        case .up: self = .up
        case .down: self = .down
        case .left: self = .left
        case .right: self = .right
        case .pageUp: self = .pageUp
        case .pageDown: self = .pageDown
        case .escape: self = .escape
        case .enter: self = .enter
        default: return nil
        }
    }
}

/// What a signal means to a viewer: in a viewer of a detached run, SIGHUP and SIGTERM detach (the run goes on) and
/// SIGINT opens the quit prompt; in a foreground run (the training is in this process) SIGINT and SIGTERM stop and
/// save the run, and SIGHUP only detaches the viewer.
enum ViewerSignalPolicy: Sendable {
    case detachedRun
    case foregroundRun
}

/// Signals the signal thread has delivered, for the UI thread to take (it alone touches curses).
final class SignalInbox: @unchecked Sendable {
    private let lock = NSLock()
    private var queued: [Int32] = []

    /// Adds a signal (from the signal thread).
    func post(_ sig: Int32) {
        lock.lock()
        queued.append(sig)
        lock.unlock()
    }

    /// The signals posted since the last call, oldest first.
    func take() -> [Int32] {
        lock.lock()
        defer { lock.unlock() }
        let q = queued
        queued.removeAll()
        return q
    }
}

/// Runs the interactive UI on a connection to a run until the user stops, detaches or leaves; returns how it ended.
/// Theme problems go to stderr before curses starts; an unknown `--theme` throws `ThemeNotFound`, and a stdin/stdout
/// that is not a terminal throws `TerminalStartError`.
func runTerminalApp(client: RunClient, options: AppOptions, policy: ViewerSignalPolicy, readOnly: Bool = false) throws -> AppExit {
    let themes = ThemeSet(options: options)
    for p in themes.library.problems { Output.err("loratop: theme: \(p)\n") }
    let startTheme = options.themeName ?? "default"
    _ = try themes.library.theme(named: startTheme)
    let glyphs = GlyphSet.detect(forceASCII: options.forceASCII)

    let backendBox = BackendBox.shared
    let inbox = SignalInbox()
    ProcessSignals.shared.handle { sig in inbox.post(sig) }
    defer { ProcessSignals.shared.handle(nil) }
    let backend = try NCursesBackend(options: NCursesOptions(environment: options.environment,
                                                             installRestoreHandlers: true, restoreOnInterrupt: false))
    backendBox.set(backend)
    var loop = AppLoop(client: client, backend: backend, options: options, themes: themes, glyphs: glyphs,
                       startTheme: startTheme)
    loop.state.canSend = !readOnly
    let exit = loop.run(signals: inbox, policy: policy)
    backend.shutdown()
    if options.environment["LORATOP_UI_STATS"] == "1" {
        Output.err((loop.stats.summary() + "\n"))
    }
    return exit
}

/// The theme library and a cache of resolved themes.
final class ThemeSet {
    let library: ThemeLibrary
    private var cache: [String: Theme] = [:]

    init(options: AppOptions) {
        library = ThemeLibrary(searchPaths: ThemeLibrary.standardSearchPaths(
            themesDir: options.themesDir, environment: options.environment, extra: options.themeFolders))
    }

    /// The theme of a name, or the built-in default.
    func theme(_ name: String) -> Theme {
        if let t = cache[name] { return t }
        let t = (try? library.theme(named: name)) ?? .builtinDefault
        cache[name] = t
        return t
    }
}

/// Lets the emergency path (a second Ctrl-C) restore the terminal from the signal queue before exiting.
final class BackendBox: @unchecked Sendable {
    /// The running app's backend (there is one curses screen per process).
    static let shared = BackendBox()
    private let lock = NSLock()
    private var backend: NCursesBackend?

    func set(_ b: NCursesBackend) { lock.lock(); backend = b; lock.unlock() }

    func emergencyShutdown() {
        lock.lock()
        let b = backend
        lock.unlock()
        b?.shutdown()
    }
}

/// Counts frames and the UI thread's CPU time (reported at exit with LORATOP_UI_STATS=1).
struct UIStats {
    private let startWall = DispatchTime.now().uptimeNanoseconds
    private let startCPU = UIStats.threadCPUSeconds()
    /// Frames presented.
    var frames = 0
    /// Keys read.
    var keys = 0
    /// Snapshots taken in.
    var snapshots = 0

    /// CPU seconds (user + system) used by the calling thread.
    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        guard clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0 else { return 0 }
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// "ui: 300 frames in 30.0 s (10.0 fps), UI thread CPU 0.42 s = 1.4% of one core, …".
    func summary() -> String {
        let wall = Double(DispatchTime.now().uptimeNanoseconds - startWall) / 1e9
        let cpu = UIStats.threadCPUSeconds() - startCPU
        return String(format: "loratop ui stats: %d frames in %.1f s (%.1f fps), UI thread CPU %.3f s = %.2f%% of one core, %d keys, %d snapshots",
                      frames, wall, wall > 0 ? Double(frames) / wall : 0, cpu, wall > 0 ? 100 * cpu / wall : 0, keys, snapshots)
    }
}

/// The UI thread's loop: keys and snapshots in, frames out (only on change, never above the frame cap). It draws from a
/// connection to the run (a socket, a socket pair in the run's own process, or ssh's pipes): one code path for all.
struct AppLoop {
    let client: RunClient
    let backend: NCursesBackend
    let options: AppOptions
    let themes: ThemeSet
    let glyphs: GlyphSet
    var state = AppState()
    var stats = UIStats()
    private var context: ViewContext
    private var contextTheme = ""

    init(client: RunClient, backend: NCursesBackend, options: AppOptions, themes: ThemeSet, glyphs: GlyphSet,
         startTheme: String) {
        self.client = client
        self.backend = backend
        self.options = options
        self.themes = themes
        self.glyphs = glyphs
        state.themeNames = themes.library.names
        state.themeIndex = state.themeNames.firstIndex(of: startTheme) ?? 0
        state.modelName = options.modelName
        state.dataName = options.dataName
        state.width = backend.size.width
        state.height = backend.size.height
        context = ViewContext(palette: themes.theme(startTheme).palette(depth: backend.colorDepth), glyphs: glyphs)
        contextTheme = startTheme
    }

    private static func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

    /// Runs until the user stops the run (and it has ended), detaches, leaves a finished run, or the terminal goes.
    mutating func run(signals: SignalInbox, policy: ViewerSignalPolicy) -> AppExit {
        let frameNanos = UInt64(1_000_000_000 / max(1, min(options.fps, 120)))
        var lastFrame: UInt64 = 0
        var dirty = true
        var finishedBeforeQuit = false
        var saveRequested = false
        var exit: AppExit?
        var beat = (half: -1, second: -1)

        func perform(_ effects: [Effect], _ me: inout AppLoop) {
            for e in effects {
                switch e {
                case .send(let c): me.client.send(c)
                case .quit(let save):
                    saveRequested = save
                    finishedBeforeQuit = me.state.snapshot.status.isTerminal
                    me.client.send(.stop(save: save))
                case .redrawAll: me.backend.invalidate()
                case .suspend:
                    if ProcessSignals.jobControlAvailable {
                        me.backend.suspend()
                        me.backend.invalidate()
                    } else {
                        me.state.viewerNote = "Ctrl-Z: no job control here (nothing could resume this viewer); d detaches"
                    }
                case .detach:
                    exit = me.state.snapshot.status.isTerminal ? .finished : .detached
                }
            }
        }

        while exit == nil {
            // The heartbeat: the clock each second, and the spinner, elapsed, ETA and a phase's time twice a second
            // while the engine works, between the snapshots that come only when something ends.
            let seconds = Double(AppLoop.now()) / 1e9
            let wall = Date().timeIntervalSince1970
            _ = reduce(&state, .tick(now: seconds, wall: wall))
            let next = (half: state.busy ? Int(seconds * 2) : beat.half, second: Int(wall))
            if next != beat {
                beat = next
                dirty = true
            }
            for sig in signals.take() {
                switch (sig, policy) {
                case (SIGTSTP, _):
                    perform([.suspend], &self)
                    _ = reduce(&state, .resize(width: backend.size.width, height: backend.size.height))
                case (SIGHUP, _):
                    exit = .detached
                case (SIGINT, .detachedRun):
                    perform(reduce(&state, .key(.char("q"))), &self)
                case (_, .detachedRun):
                    exit = .signal(sig)
                default:
                    if state.stopSignal == nil { perform(reduce(&state, .signal(sig)), &self) }
                }
                dirty = true
            }
            if backend.terminalLost { exit = .detached }
            if exit != nil { break }
            let (snap, memory) = client.latest
            if snap.version != state.snapshot.version {
                perform(reduce(&state, .snapshot(snap)), &self)  // a visible Inside panel may ask for an inspection
                stats.snapshots += 1
                dirty = true
            }
            let unsupported = client.unsupported
            if unsupported != state.unsupported {
                state.unsupported = unsupported
                dirty = true
            }
            let figures = memory.map(MemoryFigures.init(state:))
            if figures != state.memory {
                state.memory = figures
                dirty = true
            }
            // Stopping: done once the run says it has stopped (or the connection is gone).
            if state.quitting != nil && (client.closeReason != nil || state.snapshot.status.isTerminal) { break }
            if let why = client.closeReason, state.disconnected == nil {
                _ = reduce(&state, .disconnected(state.snapshot.status.isTerminal ? "the run is over" : why))
                dirty = true
            }
            let t = AppLoop.now()
            if dirty && t - lastFrame >= frameNanos {
                draw()
                lastFrame = t
                dirty = false
            }
            // Wait for a key until the next frame may be drawn (when something is waiting to be shown) or for a
            // polling interval (snapshots arrive without a wake-up).
            let wait: UInt64 = dirty ? frameNanos - min(frameNanos, AppLoop.now() - lastFrame) : frameNanos
            guard let key = backend.readKey(timeoutMilliseconds: max(1, Int(wait / 1_000_000))) else { continue }
            stats.keys += 1
            if key == .resize {
                perform(reduce(&state, .resize(width: backend.size.width, height: backend.size.height)), &self)
                dirty = true
                continue
            }
            guard let appKey = AppKey(key) else { continue }
            let before = state.themeName
            let tooSmall = state.width < AppView.minimum.width || state.height < AppView.minimum.height
            if tooSmall, appKey == .char("q") || appKey == .ctrl("c") {
                // The too-small screen cannot show the quit prompt: q detaches (the run goes on).
                perform([.detach], &self)
            } else {
                perform(reduce(&state, .key(appKey)), &self)
            }
            if state.themeName != before { contextTheme = "" }
            dirty = true
        }
        if let exit { return exit }
        if let sig = state.stopSignal { return .signal(sig) }
        if finishedBeforeQuit { return .finished }
        let final = client.latest.snapshot
        return .quit(saved: saveRequested && !final.unsavedProgress)
    }

    private mutating func draw() {
        if contextTheme != state.themeName {
            context.palette = themes.theme(state.themeName).palette(depth: backend.colorDepth)
            contextTheme = state.themeName
        }
        let size = backend.size
        state.width = size.width
        state.height = size.height
        backend.present(AppView.render(state, context, size: size))
        stats.frames += 1
    }
}
