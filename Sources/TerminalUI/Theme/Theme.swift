/// A named set of colours for every `ThemeKey`. Keys a file leaves out come from the built-in default.
public struct Theme: Hashable, Sendable {
    /// The theme's name (its file name without `.theme`).
    public var name: String
    /// Colours by key; always complete.
    public private(set) var colors: [ThemeKey: Color]

    /// Makes a theme from `overrides` on top of `base` (the built-in default unless given).
    public init(name: String, overrides: [ThemeKey: Color] = [:], base: Theme? = nil) {
        self.name = name
        var c = base?.colors ?? Theme.defaultColors
        for (k, v) in overrides { c[k] = v }
        colors = c
    }

    /// The colour for a key.
    public subscript(key: ThemeKey) -> Color { colors[key] ?? .default }

    /// The built-in dark theme; themes/default.theme holds the same values (a test keeps them equal).
    public static let builtinDefault = Theme(name: "default")

    static let defaultColors: [ThemeKey: Color] = [
        .mainBg: .default,
        .mainFg: .hex(0xCCCCCC),
        .title: .hex(0xEEEEEE),
        .hiFg: .hex(0x5FAFFF),
        .inactiveFg: .hex(0x5F5F5F),
        .graphText: .hex(0x9E9E9E),
        .divLine: .hex(0x4E4E4E),
        .selectedBg: .hex(0x264F78),
        .selectedFg: .hex(0xFFFFFF),
        .trainLine: .hex(0x5FD7FF),
        .evalLine: .hex(0xFFAF5F),
        .smoothLine: .hex(0xFFFFFF),
        .ghostLine: .hex(0x585858),
        .marker: .hex(0xD787FF),
        .meterBg: .hex(0x303030),
        .meterFg: .hex(0x5FD787),
        .memBase: .hex(0x5F87D7),
        .memAdapter: .hex(0x87D75F),
        .memOptimizer: .hex(0xD7AF5F),
        .memActivations: .hex(0xD75F87),
        .statusBg: .hex(0x262626),
        .statusFg: .hex(0xD0D0D0),
        .pending: .hex(0xFFD75F),
        .applied: .hex(0x5FD787),
        .warning: .hex(0xFFAF00),
        .error: .hex(0xFF5F5F),
        .modalBg: .hex(0x1C1C1C),
    ]

    /// Styles for this theme at a colour depth.
    public func palette(depth: ColorDepth) -> Palette { Palette(theme: self, depth: depth) }
}

/// A theme resolved for a terminal: hands out `Style`s. At `ColorDepth.none` (NO_COLOR, monochrome) styles carry no
/// colour, only each key's `monochromeAttributes`; otherwise colours are degraded to the depth.
public struct Palette: Hashable, Sendable {
    /// The theme.
    public var theme: Theme
    /// The depth colours are degraded to.
    public var depth: ColorDepth

    /// Makes a palette.
    public init(theme: Theme, depth: ColorDepth) { self.theme = theme; self.depth = depth }

    /// The colour of a key at this depth.
    public func color(_ key: ThemeKey) -> Color { theme[key].degraded(to: depth) }

    /// The style for a key: a text key over `main_bg`, or a background key under `main_fg`. Titles are bold in colour too.
    public subscript(key: ThemeKey) -> Style {
        key.isBackground ? style(fg: .mainFg, bg: key) : style(fg: key, bg: .mainBg)
    }

    /// A style with a text key over a background key.
    public func style(fg: ThemeKey, bg: ThemeKey) -> Style {
        if depth == .none {
            return Style(attributes: fg.monochromeAttributes.union(bg.monochromeAttributes))
        }
        var attrs: Attributes = []
        if fg == .title { attrs.insert(.bold) }
        return Style(fg: color(fg), bg: color(bg), attributes: attrs)
    }
}
