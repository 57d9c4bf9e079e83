import LoRAKit
import TerminalUI
import RunLink

/// The memory panel: this run's bytes by component as bars, the accounted total beside the resident set the OS
/// measured, and full fine-tuning vs LoRA vs QLoRA side by side (total, ratio to full, savings, bits/param).
enum MemoryView {
    /// The theme colour of a component kind.
    static func colorKey(_ kind: MemoryKind) -> ThemeKey {
        switch kind {
        case .baseWeights: return .memBase
        case .adapters, .gradients: return .memAdapter
        case .optimizerState: return .memOptimizer
        case .activations, .logits, .scratch: return .memActivations
        case .other: return .inactiveFg
        }
    }

    /// "accounted X · resident (OS) Y" (and the unexplained difference).
    static func headline(_ m: MemoryFigures?, _ ctx: ViewContext) -> [Span] {
        guard let m else { return [ctx.span("memory accounting not available for this run", .inactiveFg)] }
        var spans = [ctx.span("accounted ", .inactiveFg), ctx.span(ByteFormat.binary(m.accountedBytes), .hiFg)]
        if let rss = m.residentBytes {
            spans += [ctx.span("   resident (OS) ", .inactiveFg), ctx.span(ByteFormat.binary(rss), .hiFg)]
            if let peak = m.peakResidentBytes { spans.append(ctx.span(" (peak \(ByteFormat.binary(peak)))", .inactiveFg)) }
        }
        spans += rankSpans(m.ranks, ctx)
        return spans.map { Span(ctx.arrows($0.text), style: $0.style) }
    }

    /// "   ranks 0 cpu 1.2 GiB (peak 1.3 GiB) · 1 cuda:1 …": every process of a run that has several.
    static func rankSpans(_ ranks: [RankMemory], _ ctx: ViewContext) -> [Span] {
        guard ranks.count > 1 else { return [] }
        var spans = [ctx.span("   ranks ", .inactiveFg)]
        for (i, r) in ranks.enumerated() {
            if i > 0 { spans.append(ctx.span(" · ", .inactiveFg)) }
            let now = r.allocatedBytes ?? r.residentBytes
            spans += [ctx.span("\(r.rank) \(r.device) ", .inactiveFg), ctx.span(now.map(ByteFormat.binary) ?? "–", .hiFg)]
            if let p = r.peakBytes { spans.append(ctx.span(" (peak \(ByteFormat.binary(p)))", .inactiveFg)) }
        }
        return spans
    }

    /// One bar row per component, then the resident memory the accounting does not explain.
    static func renderParts(_ m: MemoryFigures, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        let nameWidth = min(22, max(8, (m.parts.map { $0.name.terminalWidth }.max() ?? 8) + 1))
        let bytesWidth = 10
        let whole = max(m.accountedBytes, m.residentBytes ?? 0)
        let rows = fitParts(m, rows: area.height).map { ($0.name, $0.bytes, ctx.style($0.name == "unaccounted" ? .inactiveFg : colorKey($0.kind))) }
        for (i, r) in rows.prefix(area.height).enumerated() {
            let y = area.y + i
            buf.put(ctx.arrows(r.0).aligned(.left, width: nameWidth, ellipsis: ctx.glyphs.ellipsis), x: area.x, y: y,
                    style: ctx.style(.mainFg), clip: area)
            let barWidth = area.width - nameWidth - bytesWidth
            if barWidth >= 3 {
                buf.render(Bar(value: Double(r.1), maximum: Double(whole), style: r.2,
                               trackStyle: ctx.palette.style(fg: .inactiveFg, bg: .meterBg), glyphs: ctx.glyphs),
                           in: Rect(x: area.x + nameWidth, y: y, width: barWidth, height: 1))
            }
            buf.put(ByteFormat.binary(r.1).aligned(.right, width: bytesWidth), x: area.maxX - bytesWidth, y: y,
                    style: ctx.style(.hiFg), clip: area)
        }
    }

