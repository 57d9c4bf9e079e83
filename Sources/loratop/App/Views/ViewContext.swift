import Foundation
import LoRAKit
import TerminalUI

/// What every view needs besides the state: the theme resolved for the terminal and the glyph set.
struct ViewContext: Sendable {
    /// Styles of the current theme at the terminal's colour depth.
    var palette: Palette
    /// Unicode or ASCII glyphs.
    var glyphs: GlyphSet

    /// The default theme in 256 colours with Unicode glyphs (tests and previews).
    static let standard = ViewContext(palette: Theme.builtinDefault.palette(depth: .ansi256), glyphs: .unicode)

    /// Text in a theme colour over the screen background.
    func style(_ key: ThemeKey) -> Style { palette[key] }

    /// A span in a theme colour.
    func span(_ text: String, _ key: ThemeKey = .mainFg) -> Span { Span(text, style: palette[key]) }

    /// A titled panel border.
    func box(_ title: String, right: String = "") -> Box {
        Box(title: title, rightTitle: right, glyphs: glyphs.box, borderStyle: palette[.divLine],
            titleStyle: palette[.title], ellipsis: glyphs.ellipsis)
    }

    /// Replaces the Unicode arrow in engine labels ("r 8→16") when the glyph set is ASCII.
    func arrows(_ text: String) -> String {
        guard !glyphs.isUnicode else { return text }
        var out = text.replacingOccurrences(of: "→", with: glyphs.arrow)
        for (from, to) in ViewContext.asciiReplacements { out = out.replacingOccurrences(of: from, with: to) }
        return out
    }

    /// What `arrows` writes for the non-ASCII characters the views use.
    static let asciiReplacements: [(String, String)] = [
        ("α", "alpha "), ("…", "..."), ("·", "|"), ("×", "x"), ("½", "1/2"), ("÷", "/"), ("−", "-"), ("↑", "Up"),
        ("↓", "Down"), ("⏎", "|"), ("—", "-"), ("–", "-"), ("√", "sqrt "), ("←", "<-"), ("‖", "|"), ("σ", "s"),
        ("²", "^2"), ("∂", "d"), ("Δ", "d"),
    ]
}

extension CellBuffer {
    /// Writes styled spans on one row of `area`, cut with an ellipsis when too wide (ASCII-safe text only if the
    /// caller made it so).
    mutating func line(_ spans: [Span], in area: Rect, row: Int, ellipsis: String) {
        guard row >= 0, row < area.height, !area.isEmpty else { return }
        let r = Rect(x: area.x, y: area.y + row, width: area.width, height: 1)
        render(Text(spans, wrap: false, ellipsis: ellipsis), in: r)
    }

    /// Writes several lines from the top of `area`.
    mutating func lines(_ lines: [[Span]], in area: Rect, ellipsis: String) {
        for (i, l) in lines.prefix(area.height).enumerated() { line(l, in: area, row: i, ellipsis: ellipsis) }
    }
}

/// Number formats shared by the panels.
enum Fmt {
    /// A loss with four decimals, or nan / inf.
    static func loss(_ v: Float?) -> String {
        guard let v else { return "–" }
        return fixed(v, v.isFinite && abs(v) >= 100 ? 1 : 4)
    }

    /// A parameter count: 1234 → "1234", 1_234_567 → "1.23M".
    static func count(_ n: Int) -> String { n < 10_000 ? String(n) : ChartFormat.compact(Double(n)) }

    /// A rate with a sensible number of digits.
    static func rate(_ v: Double) -> String {
        guard v.isFinite else { return "–" }
        return v >= 100 ? String(format: "%.0f", v) : (v >= 10 ? String(format: "%.1f", v) : String(format: "%.2f", v))
    }

    /// Seconds per step: "0.052 s" or "3.1 s".
    static func seconds(_ v: Double) -> String {
        guard v.isFinite, v > 0 else { return "–" }
        return v < 1 ? String(format: "%.3f s", v) : String(format: "%.1f s", v)
    }

    /// A percentage with one decimal (or two below 1%).
    static func percent(_ f: Double) -> String {
        guard f.isFinite else { return "–" }
        let p = f * 100
        return p < 1 ? String(format: "%.2f%%", p) : String(format: "%.1f%%", p)
    }

    /// The status word for the header and status line.
    /// "14:03:27": a wall-clock time (seconds since 1970) in the local time zone.
    static func timeOfDay(_ seconds: Double) -> String {
        var t = time_t(seconds.rounded(.down))
        var parts = tm()
        guard localtime_r(&t, &parts) != nil else { return "--:--:--" }
        return String(format: "%02d:%02d:%02d", parts.tm_hour, parts.tm_min, parts.tm_sec)
    }

    static func status(_ s: EngineStatus) -> String {
        switch s {
        case .failed(let why): return "failed: " + why
        default: return s.label
        }
    }
}
