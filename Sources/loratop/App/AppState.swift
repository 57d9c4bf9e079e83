import LoRAKit

/// Everything that happens to the app, in one enum: keys, resizes, ticks and new snapshots.
enum AppEvent: Sendable {
    case key(AppKey)
    case resize(width: Int, height: Int)
    /// The viewer's clocks: monotonic seconds (elapsed, ETA and a phase's time count on by it between snapshots) and
    /// wall-clock seconds since 1970 (the header's clock).
    case tick(now: Double, wall: Double)
    case snapshot(Snapshot)
    /// New memory figures (accounting, resident set, method comparison).
    case memory(MemoryFigures)
    /// SIGINT or SIGTERM arrived in a process that runs the training itself: stop gracefully, saving first.
    case signal(Int32)
    /// The connection to the run ended (the run stopped, finished and left, or died).
    case disconnected(String)
}

/// What the reducer asks the outside world to do.
enum Effect: Equatable, Sendable {
    /// Send a command to the engine.
    case send(Command)
    /// Leave the app (after the engine has stopped, saving first when asked).
    case quit(save: Bool)
    /// Repaint every cell (Ctrl-L, theme change).
    case redrawAll
    /// Leave curses, stop the process (Ctrl-Z) and repaint on `fg`.
    case suspend
    /// Leave the viewer; the run goes on.
    case detach
}

/// How the loss chart is drawn.
struct ChartOptions: Equatable, Sendable {
    /// Smoothing weights offered by `[` and `]` (TensorBoard's EMA).
    static let smoothingSteps: [Double] = [0, 0.6, 0.8, 0.9, 0.95, 0.99]
    /// Zoom windows offered by `z` (nil = all steps).
    static let zoomSteps: [Int?] = [nil, 500, 100]

    var logY = false
    var smoothingIndex = 3
    var zoomIndex = 0

    var smoothing: Double { ChartOptions.smoothingSteps[smoothingIndex] }
    var window: Int? { ChartOptions.zoomSteps[zoomIndex] }
}

/// The app's state; drawing is a pure function of it.
struct AppState: Sendable {
    var snapshot = Snapshot()
    var chart = ChartOptions()
    /// The Inside panel (key i).
    var inside = InsideState()
    var themeNames: [String] = ["default"]
    var themeIndex = 0
    var showHelp = false
    /// First help line shown (the help scrolls when the terminal is short).
    var helpScroll = 0
    /// The change log overlay (key c): every applied change and what is pending.
    var showChanges = false
    /// How many lines the change log is scrolled back from its newest line.
    var changesBack = 0
    var confirmQuit = false
    var scroll = 0
    var width = 0
    var height = 0
    /// Set when the app should exit (and whether to save first); the app then waits for the engine to stop.
    var quitting: Bool?
    /// The signal that started the stop, if one did.
    var stopSignal: Int32?
    /// Why the connection to the run ended, once it has.
    var disconnected: String?
    /// Whether the viewer may send commands (false for `attach --read-only`).
    var canSend = true
    /// A note of this viewer's own (a key a read-only viewer cannot use, Ctrl-Z without job control); cleared by the
    /// next key.
    var viewerNote: String?
    /// The latest memory figures, when the run provides them.
    var memory: MemoryFigures?
    /// Commands the run cannot do, by kind (`rank`, `quant`, …), with its reasons: their keys are not sent and their
    /// settings are shown greyed with the reason (a PyTorch run cannot change PEFT's rank).
    var unsupported: [String: String] = [:]

    /// Why the run cannot do `command`, when it cannot.
    func unsupportedReason(_ command: Command) -> String? {
        command.line.split(separator: " ").first.flatMap { unsupported[String($0)] }
    }
    /// Model and data names for the header.
    var modelName = ""
    var dataName = ""
    /// The viewer's monotonic clock in seconds, as of the latest tick.
    var now: Double = 0
    /// Wall-clock seconds since 1970, as of the latest tick (the header's clock; 0 = not shown).
    var wallClock: Double = 0
    /// `now` when the latest step or status arrived: while running, elapsed and ETA count on from it.
    var stepSeenAt: Double = 0
    /// `now` when the phase's progress last arrived: its seconds count on from it.
    var progressSeenAt: Double = 0

    /// Seconds spent stepping, counted on since the latest step while the run steps (the engine publishes it only
    /// when a step ends, which is every few seconds on a big model).
    var liveElapsed: Double {
        snapshot.status == .running ? snapshot.elapsed + max(0, now - stepSeenAt) : snapshot.elapsed
    }

    /// Seconds to the planned end, counted down since the latest step while the run steps, but never below what the
    /// steps after the current one need.
    var liveETA: Double? {
        guard let eta = snapshot.eta else { return nil }
        guard snapshot.status == .running else { return eta }
        let after = Double(max(0, snapshot.totalSteps - snapshot.step - 1)) * snapshot.secondsPerStep
        return max(min(eta, after), eta - max(0, now - stepSeenAt))
    }

