/// Text attributes a terminal can show without colour.
public struct Attributes: OptionSet, Hashable, Sendable {
    /// The raw bits.
    public let rawValue: UInt8
    /// Makes attributes from raw bits.
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Bold (often also brighter).
    public static let bold = Attributes(rawValue: 1)
    /// Dim / faint.
    public static let dim = Attributes(rawValue: 2)
    /// Reverse video (foreground and background swapped).
    public static let reverse = Attributes(rawValue: 4)
    /// Underline.
    public static let underline = Attributes(rawValue: 8)
}

/// Foreground, background and attributes of a cell.
public struct Style: Hashable, Sendable {
    /// Foreground colour.
    public var fg: Color
    /// Background colour (`.default` keeps the terminal's own).
    public var bg: Color
    /// Bold, dim, reverse, underline.
    public var attributes: Attributes

    /// Makes a style; everything defaults to the terminal's own.
    public init(fg: Color = .default, bg: Color = .default, attributes: Attributes = []) {
        self.fg = fg; self.bg = bg; self.attributes = attributes
    }

    /// The terminal's default style.
    public static let plain = Style()

    /// This style with extra attributes.
    public func adding(_ extra: Attributes) -> Style {
        var s = self; s.attributes.formUnion(extra); return s
    }

    /// This style with another foreground.
    public func withForeground(_ c: Color) -> Style { var s = self; s.fg = c; return s }

    /// This style with another background.
    public func withBackground(_ c: Color) -> Style { var s = self; s.bg = c; return s }
}
