/// A point of a chart series.
public struct ChartPoint: Hashable, Sendable {
    /// Horizontal value (e.g. the step).
    public var x: Double
    /// Vertical value (e.g. the loss).
    public var y: Double
    /// Makes a point.
    public init(x: Double, y: Double) { self.x = x; self.y = y }
}

/// One line of a chart. Points are joined in order; a non-finite point (or a non-positive one on a log scale) breaks
/// the line instead of being drawn.
public struct ChartSeries: Hashable, Sendable {
    /// Name shown in the legend ("" = not in the legend).
    public var name: String
    /// The points, in drawing order.
    public var points: [ChartPoint]
    /// Style of the line.
    public var style: Style
    /// Glyph used in ASCII mode (nil = the glyph set's point for this series' index).
    public var asciiPoint: String?
    /// How the line is drawn in braille and block mode (what tells series apart without colour).
    public var pattern: LinePattern = .solid

    /// Makes a series from points.
    public init(name: String, points: [ChartPoint], style: Style = .plain, asciiPoint: String? = nil,
                pattern: LinePattern = .solid) {
        self.name = name; self.points = points; self.style = style; self.asciiPoint = asciiPoint; self.pattern = pattern
    }

    /// Makes a series from (x, y) pairs.
    public init(name: String, xy: [(Double, Double)], style: Style = .plain, asciiPoint: String? = nil) {
        self.init(name: name, points: xy.map { ChartPoint(x: $0.0, y: $0.1) }, style: style, asciiPoint: asciiPoint)
    }

    /// Makes a series whose x values are `startX, startX + 1, …`.
    public init(name: String, values: [Double], startX: Double = 0, style: Style = .plain, asciiPoint: String? = nil) {
        self.init(name: name, points: values.enumerated().map { ChartPoint(x: startX + Double($0.offset), y: $0.element) },
                  style: style, asciiPoint: asciiPoint)
    }
}

/// How a series is drawn in braille and block mode; ASCII mode draws every series with its own point glyph.
public enum LinePattern: Hashable, Sendable {
    /// Every dot of the line.
    case solid
    /// Every other dot of the line (legend `··`).
    case dotted
    /// Only the points, each as this glyph in its cell, not joined (legend: the glyph).
    case points(String)
}

/// A vertical line at an x position with a short label at its top (e.g. "r 8→16").
public struct ChartMarker: Hashable, Sendable {
    /// Where (in x units); markers outside the x range are not drawn.
    public var x: Double
    /// Label drawn on the top row next to the line.
    public var label: String
    /// Style of line and label.
    public var style: Style
    /// Makes a marker.
    public init(x: Double, label: String = "", style: Style = .plain) { self.x = x; self.label = label; self.style = style }
}

/// The y scale of a chart.
public enum ChartScale: Hashable, Sendable {
    /// Linear.
    case linear
    /// Base-10 logarithmic; values ≤ 0 are skipped (they break the line).
    case log
}

/// A multi-series line chart with y labels (with units), x labels, markers and a legend; braille, half-block or
/// ASCII plotting depending on the glyph set. Auto-scales both axes (y padded by `padding` of its span).
public struct LineChart: Widget {
    /// The series, drawn in order (later ones on top): put a "ghost" previous run first.
    public var series: [ChartSeries]
    /// Vertical markers.
    public var markers: [ChartMarker]
    /// Linear or log y.
    public var scale: ChartScale
    /// Glyphs (the chart mode comes from here).
    public var glyphs: GlyphSet
    /// Fixed y range (nil = from the data); on a log scale non-positive bounds are ignored.
    public var yRange: ClosedRange<Double>?
    /// Fixed x range (nil = from the data).
    public var xRange: ClosedRange<Double>?
    /// Fraction of the y span added above and below when auto-scaling.
    public var padding: Double
    /// Suffix appended to y labels (e.g. "%" or " MiB").
    public var yUnit: String
    /// Formats y labels (before the unit).
    public var yFormatter: @Sendable (Double) -> String
    /// Formats x labels.
    public var xFormatter: @Sendable (Double) -> String
    /// Style of axes.
    public var axisStyle: Style
    /// Style of axis labels and legend names.
    public var labelStyle: Style
    /// Show the legend on the top row (when the area has at least 4 rows and some series has a name).
    public var showLegend: Bool
    /// Draw axes and labels (when there is room).
    public var showAxes: Bool

