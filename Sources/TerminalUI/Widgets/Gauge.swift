/// A meter showing a fraction in [0, 1] with a label after it: `█████░░░░░ 52%`.
public struct Gauge: Widget {
    /// The fraction (clamped to 0…1; NaN shows empty).
    public var fraction: Double
    /// Text after the meter (nil = the percentage, e.g. "52%").
    public var label: String?
    /// Style of the filled part.
    public var style: Style
    /// Style of the empty part.
    public var trackStyle: Style
    /// Style of the label.
    public var labelStyle: Style
    /// Glyphs.
    public var glyphs: GlyphSet

    /// Makes a gauge.
    public init(fraction: Double, label: String? = nil, style: Style = .plain, trackStyle: Style = .plain,
                labelStyle: Style = .plain, glyphs: GlyphSet = .unicode) {
        self.fraction = fraction; self.label = label; self.style = style; self.trackStyle = trackStyle
        self.labelStyle = labelStyle; self.glyphs = glyphs
    }

    /// The label shown.
    public var text: String {
        if let l = label { return l }
        guard fraction.isFinite else { return "--%" }
        return "\(Int((min(1, max(0, fraction)) * 100).rounded()))%"
    }

    /// Draws on the first row; the label is dropped when the meter would get fewer than 3 cells.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        let t = text
        let labelCols = t.isEmpty ? 0 : t.terminalWidth + 1
        let meterWidth = area.width - labelCols >= 3 ? area.width - labelCols : area.width
        let cells = barGlyphs(fraction: fraction, width: meterWidth, eighths: glyphs.barEighths)
        for i in 0..<meterWidth {
            if i < cells.count { buffer.set(x: area.x + i, y: area.y, Cell(cells[i], style: style), clip: area) }
            else { buffer.set(x: area.x + i, y: area.y, Cell(glyphs.gaugeEmpty, style: trackStyle), clip: area) }
        }
        if meterWidth < area.width {
            buffer.put(" " + t, x: area.x + meterWidth, y: area.y, style: labelStyle, clip: area)
        }
    }
}
