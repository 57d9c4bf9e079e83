/// How values map to the levels of a ramp: linear between the range's ends, or logarithmic (for quantities spanning
/// decades, such as update sizes and gradient norms).
public struct RampScale: Hashable, Sendable {
    /// Lowest value (level 0).
    public var low: Double
    /// Highest value (the top level).
    public var high: Double
    /// Whether levels are spaced logarithmically (non-positive values then take level 0).
    public var logarithmic: Bool

    /// A scale over `low…high`.
    public init(low: Double, high: Double, logarithmic: Bool = false) {
        self.low = low; self.high = high; self.logarithmic = logarithmic
    }

    /// The scale spanning `values` (finite ones; positive ones when logarithmic), or nil when there are none.
    public static func spanning(_ values: [Double], logarithmic: Bool) -> RampScale? {
        let v = values.filter { $0.isFinite && (!logarithmic || $0 > 0) }
        guard let lo = v.min(), let hi = v.max() else { return nil }
        return RampScale(low: lo, high: hi, logarithmic: logarithmic)
    }

    /// The level (0..<levels) of a value.
    public func level(_ value: Double, levels: Int) -> Int {
        guard levels > 1, value.isFinite else { return 0 }
        var t: Double
        if logarithmic {
            guard value > 0, low > 0, high > low else { return value > 0 && high <= low ? levels - 1 : 0 }
            t = (log(value) - log(low)) / (log(high) - log(low))
        } else {
            guard high > low else { return levels - 1 }
            t = (value - low) / (high - low)
        }
        t = min(1, max(0, t))
        return min(levels - 1, Int(t * Double(levels)))
    }
}

/// The glyphs and styles of a heatmap's levels, lowest first (the same count of each). Glyphs carry the level by
/// themselves, so the map reads without colour; styles add colour where the terminal has it.
public struct HeatRamp: Hashable, Sendable {
    /// One glyph per level.
    public var glyphs: [String]
    /// One style per level.
    public var styles: [Style]

    /// A ramp; `styles` is padded with its last entry (or plain) to the glyphs' count.
    public init(glyphs: [String], styles: [Style]) {
        self.glyphs = glyphs.isEmpty ? ["#"] : glyphs
        var s = styles
        while s.count < self.glyphs.count { s.append(s.last ?? .plain) }
        self.styles = Array(s.prefix(self.glyphs.count))
    }

    /// Levels.
    public var count: Int { glyphs.count }

    /// Shade blocks, light to full.
    public static let unicodeGlyphs = ["·", "░", "▒", "▓", "█"]
    /// ASCII density, light to dense.
    public static let asciiGlyphs = [".", ":", "+", "#", "@"]
}

/// A grid of values drawn as one glyph-ramp cell per value: rows labelled on the left, sparse column labels on a
/// header row above, a selected cell in reverse video, missing values as a blank-ish mark.
///
/// Each value takes `cellWidth` columns (chosen to fit, 1 to 3); columns that do not fit are cut on the right, so the
/// selected column is kept in view by scrolling the grid.
public struct Heatmap: Widget {
    /// Values by row then column (nil: no value, e.g. a module without an adapter).
    public var values: [[Double?]]
    /// One label per row.
    public var rowLabels: [String]
    /// Column labels by column index (drawn on the header row where they fit).
    public var columnLabels: [Int: String]
    /// The ramp.
    public var ramp: HeatRamp
    /// How values become levels (nil: spanning the values, linear).
    public var scale: RampScale?
    /// The selected cell (row, column).
    public var selected: (row: Int, column: Int)?
    /// Style of labels.
    public var labelStyle: Style
    /// Glyph for a missing value.
    public var missing: String

    /// Makes a heatmap.
    public init(values: [[Double?]], rowLabels: [String], columnLabels: [Int: String] = [:], ramp: HeatRamp,
                scale: RampScale? = nil, selected: (row: Int, column: Int)? = nil, labelStyle: Style = .plain,
                missing: String = " ") {
        self.values = values; self.rowLabels = rowLabels; self.columnLabels = columnLabels; self.ramp = ramp
        self.scale = scale; self.selected = selected; self.labelStyle = labelStyle; self.missing = missing
    }

    /// Columns of the widest row.
    public var columns: Int { values.map(\.count).max() ?? 0 }

    /// Width of the row-label gutter (labels plus one blank).
    public var labelWidth: Int { (rowLabels.map(\.terminalWidth).max() ?? 0) + 1 }

    /// Columns per cell for an area `width` wide: as wide as fits, at most 3, at least 1.
    public func cellWidth(for width: Int) -> Int {
        guard columns > 0 else { return 1 }
        return max(1, min(3, (width - labelWidth) / columns))
    }

    /// The first column shown when the grid is `visible` cells wide (scrolled to keep the selection in view).
    func firstColumn(visible: Int) -> Int {
        guard let sel = selected, visible > 0, columns > visible else { return 0 }
        return min(max(0, sel.column - visible / 2), columns - visible)
    }

    /// Draws the header row (when there is room for it and the rows) and one row per value row.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty, columns > 0 else { return }
        let cw = cellWidth(for: area.width)
        let visible = max(0, (area.width - labelWidth) / cw)
        let first = firstColumn(visible: visible)
        let header = area.height > values.count && !columnLabels.isEmpty ? 1 : 0
        let sc = scale ?? RampScale.spanning(values.flatMap { $0.compactMap { $0 } }, logarithmic: false)
        if header == 1 {
            var x = area.x + labelWidth
            for c in first..<min(columns, first + visible) {
                if let l = columnLabels[c], x >= area.x + labelWidth, x + l.terminalWidth <= area.maxX {
                    buffer.put(l, x: x, y: area.y, style: labelStyle, clip: area)
                }
                x += cw
            }
        }
        for (r, row) in values.enumerated() {
            let y = area.y + header + r
            guard y < area.maxY else { break }
            if r < rowLabels.count { buffer.put(rowLabels[r], x: area.x, y: y, style: labelStyle, clip: area) }
            for c in first..<min(columns, first + visible) {
                let x = area.x + labelWidth + (c - first) * cw
                var glyph = missing, style = labelStyle
                if c < row.count, let v = row[c] {
                    let lvl = sc?.level(v, levels: ramp.count) ?? 0
                    glyph = ramp.glyphs[lvl]
                    style = ramp.styles[lvl]
                }
                if let s = selected, s.row == r, s.column == c { style = style.adding(.reverse) }
                for k in 0..<cw { buffer.set(x: x + k, y: y, Cell(glyph, style: style), clip: area) }
            }
        }
    }
}

/// The ramp as a key: `low ·░▒▓█ high`, on one row.
public struct RampLegend: Widget {
    /// The ramp shown.
    public var ramp: HeatRamp
    /// Text before the ramp.
    public var low: String
    /// Text after it.
    public var high: String
    /// Style of the texts.
    public var textStyle: Style

    /// Makes a legend.
    public init(ramp: HeatRamp, low: String, high: String, textStyle: Style = .plain) {
        self.ramp = ramp; self.low = low; self.high = high; self.textStyle = textStyle
    }

    /// Draws on the first row.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        var x = buffer.put(low + " ", x: area.x, y: area.y, style: textStyle, clip: area)
        for i in 0..<ramp.count { x = buffer.put(ramp.glyphs[i], x: x, y: area.y, style: ramp.styles[i], clip: area) }
        buffer.put(" " + high, x: x, y: area.y, style: textStyle, clip: area)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
