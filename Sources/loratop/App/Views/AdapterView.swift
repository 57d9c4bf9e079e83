import LoRAKit
import TerminalUI

/// The adapter panel: rank, alpha, scale, dropout, learning rate, targets, base storage and trainable parameters,
/// with pending values beside current ones ("rank 8 → 16 (pending)").
enum AdapterView {
    /// One "label  current [→ pending (pending)]" row.
    static func row(_ label: String, _ current: String, _ pending: String?, _ ctx: ViewContext) -> [Span] {
        var spans = [ctx.span(label.padding(toLength: 10, withPad: " ", startingAt: 0), .inactiveFg),
                     ctx.span(current, .hiFg)]
        if let p = pending, p != current {
            spans.append(ctx.span(ctx.arrows(" → ") + p + " (pending)", .pending))
        }
        return spans
    }

    /// " fixed: why" when the run cannot change this setting (greyed, the run's own reason).
    static func fixed(_ kind: String, _ state: AppState, _ ctx: ViewContext) -> [Span] {
        guard let why = state.unsupported[kind] else { return [] }
        return [ctx.span("  fixed: " + why.oneLine(160), .inactiveFg)]
    }

    /// The panel's lines.
    static func lines(_ state: AppState, _ ctx: ViewContext) -> [[Span]] {
        let s = state.snapshot.settings
        let e = state.effectiveSettings
        let snap = state.snapshot
        func num(_ v: Float) -> String { formatNumber(v) }
        var out: [[Span]] = []
        out.append(row("rank", "\(s.rank)", "\(e.rank)", ctx) + fixed("rank", state, ctx))
        out.append(row("alpha", num(s.alpha), num(e.alpha), ctx))
        let scaleNote = s.rsLoRA ? " (α/√r)" : " (α/r)"
        out.append(row("scale", String(format: "%.3g", Double(s.scale)) + ctx.arrows(scaleNote),
                       e.scale != s.scale ? String(format: "%.3g", Double(e.scale)) : nil, ctx))
        out.append(row("dropout", num(s.dropout), num(e.dropout), ctx))
        out.append(row("lr", num(s.learningRate), num(e.learningRate), ctx)
                   + [ctx.span("  \(s.schedule), warmup \(s.warmup)", .inactiveFg)])
        out.append(row("targets", s.targets.joined(separator: " "), nil, ctx))
        out.append(row("base", s.quantization, e.quantization, ctx) + fixed("quant", state, ctx))
        if let c = s.compute { out.append(row("compute", c + (c == "bf16" ? ", fp32 accumulate" : ""), nil, ctx)) }
        var trainable = row("trainable", Fmt.count(snap.trainableParameters), nil, ctx)
        if snap.baseParameters > 0 {
            let share = Double(snap.trainableParameters) / Double(snap.baseParameters)
            trainable.append(ctx.span(" (\(Fmt.percent(share)) of \(Fmt.count(snap.baseParameters)) base)", .mainFg))
        }
        if e.rank != s.rank, s.rank > 0 {
            // LoRA parameters grow linearly with r.
            trainable.append(ctx.span(ctx.arrows(" → ") + Fmt.count(snap.trainableParameters * e.rank / s.rank), .pending))
        }
        out.append(trainable)
        out.append(row("batch", "\(s.batchSize) × \(s.seqLen) tokens" + (s.gradAccum > 1 ? ", accum \(s.gradAccum)" : ""),
                       nil, ctx))
        return out.map { $0.map { Span(ctx.arrows($0.text), style: $0.style) } }
    }

    /// Draws the panel in a box.
    static func render(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        buf.render(ctx.box("Adapter", right: state.snapshot.settings.rsLoRA ? "rsLoRA" : "LoRA"), in: area)
        buf.lines(lines(state, ctx), in: Box.inner(area).inset(by: Margin(left: 1)), ellipsis: ctx.glyphs.ellipsis)
    }
}

/// Throughput and progress: step/total, epoch, tokens/s, s/step, elapsed, ETA, latest losses.
enum ThroughputView {
    /// The panel's lines (the progress gauge is drawn separately on the first row).
    static func lines(_ state: AppState, _ ctx: ViewContext) -> [[Span]] {
        let s = state.snapshot
        func kv(_ k: String, _ v: String) -> [Span] {
            [ctx.span(k.padding(toLength: 10, withPad: " ", startingAt: 0), .inactiveFg), ctx.span(v, .hiFg)]
        }
        var out: [[Span]] = []
        out.append(kv("step", "\(s.step) / \(s.totalSteps)") + [ctx.span("   epoch ", .inactiveFg),
                                                                  ctx.span(String(format: "%.2f", s.epoch), .hiFg)])
        out.append(kv("tokens/s", Fmt.rate(s.tokensPerSecond)) + [ctx.span("   s/step ", .inactiveFg),
                                                                  ctx.span(Fmt.seconds(s.secondsPerStep), .hiFg)])
        out.append(kv("elapsed", clock(state.liveElapsed)) + [ctx.span("   ETA ", .inactiveFg),
                                                             ctx.span(state.liveETA.map(clock) ?? "–", .hiFg)])
        var loss = kv("loss", Fmt.loss(s.lastStep?.loss))
        if let g = s.lastStep?.gradNorm { loss += [ctx.span("   grad norm ", .inactiveFg), ctx.span(fixed(g, 3), .hiFg)] }
        out.append(loss)
        var eval = kv("eval", Fmt.loss(s.lastEval?.loss))
        if let e = s.lastEval {
            eval.append(ctx.span(" at step \(e.step)", .inactiveFg))
            if let em = e.exactMatch { eval += [ctx.span("   exact ", .inactiveFg), ctx.span(Fmt.percent(em), .hiFg)] }
        }
        out.append(eval)
        if let lr = s.lastStep?.learningRate { out.append(kv("lr now", sci(lr))) }
        return out.map { $0.map { Span(ctx.arrows($0.text), style: $0.style) } }
    }

    /// Fraction of the planned steps done.
    static func progress(_ s: Snapshot) -> Double { s.totalSteps > 0 ? Double(s.step) / Double(s.totalSteps) : 0 }

    /// Draws the panel in a box: a progress gauge, then the lines.
    static func render(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        buf.render(ctx.box("Throughput"), in: area)
        let inner = Box.inner(area).inset(by: Margin(left: 1))
        guard !inner.isEmpty else { return }
        buf.render(Gauge(fraction: progress(state.snapshot), style: ctx.style(.meterFg),
                         trackStyle: ctx.palette.style(fg: .inactiveFg, bg: .meterBg), labelStyle: ctx.style(.hiFg),
                         glyphs: ctx.glyphs), in: inner.top(1))
        buf.lines(lines(state, ctx), in: inner.inset(by: Margin(top: 1)), ellipsis: ctx.glyphs.ellipsis)
    }
}
