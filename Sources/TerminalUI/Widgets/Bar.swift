/// Fills `width` cells proportionally to a fraction using eighth blocks (or whole ASCII cells); returns the glyphs.
func barGlyphs(fraction: Double, width: Int, eighths: [String]) -> [String] {
    guard width > 0 else { return [] }
    let f = fraction.isFinite ? min(1, max(0, fraction)) : 0
    let steps = max(1, eighths.count)
    let units = Int((f * Double(width * steps)).rounded())
    let full = units / steps, part = units % steps
    var out = [String](repeating: eighths.last ?? "#", count: full)
    if part > 0 && full < width { out.append(eighths[part - 1]) }
    return out
}

/// A horizontal bar: `value / maximum` of the width filled, the rest in the track style; an optional label on the left.
public struct Bar: Widget {
    /// The value.
    public var value: Double
    /// The value of a full bar (values above are clamped; non-finite or ≤ 0 maximum draws an empty bar).
    public var maximum: Double
    /// Text left of the bar (`labelWidth` columns; 0 = its natural width).
    public var label: String
    /// Columns reserved for the label.
    public var labelWidth: Int
    /// Style of the filled part.
    public var style: Style
    /// Style of the unfilled track.
    public var trackStyle: Style
    /// Glyph for the unfilled track (" " for none).
    public var track: String
    /// Glyphs (eighth blocks in Unicode, "#" in ASCII).
    public var glyphs: GlyphSet

    /// Makes a bar.
    public init(value: Double, maximum: Double, label: String = "", labelWidth: Int = 0, style: Style = .plain,
                trackStyle: Style = .plain, track: String = " ", glyphs: GlyphSet = .unicode) {
        self.value = value; self.maximum = maximum; self.label = label; self.labelWidth = labelWidth
        self.style = style; self.trackStyle = trackStyle; self.track = track; self.glyphs = glyphs
    }

    /// Draws on the first row of `area`.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        var x = area.x
        if !label.isEmpty {
            let lw = min(area.width, labelWidth > 0 ? labelWidth : label.terminalWidth + 1)
            buffer.put(label.aligned(.left, width: lw, ellipsis: glyphs.ellipsis), x: x, y: area.y, style: trackStyle, clip: area)
            x += lw
        }
        let width = area.maxX - x
        guard width > 0 else { return }
        let fraction = maximum.isFinite && maximum > 0 && value.isFinite ? value / maximum : 0
        let cells = barGlyphs(fraction: fraction, width: width, eighths: glyphs.barEighths)
        for i in 0..<width {
            if i < cells.count { buffer.set(x: x + i, y: area.y, Cell(cells[i], style: style), clip: area) }
            else { buffer.set(x: x + i, y: area.y, Cell(track, style: trackStyle), clip: area) }
        }
    }
}

/// One part of a stacked bar.
public struct BarSegment: Hashable, Sendable {
    /// Its value (negative and non-finite count as 0).
    public var value: Double
    /// Its style.
    public var style: Style
    /// Its fill glyph (nil = the glyph set's full block); distinct glyphs keep parts apart without colour.
    public var glyph: String?
    /// Makes a segment.
    public init(value: Double, style: Style = .plain, glyph: String? = nil) {
        self.value = value; self.style = style; self.glyph = glyph
    }
}

/// A horizontal bar split into coloured parts (e.g. memory: base, adapter, optimizer, activations) against a total.
/// Cells go to parts by largest remainder, so the parts always add up to the filled length.
public struct StackedBar: Widget {
    /// The parts, left to right.
    public var segments: [BarSegment]
    /// The value of the whole width (nil = the sum of the parts).
    public var total: Double?
    /// Style of the unfilled track.
    public var trackStyle: Style
    /// Glyph of the unfilled track.
    public var track: String
    /// Glyphs.
    public var glyphs: GlyphSet

    /// Makes a stacked bar.
    public init(segments: [BarSegment], total: Double? = nil, trackStyle: Style = .plain, track: String = " ",
                glyphs: GlyphSet = .unicode) {
        self.segments = segments; self.total = total; self.trackStyle = trackStyle; self.track = track; self.glyphs = glyphs
    }

    /// Cells per segment at a width (largest-remainder rounding; sums to the filled width).
    public func cellCounts(width: Int) -> [Int] {
        let values = segments.map { $0.value.isFinite ? max(0, $0.value) : 0 }
        let sum = values.reduce(0, +)
        let whole = total.map { $0.isFinite && $0 > 0 ? max($0, 0) : 0 } ?? sum
        guard width > 0, whole > 0, sum > 0 else { return values.map { _ in 0 } }
        let filled = Int((min(1, sum / whole) * Double(width)).rounded())
        let exact = values.map { $0 / sum * Double(filled) }
        var counts = exact.map { Int($0.rounded(.down)) }
        var left = filled - counts.reduce(0, +)
        let order = exact.indices.sorted { (exact[$0] - Double(counts[$0])) > (exact[$1] - Double(counts[$1])) }
        for i in order where left > 0 { counts[i] += 1; left -= 1 }
        return counts
    }

    /// Draws on the first row of `area`.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        var x = area.x
        for (seg, n) in zip(segments, cellCounts(width: area.width)) {
            for _ in 0..<n {
                buffer.set(x: x, y: area.y, Cell(seg.glyph ?? glyphs.barEighths.last ?? "#", style: seg.style), clip: area)
                x += 1
            }
        }
        while x < area.maxX { buffer.set(x: x, y: area.y, Cell(track, style: trackStyle), clip: area); x += 1 }
    }
}