    /// Seconds the current phase (eval, sampling, saving, re-quantizing) has taken so far.
    var livePhaseSeconds: Double? {
        snapshot.progress.map { $0.seconds + max(0, now - progressSeenAt) }
    }

    /// Whether the engine is working (a busy indicator turns): stepping or in a phase, not paused or ended.
    var busy: Bool {
        if snapshot.progress != nil { return true }
        switch snapshot.status {
        case .running, .evaluating, .sampling, .saving, .starting: return disconnected == nil
        default: return false
        }
    }

    var themeName: String { themeNames.isEmpty ? "default" : themeNames[themeIndex % themeNames.count] }

    /// Settings as they will be once the pending commands apply (so pressing R twice goes 8 → 16 → 32).
    var effectiveSettings: TrainingSettings {
        var s = snapshot.settings
        for c in snapshot.pending {
            switch c {
            case .setRank(let r): s.rank = r
            case .setAlpha(let a): s.alpha = a
            case .setLearningRate(let lr): s.learningRate = lr
            case .setDropout(let p): s.dropout = p
            case .setQuantization(let q): s.quantization = q
            default: break
            }
        }
        return s
    }

    /// Whether pause is pending or in force.
    var pausedOrPausing: Bool {
        if let last = snapshot.pending.last(where: { $0 == .pause || $0 == .resume }) { return last == .pause }
        return snapshot.status == .paused
    }
}

/// Quantization choices cycled by `b`.
let quantCycle = ["none", "int8", "fp4", "nf4", "source"]

/// Updates the state for one event and returns what should happen outside.
func reduce(_ state: inout AppState, _ event: AppEvent) -> [Effect] {
    switch event {
    case .snapshot(let s):
        let old = state.snapshot
        if s.step != old.step || s.status != old.status || s.version < old.version { state.stepSeenAt = state.now }
        if s.progress != old.progress { state.progressSeenAt = state.now }
        state.snapshot = s
        return insideRequest(&state)
    case .resize(let w, let h):
        state.width = w
        state.height = h
        return [.redrawAll]
    case .tick(let now, let wall):
        state.now = now
        state.wallClock = wall
        return []
    case .memory(let m):
        state.memory = m
        return []
    case .disconnected(let why):
        state.disconnected = why
        state.confirmQuit = false
        return []
    case .signal(let sig):
        guard state.quitting == nil else { return [] }
        state.confirmQuit = false
        state.showHelp = false
        state.showChanges = false
        state.quitting = true
        state.stopSignal = sig
        return [.quit(save: true)]
    case .key(let key):
        state.viewerNote = nil
        if state.quitting != nil {
            // Stopping: only redraw still works; everything else waits for the engine.
            return KeyMap.action(for: key) == .redraw ? [.redrawAll] : []
        }
        if state.confirmQuit { return confirmKey(&state, key) }
        guard let action = KeyMap.action(for: key) else { return [] }
        if state.disconnected != nil {
            // The run is gone: only leaving and looking remain.
            if action == .quit || action == .detach { return [.detach] }
            if action.sendsCommand { return [] }
        }
        if !state.canSend, action.sendsCommand {
            state.viewerNote = "read-only viewer: \(KeyMap.label(of: action)) not sent"
            return []
        }
        if state.showHelp, [.scrollUp, .scrollDown, .pageUp, .pageDown].contains(action) {
            return scrollHelp(&state, action)
        }
        if state.showHelp, action != .toggleHelp, action != .quit, action != .redraw, action != .suspend {
            state.showHelp = false
            if action == .cancel { return [] }
        }
        if state.showChanges, [.scrollUp, .scrollDown, .pageUp, .pageDown].contains(action) {
            return scrollChanges(&state, action)
        }
        if state.showChanges, action != .toggleChanges, action != .quit, action != .redraw, action != .suspend {
            state.showChanges = false
            if action == .cancel { return [] }
        }
        return refuseUnsupported(&state, perform(&state, action))
    }
}

/// Drops the commands the run has said it cannot do, with its reason as this viewer's note (not a refusal from the
/// run a round trip later).
private func refuseUnsupported(_ state: inout AppState, _ effects: [Effect]) -> [Effect] {
    guard !state.unsupported.isEmpty else { return effects }
    return effects.filter {
        guard case .send(let command) = $0, let why = state.unsupportedReason(command) else { return true }
        state.viewerNote = "\(command.label): \(why)"
        return false
    }
}

private func scrollHelp(_ state: inout AppState, _ action: Action) -> [Effect] {
    let delta: Int
    switch action {
    case .scrollUp: delta = -1
    case .scrollDown: delta = 1
    case .pageUp: delta = -10
    default: delta = 10
    }
    state.helpScroll = min(max(0, state.helpScroll + delta), max(0, KeyMap.helpLines().count - 1))
    return []
}

/// Scrolls the change log: up goes back in time, down towards the newest change (where it opens).
private func scrollChanges(_ state: inout AppState, _ action: Action) -> [Effect] {
    let delta: Int
    switch action {
    case .scrollUp: delta = 1
    case .scrollDown: delta = -1
    case .pageUp: delta = 10
    default: delta = -10
    }
    state.changesBack = min(max(0, state.changesBack + delta), max(0, ChangeLogView.lines(state).count - 1))
    return []
}

