/// Serialises cell changes as the bytes a plain VT/xterm would need (cursor moves, SGR, UTF-8). Used to measure and
/// budget write volume (e.g. over SSH) independently of curses, and by `TextBackend` to count bytes per frame.
public struct ANSIEncoder: Sendable {
    /// The colour depth colours are degraded to before encoding.
    public var depth: ColorDepth

    /// Makes an encoder for a colour depth.
    public init(depth: ColorDepth = .ansi256) { self.depth = depth }

    /// The bytes that paint `changes` (in order), starting from an unknown cursor position and style.
    public func encode(_ changes: [CellChange]) -> [UInt8] {
        var out: [UInt8] = []
        var cursor: (x: Int, y: Int)? = nil
        var current: Style? = nil
        for ch in changes where !ch.cell.isContinuation {
            if let c = cursor, c.x == ch.x, c.y == ch.y {
                // Already there: the previous grapheme left the cursor here.
            } else {
                out += Array("\u{1B}[\(ch.y + 1);\(ch.x + 1)H".utf8)
            }
            let style = degrade(ch.cell.style)
            if style != current {
                out += sgr(style)
                current = style
            }
            out += Array(ch.cell.symbol.utf8)
            cursor = (ch.x + max(1, ch.cell.symbol.terminalWidth), ch.y)
        }
        return out
    }

    private func degrade(_ s: Style) -> Style {
        Style(fg: s.fg.degraded(to: depth), bg: s.bg.degraded(to: depth), attributes: s.attributes)
    }

    private func sgr(_ s: Style) -> [UInt8] {
        var parts = ["0"]
        if s.attributes.contains(.bold) { parts.append("1") }
        if s.attributes.contains(.dim) { parts.append("2") }
        if s.attributes.contains(.underline) { parts.append("4") }
        if s.attributes.contains(.reverse) { parts.append("7") }
        parts += colorCodes(s.fg, foreground: true)
        parts += colorCodes(s.bg, foreground: false)
        return Array("\u{1B}[\(parts.joined(separator: ";"))m".utf8)
    }

    private func colorCodes(_ c: Color, foreground: Bool) -> [String] {
        switch c {
        case .default: return []
        case .indexed(let i) where i < 8: return ["\((foreground ? 30 : 40) + Int(i))"]
        case .indexed(let i) where i < 16: return ["\((foreground ? 90 : 100) + Int(i) - 8)"]
        case .indexed(let i): return [foreground ? "38" : "48", "5", "\(i)"]
        case .rgb(let v): return [foreground ? "38" : "48", "2", "\(v.r)", "\(v.g)", "\(v.b)"]
        }
    }
}