    /// The parts as rows that fit in `rows` lines, adding up to the same total: all of them and the unaccounted
    /// resident memory when they fit; otherwise the measured costs of the process (runtime, tokenizer, data) as one
    /// row, then the smallest parts as one, and the unaccounted row only if a line is left (the headline has both
    /// totals). A re-quantize or a rank change never pushes a part off the panel.
    static func fitParts(_ m: MemoryFigures, rows: Int) -> [MemoryFigures.Part] {
        var parts = m.parts
        var unaccounted: [MemoryFigures.Part] = []
        if let rss = m.residentBytes, rss > m.accountedBytes {
            unaccounted = [MemoryFigures.Part(name: "unaccounted", bytes: rss - m.accountedBytes, kind: .other)]
        }
        if parts.count + unaccounted.count <= rows { return parts + unaccounted }
        let other = parts.filter { $0.kind == .other }
        if other.count > 1 {
            let name = other.count == 3 && other.allSatisfy { $0.name.hasSuffix("(measured)") }
                ? "runtime + data" : "\(other.count) other parts"
            parts = parts.filter { $0.kind != .other }
                + [MemoryFigures.Part(name: name, bytes: other.reduce(0) { $0 + $1.bytes }, kind: .other)]
        }
        if parts.count > rows, rows >= 1 {
            let keep = Set(parts.indices.sorted { parts[$0].bytes > parts[$1].bytes }.prefix(rows - 1))
            let rest = parts.indices.filter { !keep.contains($0) }
            parts = parts.indices.filter { keep.contains($0) }.map { parts[$0] }
                + [MemoryFigures.Part(name: "\(rest.count) smaller parts", bytes: rest.reduce(0) { $0 + parts[$1].bytes }, kind: .other)]
        }
        return parts.count + unaccounted.count <= rows ? parts + unaccounted : parts
    }

    /// The comparison table's rows: method, total, ratio to full, how many times smaller, linear bits/param.
    static func methodRows(_ m: MemoryFigures) -> [[String]] {
        m.methods.map { r in
            let times = r.ratioToFull > 0 ? 1 / r.ratioToFull : 0
            return [r.name, ByteFormat.binary(r.totalBytes), String(format: "%.2f×", r.ratioToFull),
                    r.ratioToFull >= 0.999 ? "–" : String(format: "%.1f× less", times),
                    String(format: "%.2f", r.linearBitsPerParam)]
        }
    }

    /// Draws the comparison table.
    static func renderMethods(_ m: MemoryFigures, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        guard !area.isEmpty, !m.methods.isEmpty else { return }
        let columns = [TableColumn("method", width: .fill(1)), TableColumn("total", width: .fixed(10), alignment: .right),
                       TableColumn(ctx.arrows("× full"), width: .fixed(7), alignment: .right),
                       TableColumn("saving", width: .fixed(11), alignment: .right),
                       TableColumn("bits/param", width: .fixed(10), alignment: .right)]
        var rows = methodRows(m).map { $0.map { ctx.arrows($0) } }
        // too short for every method: full fine-tuning (the yardstick) and this run stay, the rows between go first
        while rows.count > max(2, area.height - 1), let drop = rows.indices.dropFirst().dropLast().last(where: { rows[$0][0] != "loratop, this run" }) {
            rows.remove(at: drop)
        }
        buf.render(Table(columns: columns, rows: rows, headerStyle: ctx.style(.title).adding(.underline),
                         rowStyle: ctx.style(.mainFg), ellipsis: ctx.glyphs.ellipsis), in: area)
    }

    /// Draws the panel in a box: components on the left, comparison on the right (stacked when narrow).
    static func render(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        buf.render(ctx.box("Memory", right: "binary units"), in: area)
        let inner = Box.inner(area).inset(by: Margin(right: 1, left: 1))
        guard !inner.isEmpty else { return }
        buf.line(headline(state.memory, ctx), in: inner, row: 0, ellipsis: ctx.glyphs.ellipsis)
        guard let m = state.memory else { return }
        let body = inner.inset(by: Margin(top: 1))
        if body.width >= 96 {
            let cols = body.columns([.percent(48), .fill], spacing: 2)
            renderParts(m, ctx, into: &buf, area: cols[0])
            renderMethods(m, ctx, into: &buf, area: cols[1])
        } else {
            let partRows = min(body.height, m.parts.count + 1)
            renderParts(m, ctx, into: &buf, area: body.top(partRows))
            renderMethods(m, ctx, into: &buf, area: body.inset(by: Margin(top: partRows)))
        }
    }
}