private func confirmKey(_ state: inout AppState, _ key: AppKey) -> [Effect] {
    switch key {
    case .char("y"), .char("s"), .enter:
        state.confirmQuit = false
        state.quitting = true
        return [.quit(save: true)]
    case .char("n"):
        state.confirmQuit = false
        state.quitting = false
        return [.quit(save: false)]
    case .char("d"), .char("q"):
        state.confirmQuit = false
        return [.detach]
    case .escape, .char("c"):
        state.confirmQuit = false
        return []
    default:
        return []
    }
}

private func perform(_ state: inout AppState, _ action: Action) -> [Effect] {
    let s = state.effectiveSettings
    switch action {
    case .quit:
        if !state.snapshot.status.isTerminal && state.canSend {
            state.confirmQuit = true
            return []
        }
        return [.detach]
    case .detach:
        return [.detach]
    case .togglePause:
        return [.send(state.pausedOrPausing ? .resume : .pause)]
    case .rankDown:
        return s.rank > 1 ? [.send(.setRank(max(1, s.rank / 2)))] : []
    case .rankUp:
        return s.rank < 256 ? [.send(.setRank(min(256, s.rank * 2)))] : []
    case .alphaDown:
        return s.alpha > 0.25 ? [.send(.setAlpha(s.alpha / 2))] : []
    case .alphaUp:
        return s.alpha < 4096 ? [.send(.setAlpha(s.alpha * 2))] : []
    case .lrDown:
        return s.learningRate > 1e-7 ? [.send(.setLearningRate(s.learningRate / 2))] : []
    case .lrUp:
        return s.learningRate < 1 ? [.send(.setLearningRate(s.learningRate * 2))] : []
    case .dropoutDown:
        let p = max(0, ((s.dropout - 0.05) * 100).rounded() / 100)
        return p != s.dropout ? [.send(.setDropout(p))] : []
    case .dropoutUp:
        let p = min(0.5, ((s.dropout + 0.05) * 100).rounded() / 100)
        return p != s.dropout ? [.send(.setDropout(p))] : []
    case .cycleQuantization:
        let current = quantCycle.firstIndex { s.quantization.hasPrefix($0) } ?? 0
        return [.send(.setQuantization(quantCycle[(current + 1) % quantCycle.count]))]
    case .saveNow:
        return [.send(.saveCheckpoint)]
    case .evalNow:
        return [.send(.evaluateNow)]
    case .sampleNow:
        return [.send(.sampleNow)]
    case .newRun:
        return [.send(.restart)]
    case .toggleLogY:
        state.chart.logY.toggle()
        return []
    case .smoothingDown:
        state.chart.smoothingIndex = max(0, state.chart.smoothingIndex - 1)
        return []
    case .smoothingUp:
        state.chart.smoothingIndex = min(ChartOptions.smoothingSteps.count - 1, state.chart.smoothingIndex + 1)
        return []
    case .cycleZoom:
        state.chart.zoomIndex = (state.chart.zoomIndex + 1) % ChartOptions.zoomSteps.count
        return []
    case .toggleInside:
        state.inside.visible.toggle()
        state.inside.unanswered = 0
        state.inside.requestedStep = nil
        return insideRequest(&state)
    case .cycleInsideMetric:
        state.inside.metric = InsideMetric(rawValue: (state.inside.metric.rawValue + 1) % InsideMetric.allCases.count)
            ?? .relativeSize
        if !state.inside.visible { state.inside.visible = true; return insideRequest(&state) }
        return []
    case .selectLeft:
        state.inside.column = max(0, state.inside.column - 1)
        return []
    case .selectRight:
        state.inside.column = min(max(0, (state.snapshot.inspection?.layers.count ?? 1) - 1), state.inside.column + 1)
        return []
    case .cycleTheme:
        state.themeIndex = (state.themeIndex + 1) % max(1, state.themeNames.count)
        return [.redrawAll]
    case .toggleHelp:
        state.showHelp.toggle()
        state.helpScroll = 0
        return []
    case .toggleChanges:
        state.showChanges.toggle()
        state.changesBack = 0
        return []
    case .suspend:
        return [.suspend]
    case .redraw:
        return [.redrawAll]
    case .scrollUp:
        if state.inside.visible { state.inside.row = max(0, state.inside.row - 1); return [] }
        state.scroll = max(0, state.scroll - 1)
        return []
    case .scrollDown:
        if state.inside.visible {
            state.inside.row = min(max(0, (state.snapshot.inspection?.targets.count ?? 1) - 1), state.inside.row + 1)
            return []
        }
        state.scroll += 1
        return []
    case .pageUp:
        state.scroll = max(0, state.scroll - 10)
        return []
    case .pageDown:
        state.scroll += 10
        return []
    case .cancel:
        state.showHelp = false
        state.showChanges = false
        return []
    }
}