    /// Makes a chart.
    public init(series: [ChartSeries], markers: [ChartMarker] = [], scale: ChartScale = .linear, glyphs: GlyphSet = .unicode,
                yRange: ClosedRange<Double>? = nil, xRange: ClosedRange<Double>? = nil, padding: Double = 0.05,
                yUnit: String = "", yFormatter: @escaping @Sendable (Double) -> String = { ChartFormat.compact($0) },
                xFormatter: @escaping @Sendable (Double) -> String = { ChartFormat.step($0) }, axisStyle: Style = .plain,
                labelStyle: Style = .plain, showLegend: Bool = true, showAxes: Bool = true) {
        self.series = series; self.markers = markers; self.scale = scale; self.glyphs = glyphs; self.yRange = yRange
        self.xRange = xRange; self.padding = padding; self.yUnit = yUnit; self.yFormatter = yFormatter
        self.xFormatter = xFormatter; self.axisStyle = axisStyle; self.labelStyle = labelStyle
        self.showLegend = showLegend; self.showAxes = showAxes
    }

    /// The drawable runs of each series (valid points, split where a point is skipped), y already on the scale.
    func runs(of s: ChartSeries) -> [[ChartPoint]] {
        var out: [[ChartPoint]] = [[]]
        for p in s.points {
            if let ty = transform(p.y), p.x.isFinite {
                out[out.count - 1].append(ChartPoint(x: p.x, y: ty))
            } else if !(out.last?.isEmpty ?? true) {
                out.append([])
            }
        }
        return out.filter { !$0.isEmpty }
    }

    /// y on the chart's scale, nil when it cannot be drawn.
    func transform(_ y: Double) -> Double? {
        guard y.isFinite else { return nil }
        switch scale {
        case .linear: return y
        case .log: return y > 0 ? Foundation.log10(y) : nil
        }
    }

    func untransform(_ t: Double) -> Double {
        scale == .log ? Foundation.pow(10, t) : t
    }

    /// The x and scaled-y ranges the chart uses (never empty, never NaN).
    public func ranges() -> (x: ClosedRange<Double>, y: ClosedRange<Double>) {
        let all = series.flatMap { runs(of: $0).flatMap { $0 } }
        var x0 = all.map(\.x).min() ?? 0, x1 = all.map(\.x).max() ?? 1
        if let r = xRange, r.lowerBound.isFinite, r.upperBound.isFinite { x0 = r.lowerBound; x1 = r.upperBound }
        if x0 == x1 { x0 -= 1; x1 += 1 }
        var y0: Double, y1: Double
        if let r = yRange, let a = transform(r.lowerBound), let b = transform(r.upperBound), a < b {
            y0 = a; y1 = b
        } else if let lo = all.map(\.y).min(), let hi = all.map(\.y).max() {
            let span = hi - lo
            let pad: Double
            if span > 0 { pad = span * max(0, padding.isFinite ? padding : 0) }
            else if scale == .log { pad = 0.5 }
            else { pad = lo == 0 ? 1 : abs(lo) * 0.1 }
            y0 = lo - pad; y1 = hi + pad
            if y0 == y1 { y1 = y0 + 1 }
        } else {
            y0 = 0; y1 = 1
        }
        return (x0...x1, y0...y1)
    }

    /// Draws the chart.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        var rest = area
        let legendItems = series.enumerated().filter { !$0.element.name.isEmpty }.map { i, s in
            LegendItem(symbol: legendSymbol(i), name: s.name, style: s.style)
        }
        var legendRow: Rect? = nil
        if showLegend && !legendItems.isEmpty && area.height >= 4 {
            legendRow = area.top(1)
            rest = area.inset(by: Margin(top: 1))
        }
        let (xr, yr) = ranges()

