/// A row of values as bar heights, one cell each: `█▆▄▂▁▁`. Longer series are reduced to the width by taking each
/// bucket's largest value; a logarithmic scale suits spectra that span decades.
public struct Sparkline: Widget {
    /// The values, in order.
    public var values: [Double]
    /// Levels, lowest first.
    public var glyphs: [String]
    /// Style of the bars.
    public var style: Style
    /// Whether heights are logarithmic (non-positive values take the lowest level).
    public var logarithmic: Bool

    /// Eighth blocks, ▁ to █.
    public static let unicodeGlyphs = ["▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"]
    /// ASCII heights.
    public static let asciiGlyphs = ["_", ".", "-", "=", "+", "*", "#", "@"]

    /// Makes a sparkline.
    public init(values: [Double], glyphs: [String] = Sparkline.unicodeGlyphs, style: Style = .plain,
                logarithmic: Bool = false) {
        self.values = values; self.glyphs = glyphs.isEmpty ? ["#"] : glyphs; self.style = style
        self.logarithmic = logarithmic
    }

    /// The values reduced to at most `width` buckets (largest per bucket).
    public func buckets(_ width: Int) -> [Double] {
        guard width > 0, values.count > width else { return width > 0 ? values : [] }
        return (0..<width).map { b in
            let lo = b * values.count / width, hi = max(lo + 1, (b + 1) * values.count / width)
            return values[lo..<hi].max() ?? 0
        }
    }

    /// Draws on the first row of `area`, from the left.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        let v = buckets(area.width)
        guard let sc = RampScale.spanning(v, logarithmic: logarithmic) else { return }
        let scale = logarithmic ? sc : RampScale(low: min(0, sc.low), high: sc.high)
        for (i, x) in v.enumerated() {
            buffer.set(x: area.x + i, y: area.y, Cell(glyphs[scale.level(x, levels: glyphs.count)], style: style), clip: area)
        }
    }
}
