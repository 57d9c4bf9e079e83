import Foundation
import LoRAKit
import TerminalUI

/// The loss chart: ghost runs (dim), training loss, its TensorBoard-smoothed curve, eval loss, and a marker at every
/// applied change ("r 8→16"). Axis ranges snap to round values so the picture only reflows when the data cross one,
/// which keeps the bytes sent per frame small.
enum LossChartView {
    /// The x range shown: all planned steps, or the last N steps (window end snapped up to N/5), never past the plan
    /// or the data: a window longer than the run shows the whole run.
    static func xRange(_ state: AppState) -> ClosedRange<Double>? {
        let s = state.snapshot
        let last = max(s.step, s.trainLoss.last?.step ?? 0, s.evalLoss.last?.step ?? 0)
        let ghostEnd = s.ghosts.flatMap { $0.train.map(\.step) }.max() ?? 0
        let whole = max(s.totalSteps, last, ghostEnd)
        if let n = state.chart.window {
            let q = max(1, n / 5)
            var end = max(n, ((last + q - 1) / q) * q)
            if whole > 0 { end = min(end, whole) }
            return end > 0 ? Double(max(0, end - n))...Double(end) : nil
        }
        return whole > 0 ? 0...Double(whole) : nil
    }

    /// A step of 1, 2 or 5 × 10ⁿ near `raw`.
    static func niceStep(_ raw: Double) -> Double {
        guard raw.isFinite, raw > 0 else { return 1 }
        let e = floor(log10(raw))
        let f = raw / pow(10, e)
        let m: Double = f <= 1 ? 1 : (f <= 2 ? 2 : (f <= 5 ? 5 : 10))
        return m * pow(10, e)
    }

    /// `lo…hi` widened to multiples of a round step (about four steps over the span).
    static func niceRange(_ lo: Double, _ hi: Double) -> ClosedRange<Double> {
        var span = hi - lo
        if !(span > 0) { span = max(abs(hi) * 0.1, 0.1) }
        let step = niceStep(span / 4)
        var a = floor(lo / step) * step, b = ceil(hi / step) * step
        if a == b { a -= step; b += step }
        return a...b
    }

    /// The y range (in loss units) of the finite values in view, snapped; nil when nothing finite is in view.
    static func yRange(_ values: [Double], log: Bool) -> ClosedRange<Double>? {
        let usable = values.filter { $0.isFinite && (!log || $0 > 0) }
        guard let lo = usable.min(), let hi = usable.max() else { return nil }
        if log {
            let r = niceRange(log10(lo), log10(hi))
            return pow(10, r.lowerBound)...pow(10, r.upperBound)
        }
        return niceRange(lo, hi)
    }

    /// Long curves reduced to the lowest and highest point of each of `buckets` slices of the x range, in x order
    /// (the drawn envelope is the same at any chart width below `buckets` dot columns); non-finite points are kept
    /// so the line still breaks there. Keeps the cost of a frame flat as a run grows to many thousand steps.
    static func decimate(_ points: [ChartPoint], range: ClosedRange<Double>?, buckets: Int = 600) -> [ChartPoint] {
        guard points.count > 2 * buckets, let r = range, r.upperBound > r.lowerBound else { return points }
        var out: [ChartPoint] = []
        out.reserveCapacity(2 * buckets + 8)
        var current = -1
        var lo: ChartPoint?, hi: ChartPoint?
        func flush() {
            guard let a = lo, let b = hi else { return }
            if a == b { out.append(a) } else if a.x <= b.x { out += [a, b] } else { out += [b, a] }
            lo = nil
            hi = nil
        }
        let scale = Double(buckets) / (r.upperBound - r.lowerBound)
        for p in points {
            guard p.y.isFinite else { flush(); out.append(p); continue }
            let b = Int(((p.x - r.lowerBound) * scale).rounded(.down))
            if b != current { flush(); current = b }
            if lo.map({ p.y < $0.y }) ?? true { lo = p }
            if hi.map({ p.y > $0.y }) ?? true { hi = p }
        }
        flush()
        return out
    }