        // Y labels at evenly spaced rows of the plot (top = y max, bottom = y min).
        var plot = rest
        var labelRows: [(row: Int, text: String)] = []
        var labelWidth = 0
        let axesFit = showAxes && rest.height >= 3
        if axesFit {
            let h = rest.height - 2
            let ticks = ChartTicks.rows(range: yr, log: scale == .log, rows: h, maxCount: min(5, max(2, (h - 1) / 3 + 1)))
            let texts = ChartTicks.labels(ticks.map(\.value), unit: yUnit, formatter: yFormatter)
            for (tick, text) in zip(ticks, texts) {
                labelRows.append((tick.row, text))
                labelWidth = max(labelWidth, text.terminalWidth)
            }
        }
        let drawAxes = axesFit && rest.width >= labelWidth + 1 + 2
        if drawAxes {
            plot = Rect(x: rest.x + labelWidth + 1, y: rest.y, width: rest.width - labelWidth - 1, height: rest.height - 2)
            let axisX = rest.x + labelWidth
            for y in plot.y..<plot.maxY { buffer.set(x: axisX, y: y, Cell(glyphs.axisVertical, style: axisStyle), clip: rest) }
            for (row, text) in labelRows {
                buffer.put(text.aligned(.right, width: labelWidth), x: rest.x, y: plot.y + row, style: labelStyle, clip: rest)
                buffer.set(x: axisX, y: plot.y + row, Cell(glyphs.axisTick, style: axisStyle), clip: rest)
            }
            buffer.set(x: axisX, y: plot.maxY, Cell(glyphs.axisCorner, style: axisStyle), clip: rest)
            for x in plot.x..<plot.maxX { buffer.set(x: x, y: plot.maxY, Cell(glyphs.axisHorizontal, style: axisStyle), clip: rest) }
            drawXLabels(&buffer, plot: plot, y: plot.maxY + 1, range: xr, clip: rest)
        }
        if let row = legendRow {
            Legend(items: legendItems, textStyle: labelStyle)
                .render(into: &buffer, area: Rect(x: plot.x, y: row.y, width: row.maxX - plot.x, height: 1))
        }
        guard !plot.isEmpty else { return }
        plotData(&buffer, plot: plot, xr: xr, yr: yr)
    }

    private func legendSymbol(_ index: Int) -> String {
        if glyphs.chartMode == .ascii { return asciiPoint(index) }
        switch series[index].pattern {
        case .solid: return glyphs.legendLine
        case .dotted: return glyphs.isUnicode ? "··" : ". "
        case .points(let g): return g
        }
    }

    private func asciiPoint(_ index: Int) -> String {
        if let p = series[index].asciiPoint { return p }
        let pts = glyphs.asciiPoints
        return pts.isEmpty ? "*" : pts[index % pts.count]
    }

    private func drawXLabels(_ buffer: inout CellBuffer, plot: Rect, y: Int, range: ClosedRange<Double>, clip: Rect) {
        guard plot.width > 0 else { return }
        let first = xFormatter(range.lowerBound), last = xFormatter(range.upperBound)
        let fw = first.terminalWidth, lw = last.terminalWidth
        if fw + 1 + lw <= plot.width {
            buffer.put(first, x: plot.x, y: y, style: labelStyle, clip: clip)
            buffer.put(last, x: plot.maxX - lw, y: y, style: labelStyle, clip: clip)
            let mid = xFormatter((range.lowerBound + range.upperBound) / 2)
            let mw = mid.terminalWidth
            let mx = plot.x + (plot.width - mw) / 2
            if mx >= plot.x + fw + 1 && mx + mw + 1 <= plot.maxX - lw && mid != first && mid != last {
                buffer.put(mid, x: mx, y: y, style: labelStyle, clip: clip)
            }
        } else if fw <= plot.width {
            buffer.put(first, x: plot.x, y: y, style: labelStyle, clip: clip)
        }
    }

    private func plotData(_ buffer: inout CellBuffer, plot: Rect, xr: ClosedRange<Double>, yr: ClosedRange<Double>) {
        let (dx, dy): (Int, Int)
        switch glyphs.chartMode {
        case .braille: (dx, dy) = (2, 4)
        case .block: (dx, dy) = (1, 2)
        case .ascii: (dx, dy) = (1, 1)
        }
        var canvas = DotCanvas(columns: plot.width, rows: plot.height, dotsX: dx, dotsY: dy)
        let cw = Double(canvas.width - 1), ch = Double(canvas.height - 1)
        func dot(_ p: ChartPoint) -> (Int, Int) {
            let fx = (p.x - xr.lowerBound) / (xr.upperBound - xr.lowerBound)
            let fy = (yr.upperBound - p.y) / (yr.upperBound - yr.lowerBound)
            let px = Int((min(1, max(0, fx)) * cw).rounded()), py = Int((min(1, max(0, fy)) * ch).rounded())
            return (px, py)
        }
        var pointCells: [(col: Int, row: Int, series: Int)] = []
        for (i, s) in series.enumerated() {
            if case .points = s.pattern, glyphs.chartMode != .ascii {
                for run in runs(of: s) { for p in run where p.x >= xr.lowerBound && p.x <= xr.upperBound {
                    let d = dot(p)
                    pointCells.append((d.0 / dx, d.1 / dy, i))
                } }
                continue
            }
            let every = s.pattern == .dotted && glyphs.chartMode != .ascii ? 2 : 1
            for run in runs(of: s) {
                var prev: (Int, Int)? = nil
                for p in run where p.x >= xr.lowerBound && p.x <= xr.upperBound {
                    let d = dot(p)
                    if let q = prev { canvas.line(from: q, to: d, series: i, every: every) } else { canvas.setDot(d.0, d.1, series: i) }
                    prev = d
                }
            }
        }
        // Markers: a vertical line through empty cells and a label on the top row.
        for m in markers where m.x >= xr.lowerBound && m.x <= xr.upperBound {
            let col = dot(ChartPoint(x: m.x, y: yr.lowerBound)).0 / dx
            for row in 0..<plot.height where canvas.mask(col, row) == 0 {
                buffer.set(x: plot.x + col, y: plot.y + row, Cell(glyphs.vertical, style: m.style), clip: plot)
            }
        }
        for row in 0..<plot.height {
            for col in 0..<plot.width {
                let mask = canvas.mask(col, row)
                guard mask != 0 else { continue }
                let s = canvas.series(col, row)
                let glyph: String
                switch glyphs.chartMode {
                case .braille: glyph = String(Character(Unicode.Scalar(0x2800 + UInt32(mask)) ?? " "))
                case .block: glyph = mask == 1 ? "▀" : mask == 2 ? "▄" : "█"
                case .ascii: glyph = asciiPoint(s)
                }
                buffer.set(x: plot.x + col, y: plot.y + row, Cell(glyph, style: series[s].style), clip: plot)
            }
        }
        for c in pointCells {
            guard case .points(let g) = series[c.series].pattern else { continue }
            buffer.set(x: plot.x + c.col, y: plot.y + c.row, Cell(g, style: series[c.series].style), clip: plot)
        }
        // Labels stack: one that would touch a label already placed goes a row lower (several changes at one step
        // read as a column of labels), down to half the plot; one with no room left is not drawn (the change log has it).
        var placed = [[Range<Int>]](repeating: [], count: max(1, (plot.height + 1) / 2))
        for m in markers.sorted(by: { $0.x < $1.x }) where m.x >= xr.lowerBound && m.x <= xr.upperBound && !m.label.isEmpty {
            let col = dot(ChartPoint(x: m.x, y: yr.lowerBound)).0 / dx
            let w = m.label.terminalWidth
            let x = plot.x + col + 1 + w <= plot.maxX ? plot.x + col + 1 : max(plot.x, plot.x + col - w)
            let text = m.label.truncated(toWidth: plot.maxX - x, ellipsis: glyphs.ellipsis)
            let span = x..<(x + text.terminalWidth + 1)  // and a blank after it
            guard let row = placed.indices.first(where: { r in !placed[r].contains { $0.overlaps(span) } }) else { continue }
            placed[row].append(span)
            buffer.put(text, x: x, y: plot.y + row, style: m.style, clip: plot)
        }
    }
}

