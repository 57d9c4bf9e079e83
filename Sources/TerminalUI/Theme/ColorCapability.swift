/// Works out how many colours to use from the environment and from what curses reports.
public enum ColorCapability {
    /// The depth the environment asks for: NO_COLOR (non-empty) → none; COLORTERM truecolor/24bit → truecolour;
    /// TERM *-256color (xterm-256color, screen-256color, tmux-256color, …) → 256; TERM *-direct → truecolour; other
    /// xterm*, screen*, tmux*, rxvt*, linux, ansi, cygwin, putty, konsole, alacritty, kitty, *color → 16;
    /// dumb, vt100/vt220, unknown or empty → none.
    public static func detect(environment: [String: String]) -> ColorDepth {
        if let nc = environment["NO_COLOR"], !nc.isEmpty { return .none }
        let colorterm = (environment["COLORTERM"] ?? "").lowercased()
        if colorterm == "truecolor" || colorterm == "24bit" { return .trueColor }
        let term = (environment["TERM"] ?? "").lowercased()
        if term.hasSuffix("-direct") || term.contains("-direct") { return .trueColor }
        if term.contains("256color") || term.contains("256colour") { return .ansi256 }
        if term.isEmpty || term == "dumb" || term.hasPrefix("vt") { return .none }
        let sixteen = ["xterm", "screen", "tmux", "rxvt", "linux", "ansi", "cygwin", "putty", "konsole", "alacritty",
                       "kitty", "foot", "wezterm", "st", "eterm", "gnome", "vte"]
        if sixteen.contains(where: { term == $0 || term.hasPrefix($0 + "-") || term.hasPrefix($0) }) || term.contains("color") {
            return .ansi16
        }
        return .none
    }

    /// The depth curses can draw with `colors` = COLORS (0 when has_colors() is false): ≥ 2²⁴ truecolour (direct
    /// colour terminfo), ≥ 256 → 256, ≥ 8 → 16 (with 8 colours, bright colours are drawn as bold normal ones), else none.
    public static func depth(cursesColors colors: Int) -> ColorDepth {
        if colors >= 0x100_0000 { return .trueColor }
        if colors >= 256 { return .ansi256 }
        if colors >= 8 { return .ansi16 }
        return .none
    }

    /// What a curses screen should use. Curses reads the terminfo entry named by TERM, so its COLORS is the
    /// authority on what can be drawn: NO_COLOR (non-empty) gives none; otherwise `forced` (e.g. a `--color` flag)
    /// capped by curses, or curses' own depth. COLORTERM=truecolor on a 256-colour terminfo still gives 256 (curses
    /// cannot emit 24-bit colour without a *-direct terminfo entry). Use `detect(environment:)` when there is no curses.
    public static func effective(environment: [String: String], cursesColors: Int, forced: ColorDepth? = nil) -> ColorDepth {
        if let nc = environment["NO_COLOR"], !nc.isEmpty { return .none }
        let cap = depth(cursesColors: cursesColors)
        return min(forced ?? cap, cap)
    }
}
