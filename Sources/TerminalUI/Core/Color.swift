/// A 24-bit colour.
public struct RGB: Hashable, Sendable, CustomStringConvertible {
    /// Red channel, 0…255.
    public var r: UInt8
    /// Green channel, 0…255.
    public var g: UInt8
    /// Blue channel, 0…255.
    public var b: UInt8

    /// Makes a colour from three channels.
    public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }

    /// Makes a colour from `0xRRGGBB`.
    public init(hex: UInt32) {
        self.init(UInt8((hex >> 16) & 0xFF), UInt8((hex >> 8) & 0xFF), UInt8(hex & 0xFF))
    }

    /// `#rrggbb`.
    public var description: String {
        let h = (Int(r) << 16) | (Int(g) << 8) | Int(b)
        let s = String(h, radix: 16)
        return "#" + String(repeating: "0", count: 6 - s.count) + s
    }

    /// The xterm-256 index btop uses: the grey ramp `232 + round(r/11)` when round(r/11), round(g/11) and round(b/11)
    /// agree, else the 6×6×6 cube `16 + 36·round(r/51) + 6·round(g/51) + round(b/51)` (rounding half away from zero).
    public var xterm256Index: UInt8 {
        func q(_ v: UInt8, _ d: Double) -> Int { Int((Double(v) / d).rounded(.toNearestOrAwayFromZero)) }
        let grey = q(r, 11)
        if grey == q(g, 11) && grey == q(b, 11) { return UInt8(232 + grey) }
        return UInt8(16 + 36 * q(r, 51) + 6 * q(g, 51) + q(b, 51))
    }

    /// The nearest of the 16 ANSI colours (xterm's default palette, `RGB.ansi16Palette`) by squared RGB distance;
    /// ties go to the lower index.
    public var ansi16Index: UInt8 {
        var best = 0
        var bestDistance = Int.max
        for (i, p) in RGB.ansi16Palette.enumerated() {
            let dr = Int(r) - Int(p.r), dg = Int(g) - Int(p.g), db = Int(b) - Int(p.b)
            let d = dr * dr + dg * dg + db * db
            if d < bestDistance { bestDistance = d; best = i }
        }
        return UInt8(best)
    }

    /// xterm's default values of the 16 ANSI colours (index 0 black … 15 bright white).
    public static let ansi16Palette: [RGB] = [
        RGB(0, 0, 0), RGB(205, 0, 0), RGB(0, 205, 0), RGB(205, 205, 0),
        RGB(0, 0, 238), RGB(205, 0, 205), RGB(0, 205, 205), RGB(229, 229, 229),
        RGB(127, 127, 127), RGB(255, 0, 0), RGB(0, 255, 0), RGB(255, 255, 0),
        RGB(92, 92, 255), RGB(255, 0, 255), RGB(0, 255, 255), RGB(255, 255, 255),
    ]

    /// The RGB value xterm uses for a 256-colour palette index.
    public static func xterm256(_ index: UInt8) -> RGB {
        let i = Int(index)
        if i < 16 { return ansi16Palette[i] }
        if i >= 232 { let v = UInt8(8 + 10 * (i - 232)); return RGB(v, v, v) }
        let c = i - 16
        func level(_ n: Int) -> UInt8 { n == 0 ? 0 : UInt8(55 + 40 * n) }
        return RGB(level(c / 36), level((c / 6) % 6), level(c % 6))
    }
}

/// How many colours the terminal can show; ordered from none to 24-bit.
public enum ColorDepth: Int, Comparable, Sendable, CaseIterable, CustomStringConvertible {
    /// No colour at all (NO_COLOR, dumb terminals): only bold, dim, reverse and underline.
    case none = 0
    /// The 16 ANSI colours.
    case ansi16 = 1
    /// The xterm 256-colour palette.
    case ansi256 = 2
    /// 24-bit colour.
    case trueColor = 3

    /// Orders by capability.
    public static func < (a: ColorDepth, b: ColorDepth) -> Bool { a.rawValue < b.rawValue }

    /// `none`, `16`, `256` or `truecolor`.
    public var description: String {
        switch self {
        case .none: return "none"
        case .ansi16: return "16"
        case .ansi256: return "256"
        case .trueColor: return "truecolor"
        }
    }
}

/// A cell colour: the terminal's own default, a palette index, or 24-bit.
public enum Color: Hashable, Sendable {
    /// The terminal's default foreground or background.
    case `default`
    /// A palette index (0…15 ANSI, 16…255 xterm cube and grey ramp).
    case indexed(UInt8)
    /// A 24-bit colour.
    case rgb(RGB)

    /// Convenience for `.rgb(RGB(hex:))`.
    public static func hex(_ value: UInt32) -> Color { .rgb(RGB(hex: value)) }

    /// This colour as the given depth can show it (truecolour → 256 → 16 → default).
    public func degraded(to depth: ColorDepth) -> Color {
        switch (self, depth) {
        case (.default, _), (_, .none): return .default
        case (.rgb, .trueColor): return self
        case (.rgb(let c), .ansi256): return .indexed(c.xterm256Index)
        case (.rgb(let c), .ansi16): return .indexed(c.ansi16Index)
        case (.indexed(let i), .ansi16): return i < 16 ? self : .indexed(RGB.xterm256(i).ansi16Index)
        case (.indexed, _): return self
        }
    }
}
