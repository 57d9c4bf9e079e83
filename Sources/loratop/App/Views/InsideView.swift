import Foundation
import LoRAKit
import TerminalUI

/// The Inside panel (key i, in place of the loss chart): a projection × layer heatmap of the chosen quantity with its
/// legend, the selected module's figures and spectrum, and the rank advisor's line. Fits 80×24 (30 layers × 7
/// projections in 2-column cells); smaller areas keep the heatmap and drop the rest from the bottom.
enum InsideView {
    static func render(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let x = state.snapshot.inspection
        let metric = state.inside.metric
        let right = x.map { "step \($0.step) · \(String(format: "%.2f", $0.seconds)) s" } ?? ""
        let box = ctx.box(ctx.arrows("Inside: " + metric.label), right: ctx.arrows(right))
        buf.render(box, in: area)
        let inner = Box.inner(area).inset(by: Margin(right: 1, left: 1))
        guard !inner.isEmpty else { return }
        guard let x, !x.modules.isEmpty else {
            let fallback = state.inside.unsupported ? "this run does not compute inspections (its server refused `inspect`)"
                : state.canSend ? "computing at the next step boundary…"
                : "read-only viewer: shown once the run computes one (another viewer's panel, or --inspect-every)"
            let why = state.unsupportedReason(.inspect).map { "inspect: " + $0 } ?? fallback
            buf.line([ctx.span(ctx.arrows(why), .inactiveFg)], in: inner, row: 0, ellipsis: ctx.glyphs.ellipsis)
            return
        }
        let layers = x.layers, targets = x.targets
        let row = min(state.inside.row, max(0, targets.count - 1))
        let col = min(state.inside.column, max(0, layers.count - 1))
        let byCell = Dictionary(x.modules.map { ("\($0.target)/\($0.layer)", $0) }, uniquingKeysWith: { a, _ in a })
        let values: [[Double?]] = targets.map { t in layers.map { l in byCell["\(t)/\(l)"].flatMap(metric.value) } }
        var labels: [Int: String] = [:]
        for (i, l) in layers.enumerated() where l % 5 == 0 { labels[i] = "\(l)" }
        let ramp = HeatRamp(glyphs: ctx.glyphs.isUnicode ? HeatRamp.unicodeGlyphs : HeatRamp.asciiGlyphs,
                            styles: rampStyles(ctx))
        let all = values.flatMap { $0.compactMap { $0 } }
        var scale = RampScale.spanning(all, logarithmic: metric.logarithmic)
        if metric == .effectiveRank { scale = RampScale(low: 0, high: Double(max(1, x.rank))) }
        let map = Heatmap(values: values, rowLabels: targets, columnLabels: labels, ramp: ramp, scale: scale,
                          selected: (row, col), labelStyle: ctx.style(.inactiveFg), missing: " ")
        let mapHeight = min(inner.height, targets.count + 1)
        buf.render(map, in: Rect(x: inner.x, y: inner.y, width: inner.width, height: mapHeight))
        var y = inner.y + mapHeight
        func next() -> Rect? {
            guard y < inner.maxY else { return nil }
            defer { y += 1 }
            return Rect(x: inner.x, y: y, width: inner.width, height: 1)
        }
        if let r = next() {
            if let sc = scale {
                let unit = metric == .effectiveRank ? " of r \(x.rank)" : metric == .quantError ? " (\(x.storage ?? "?") vs source)" : (metric == .relativeSize && all.allSatisfy { $0 > 0 }
                    && x.modules.allSatisfy { $0.baseNorm == nil } ? " (‖ΔW‖, no base norm)" : "")
                buf.render(RampLegend(ramp: ramp, low: metric.format(sc.low), high: metric.format(sc.high) + ctx.arrows(unit),
                                      textStyle: ctx.style(.graphText)), in: r)
            } else {
                buf.line([ctx.span(metric == .quantError ? "the base is not quantized (f32 or as the file stores it)"
                                   : "no values yet (gradients appear after a step)", .inactiveFg)],
                         in: r, row: 0, ellipsis: ctx.glyphs.ellipsis)
            }
        }
        let selected = targets.indices.contains(row) && layers.indices.contains(col) ? byCell["\(targets[row])/\(layers[col])"] : nil
        if let m = selected, let r = next() {
            buf.line(details(m, x, ctx), in: r, row: 0, ellipsis: ctx.glyphs.ellipsis)
        }
        if let m = selected, let r = next() {
            let head = ctx.span(ctx.arrows("σ "), .inactiveFg)
            var xx = buf.put([head], x: r.x, y: r.y, clip: r)
            let sv = m.singularValues.map(Double.init)
            let width = min(sv.count, max(0, r.maxX - xx - 24))
            buf.render(Sparkline(values: sv, glyphs: ctx.glyphs.isUnicode ? Sparkline.unicodeGlyphs : Sparkline.asciiGlyphs,
                                 style: ctx.style(.trainLine), logarithmic: true),
                       in: Rect(x: xx, y: r.y, width: width, height: 1))
            xx += width
            let ends = " σ1 \(sci(m.singularValues.first ?? 0))  σ\(sv.count) \(sci(m.singularValues.last ?? 0))"
            buf.put([ctx.span(ctx.arrows(ends), .graphText)], x: xx, y: r.y, clip: r)
        }
        let advice = ctx.arrows("advice: " + x.advice.summary)
        let rest = inner.maxY - y
        if rest > 0 {
            let style = x.advice.growthWanted ? ctx.style(.warning) : ctx.style(.applied)
            buf.render(Text(advice, style: style, wrap: true),
                       in: Rect(x: inner.x, y: y, width: inner.width, height: min(rest, 2)))
        }
    }

    /// "L12 v ‖ΔW‖ 1.2e-01 = 0.31% ‖W‖ r90 3 r99 9/16 grad 1.2e-03 quant 9.9%".
    static func details(_ m: ModuleInspection, _ x: UpdateInspection, _ ctx: ViewContext) -> [Span] {
        func k(_ t: String) -> Span { ctx.span(ctx.arrows(t), .inactiveFg) }
        func v(_ t: String) -> Span { ctx.span(ctx.arrows(t), .hiFg) }
        var out = [v("L\(m.layer) \(m.target)"), k(" ‖ΔW‖ "), v(sci(Float(m.updateNorm)))]
        if let r = m.relativeSize { out += [k(" = "), v(Fmt.percent(r)), k(" ‖W‖")] }
        out += [k(" r90 "), v("\(m.effectiveRank90)"), k(" r99 "), v("\(m.effectiveRank99)"), k("/\(m.rank)")]
        if let g = m.gradNorm { out += [k(" grad "), v(sci(Float(g)))] }
        if let q = m.quantError { out += [k(" quant "), v(Fmt.percent(q))] }
        return out
    }

    /// Low to high: dim, blue, green, yellow, red from the theme (no colour at all without colour support).
    static func rampStyles(_ ctx: ViewContext) -> [Style] {
        guard ctx.palette.depth != .none else { return [] }
        return [ThemeKey.inactiveFg, .memBase, .meterFg, .pending, .error].map { Style(fg: ctx.palette.color($0)) }
    }
}
