/// One thing a key can do in the app.
enum Action: Equatable, Sendable {
    case quit
    case detach
    case togglePause
    case rankDown, rankUp
    case alphaDown, alphaUp
    case lrDown, lrUp
    case dropoutDown, dropoutUp
    case cycleQuantization
    case saveNow, evalNow, sampleNow
    case newRun
    case toggleLogY
    case smoothingDown, smoothingUp
    case cycleZoom
    case cycleTheme
    case toggleInside, cycleInsideMetric
    case selectLeft, selectRight
    case toggleHelp
    case toggleChanges
    case redraw
    case scrollUp, scrollDown, pageUp, pageDown
    case cancel
    case suspend
}

extension Action {
    /// Whether the action sends a command to the run (a read-only viewer cannot).
    var sendsCommand: Bool {
        switch self {
        case .togglePause, .rankDown, .rankUp, .alphaDown, .alphaUp, .lrDown, .lrUp, .dropoutDown, .dropoutUp,
             .cycleQuantization, .saveNow, .evalNow, .sampleNow, .newRun:
            return true
        default:
            return false
        }
    }
}

/// A key as the app sees it (the backend maps terminal input to these).
enum AppKey: Hashable, Sendable {
    case char(Character)
    case ctrl(Character)
    case up, down, left, right, pageUp, pageDown, f1, escape, enter

    /// How the help screen writes it.
    var label: String {
        switch self {
        case .char(" "): return "space"
        case .char(let c): return String(c)
        case .ctrl(let c): return "Ctrl-" + String(c).uppercased()
        case .up: return "↑"
        case .down: return "↓"
        case .left: return "←"
        case .right: return "→"
        case .pageUp: return "PgUp"
        case .pageDown: return "PgDn"
        case .f1: return "F1"
        case .escape: return "Esc"
        case .enter: return "Enter"
        }
    }
}

/// The single key table: it dispatches keys and it generates the help overlay, so the two cannot drift apart.
enum KeyMap {
    /// One row of the table: the keys, what they do, and the help text.
    struct Binding: Sendable {
        let keys: [AppKey]
        let action: Action
        let help: String
        let group: String
    }

    static let bindings: [Binding] = [
        Binding(keys: [.char("q"), .ctrl("c")], action: .quit, help: "quit: stop and save / stop / detach / cancel", group: "run"),
        Binding(keys: [.char("d")], action: .detach, help: "detach: leave the run training (loratop attach returns)", group: "run"),
        Binding(keys: [.char(" ")], action: .togglePause, help: "pause / resume training", group: "run"),
        Binding(keys: [.char("s")], action: .saveNow, help: "save a checkpoint now", group: "run"),
        Binding(keys: [.char("e")], action: .evalNow, help: "evaluate now", group: "run"),
        Binding(keys: [.char("g")], action: .sampleNow, help: "generate samples now (base vs adapted)", group: "run"),
        Binding(keys: [.char("n")], action: .newRun, help: "new run with current settings (old curve stays as a ghost)", group: "run"),
        Binding(keys: [.ctrl("z")], action: .suspend, help: "suspend to the shell (fg resumes and repaints)", group: "run"),
        Binding(keys: [.char("r")], action: .rankDown, help: "rank ÷2 (keeps the best rank-r part of the update)", group: "adapter"),
        Binding(keys: [.char("R")], action: .rankUp, help: "rank ×2 (update unchanged)", group: "adapter"),
        Binding(keys: [.char("a")], action: .alphaDown, help: "alpha ÷2", group: "adapter"),
        Binding(keys: [.char("A")], action: .alphaUp, help: "alpha ×2", group: "adapter"),
        Binding(keys: [.char("l")], action: .lrDown, help: "learning rate ×½", group: "adapter"),
        Binding(keys: [.char("L")], action: .lrUp, help: "learning rate ×2", group: "adapter"),
        Binding(keys: [.char("p")], action: .dropoutDown, help: "dropout −0.05", group: "adapter"),
        Binding(keys: [.char("P")], action: .dropoutUp, help: "dropout +0.05", group: "adapter"),
        Binding(keys: [.char("b")], action: .cycleQuantization, help: "cycle base storage: none → int8 → fp4 → nf4 → source", group: "adapter"),
        Binding(keys: [.char("y")], action: .toggleLogY, help: "log / linear loss axis", group: "view"),
        Binding(keys: [.char("["), .char("]")], action: .smoothingUp, help: "smoothing weight down / up", group: "view"),
        Binding(keys: [.char("z")], action: .cycleZoom, help: "zoom: all steps / last 500 / last 100", group: "view"),
        Binding(keys: [.char("t")], action: .cycleTheme, help: "next theme", group: "view"),
        Binding(keys: [.char("i")], action: .toggleInside, help: "Inside: the update layer by layer, spectra, rank advice", group: "view"),
        Binding(keys: [.char("m")], action: .cycleInsideMetric, help: "Inside: relative size / eff. rank / grad / quant error", group: "view"),
        Binding(keys: [.left, .right], action: .selectLeft, help: "Inside: select a layer (↑↓ a module)", group: "view"),
        Binding(keys: [.char("c")], action: .toggleChanges, help: "change log: every applied change, what is pending (↑↓ scroll)", group: "view"),
        Binding(keys: [.char("?"), .f1], action: .toggleHelp, help: "this help", group: "view"),
        Binding(keys: [.ctrl("l")], action: .redraw, help: "redraw the screen", group: "view"),
        Binding(keys: [.up, .char("k"), .down, .char("j")], action: .scrollUp, help: "scroll samples and messages", group: "view"),
        Binding(keys: [.pageUp, .pageDown], action: .pageUp, help: "scroll a page", group: "view"),
        Binding(keys: [.escape], action: .cancel, help: "close help / cancel", group: "view"),
    ]

    /// Keys whose action differs from their row's first action (paired keys: `]` is smoothing up, `[` down, ...).
    private static let pairs: [AppKey: Action] = [
        .char("["): .smoothingDown, .char("]"): .smoothingUp,
        .up: .scrollUp, .char("k"): .scrollUp, .down: .scrollDown, .char("j"): .scrollDown,
        .pageUp: .pageUp, .pageDown: .pageDown, .left: .selectLeft, .right: .selectRight,
    ]

    /// The action bound to a key, if any.
    static func action(for key: AppKey) -> Action? {
        if let a = pairs[key] { return a }
        return bindings.first { $0.keys.contains(key) }?.action
    }

    /// The help text of an action's row ("save a checkpoint now").
    static func label(of action: Action) -> String {
        bindings.first { $0.action == action }?.help ?? "\(action)"
    }

    /// Every bound key.
    static var allKeys: [AppKey] { bindings.flatMap(\.keys) }

    /// The help overlay's lines, generated from the table.
    static func helpLines() -> [String] {
        var lines: [String] = []
        for group in ["run", "adapter", "view"] {
            lines.append(group.uppercased())
            for b in bindings where b.group == group {
                let keys = b.keys.map(\.label).joined(separator: " ")
                lines.append("  " + keys.padding(toLength: 12, withPad: " ", startingAt: 0) + " " + b.help)
            }
        }
        return lines
    }
}