    /// The chart widget for a state.
    static func chart(_ state: AppState, _ ctx: ViewContext) -> LineChart {
        let s = state.snapshot
        let xr = xRange(state)
        func inView(_ p: LossPoint) -> Bool { xr.map { $0.contains(Double(p.step)) } ?? true }
        func pts(_ l: [LossPoint]) -> [ChartPoint] {
            decimate(l.map { ChartPoint(x: Double($0.step), y: Double($0.value)) }, range: xr)
        }

        var series: [ChartSeries] = []
        var visible: [Double] = []
        let ghostStyle = ctx.style(.ghostLine).adding(.dim)
        for (i, g) in s.ghosts.enumerated() {
            series.append(ChartSeries(name: i == 0 ? "earlier runs" : "", points: pts(g.train), style: ghostStyle,
                                      asciiPoint: "."))
            visible += g.train.filter(inView).map { Double($0.value) }
        }
        let train = s.trainLoss
        series.append(ChartSeries(name: "train", points: pts(train), style: ctx.style(.trainLine), asciiPoint: "*"))
        visible += train.filter(inView).map { Double($0.value) }
        // without colour the curves differ by pattern: train solid, smoothed dotted, eval as points
        let mono = ctx.palette.depth == .none
        let w = state.chart.smoothing
        if w > 0, train.count > 1 {
            let sm = Smoothing.exponentialMovingAverage(train.map { Double($0.value) }, weight: w)
            let smPoints = decimate(zip(train, sm).map { ChartPoint(x: Double($0.0.step), y: $0.1) }, range: xr)
            series.append(ChartSeries(name: "smoothed", points: smPoints, style: ctx.style(.smoothLine), asciiPoint: "+",
                                      pattern: mono ? .dotted : .solid))
        }
        if !s.evalLoss.isEmpty {
            series.append(ChartSeries(name: "eval", points: pts(s.evalLoss), style: ctx.style(.evalLine), asciiPoint: "o",
                                      pattern: mono ? .points(ctx.glyphs.isUnicode ? "•" : "o") : .solid))
            visible += s.evalLoss.filter(inView).map { Double($0.value) }
        }
        let markers = s.changes.filter { $0.kind != "restart" }.map {
            ChartMarker(x: Double($0.step), label: ctx.arrows($0.label), style: ctx.style(.marker))
        }
        return LineChart(series: series, markers: markers, scale: state.chart.logY ? .log : .linear, glyphs: ctx.glyphs,
                         yRange: yRange(visible, log: state.chart.logY), xRange: xr, axisStyle: ctx.style(.divLine),
                         labelStyle: ctx.style(.graphText))
    }

    /// The box's right title: scale, smoothing and zoom.
    static func caption(_ state: AppState, _ ctx: ViewContext) -> String {
        let zoom = state.chart.window.map { "last \($0) steps" } ?? "all steps"
        return ctx.arrows("\(state.chart.logY ? "log" : "linear") · smoothing \(String(format: "%.2f", state.chart.smoothing)) · \(zoom)")
    }

    /// Draws the chart in a titled box (the chart stacks the labels of changes that land close together).
    static func render(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        buf.render(ctx.box(ctx.arrows("Loss (nats/token) · x: step"), right: caption(state, ctx)), in: area)
        let inner = Box.inner(area)
        let chart = chart(state, ctx)
        if state.snapshot.trainLoss.isEmpty && state.snapshot.ghosts.isEmpty {
            buf.render(chart, in: inner)
            let msg = ctx.arrows("waiting for the first step…")
            buf.line([ctx.span(msg, .inactiveFg)], in: inner.centered(width: msg.terminalWidth, height: 1), row: 0,
                     ellipsis: ctx.glyphs.ellipsis)
            return
        }
        buf.render(chart, in: inner)
    }
}
