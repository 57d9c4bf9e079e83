/// One terminal cell: a grapheme and its style. A wide grapheme occupies its cell and a continuation cell to its right.
public struct Cell: Hashable, Sendable {
    /// The grapheme shown ("" marks the right half of a wide grapheme).
    public var symbol: String
    /// Colours and attributes.
    public var style: Style

    /// Makes a cell.
    public init(_ symbol: String = " ", style: Style = .plain) { self.symbol = symbol; self.style = style }

    /// A blank cell in the default style.
    public static let blank = Cell()

    /// True for the right half of a wide grapheme (backends skip it).
    public var isContinuation: Bool { symbol.isEmpty }
}

extension Character {
    /// Columns this grapheme takes in a terminal: 2 for East Asian wide/fullwidth and emoji, 0 for controls, else 1.
    public var terminalWidth: Int {
        guard let first = unicodeScalars.first else { return 0 }
        let v = first.value
        if v < 0x20 || (v >= 0x7F && v < 0xA0) { return 0 }
        if v < 0x1100 { return 1 }
        if unicodeScalars.contains(where: { $0.value == 0xFE0F }) { return 2 }
        return Character.isWide(v) ? 2 : 1
    }

    static func isWide(_ v: UInt32) -> Bool {
        switch v {
        case 0x1100...0x115F, 0x231A...0x231B, 0x2329...0x232A, 0x23E9...0x23EC, 0x23F0, 0x23F3,
             0x25FD...0x25FE, 0x2614...0x2615, 0x2648...0x2653, 0x267F, 0x2693, 0x26A1, 0x26AA...0x26AB,
             0x26BD...0x26BE, 0x26C4...0x26C5, 0x26CE, 0x26D4, 0x26EA, 0x26F2...0x26F3, 0x26F5, 0x26FA, 0x26FD,
             0x2705, 0x270A...0x270B, 0x2728, 0x274C, 0x274E, 0x2753...0x2755, 0x2757, 0x2795...0x2797, 0x27B0,
             0x27BF, 0x2B1B...0x2B1C, 0x2B50, 0x2B55,
             0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF, 0xA000...0xA4CF,
             0xA960...0xA97F, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE10...0xFE19, 0xFE30...0xFE6F,
             0xFF00...0xFF60, 0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x1F680...0x1F6FF,
             0x20000...0x3FFFD:
            return true
        default:
            return false
        }
    }
}

extension String {
    /// Columns this string takes in a terminal.
    public var terminalWidth: Int { reduce(0) { $0 + $1.terminalWidth } }

    /// The longest prefix fitting in `width` columns; when cut, the last column shows `ellipsis` (if it fits).
    public func truncated(toWidth width: Int, ellipsis: String = "…") -> String {
        if width <= 0 { return "" }
        if terminalWidth <= width { return self }
        let ew = ellipsis.terminalWidth
        let budget = ew <= width ? width - ew : width
        var used = 0
        var out = ""
        for ch in self {
            let w = ch.terminalWidth
            if used + w > budget { break }
            out.append(ch); used += w
        }
        return ew <= width ? out + ellipsis : out
    }

    /// Pads (or truncates with `ellipsis`) to exactly `width` columns with the given alignment.
    public func aligned(_ alignment: Alignment, width: Int, ellipsis: String = "…") -> String {
        let t = truncated(toWidth: width, ellipsis: ellipsis)
        let pad = max(0, width - t.terminalWidth)
        switch alignment {
        case .left: return t + String(repeating: " ", count: pad)
        case .right: return String(repeating: " ", count: pad) + t
        case .center:
            let l = pad / 2
            return String(repeating: " ", count: l) + t + String(repeating: " ", count: pad - l)
        }
    }
}

/// Horizontal alignment of text in a cell range.
public enum Alignment: Sendable, Hashable {
    /// Flush left.
    case left
    /// Centred (extra column on the right).
    case center
    /// Flush right.
    case right
}