/// Dots of a chart plot: each cell holds a bit mask of lit dots and the last series that lit one.
struct DotCanvas {
    let columns: Int, rows: Int, dotsX: Int, dotsY: Int
    private var masks: [UInt8]
    private var owners: [Int]

    init(columns: Int, rows: Int, dotsX: Int, dotsY: Int) {
        self.columns = columns; self.rows = rows; self.dotsX = dotsX; self.dotsY = dotsY
        masks = [UInt8](repeating: 0, count: columns * rows)
        owners = [Int](repeating: 0, count: columns * rows)
    }

    /// Dots across.
    var width: Int { columns * dotsX }
    /// Dots down.
    var height: Int { rows * dotsY }

    func mask(_ col: Int, _ row: Int) -> UInt8 {
        guard col >= 0, row >= 0, col < columns, row < rows else { return 0 }
        return masks[row * columns + col]
    }

    func series(_ col: Int, _ row: Int) -> Int { owners[row * columns + col] }

    /// Braille bits by (dot column, dot row): columns 0/1, rows 0…3.
    private static let braille: [[UInt8]] = [[0x01, 0x02, 0x04, 0x40], [0x08, 0x10, 0x20, 0x80]]

    mutating func setDot(_ x: Int, _ y: Int, series: Int) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let col = x / dotsX, row = y / dotsY
        let bit: UInt8
        switch (dotsX, dotsY) {
        case (2, 4): bit = DotCanvas.braille[x % 2][y % 4]
        case (1, 2): bit = y % 2 == 0 ? 1 : 2
        default: bit = 1
        }
        masks[row * columns + col] |= bit
        owners[row * columns + col] = series
    }

    /// Bresenham's line between two dots, both ends included; with `every` n > 1 only the dots whose coordinate along
    /// the line's major axis is a multiple of n (counted from the canvas origin, so joined segments keep one rhythm).
    mutating func line(from a: (Int, Int), to b: (Int, Int), series: Int, every: Int = 1) {
        var (x0, y0) = a
        let (x1, y1) = b
        let ddx = abs(x1 - x0), ddy = -abs(y1 - y0)
        let sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1
        var err = ddx + ddy
        while true {
            if every <= 1 || (ddx >= -ddy ? x0 : y0) % every == 0 { setDot(x0, y0, series: series) }
            if x0 == x1 && y0 == y1 { break }
            let e2 = 2 * err
            if e2 >= ddy { err += ddy; x0 += sx }
            if e2 <= ddx { err += ddx; y0 += sy }
        }
    }
}

import Foundation
