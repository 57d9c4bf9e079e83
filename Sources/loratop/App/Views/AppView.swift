import LoRAKit
import TerminalUI

/// The whole screen as a pure function of the state: the full dashboard at 120×40 and larger, chart + compact stats
/// below that, a "too small" line under 40×10, and the help, quit and stopping overlays on top.
enum AppView {
    /// Below this the app shows only the "too small" line.
    static let minimum = Size(width: 40, height: 10)
    /// From this size on every panel is shown.
    static let full = Size(width: 120, height: 40)

    /// Renders a frame of `size`.
    static func render(_ state: AppState, _ ctx: ViewContext, size: Size) -> CellBuffer {
        var buf = CellBuffer(size: size, fill: Cell(" ", style: ctx.style(.mainBg)))
        let area = buf.bounds
        guard !area.isEmpty else { return buf }
        if size.width < minimum.width || size.height < minimum.height {
            tooSmall(ctx, into: &buf, area: area)
            return buf
        }
        if size.width >= full.width && size.height >= full.height {
            dashboard(state, ctx, into: &buf, area: area)
        } else {
            compact(state, ctx, into: &buf, area: area)
        }
        if state.quitting != nil {
            stopping(state, ctx, into: &buf, area: area)
        } else if state.confirmQuit {
            confirmQuit(state, ctx, into: &buf, area: area)
        } else if state.showHelp {
            help(state, ctx, into: &buf, area: area)
        } else if state.showChanges {
            ChangeLogView.render(state, ctx, into: &buf, area: area)
        }
        return buf
    }

    /// The "terminal too small" message, wrapped and centred; q still quits. The longest wording whose words all fit
    /// whole is shown, down to a lone "q" in a 1×1 terminal: never a word cut in half.
    static func tooSmall(_ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let text = tooSmallText(ctx, area.size)
        let lines = TextWrap.wrap(text, width: area.width)
        let box = area.centered(width: area.width, height: min(area.height, lines.count))
        buf.render(Text(text, style: ctx.style(.warning), wrap: true, alignment: .center), in: box)
    }

    /// The wording of the "too small" message for `size`.
    static func tooSmallText(_ ctx: ViewContext, _ size: Size) -> String {
        let need = "\(minimum.width)×\(minimum.height)"
        let wordings = ["terminal too small (need \(need)) — q quits", "too small: need \(need) — q quits",
                        "too small — q quits", "q quits", "q"].map(ctx.arrows)
        return wordings.first { w in
            w.split(separator: " ").allSatisfy { String($0).terminalWidth <= size.width }
                && TextWrap.wrap(w, width: size.width).count <= size.height
        } ?? "q"
    }

    /// Every panel: header; chart beside adapter and throughput; memory; samples; the change, message and status rows.
    static func dashboard(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let rows = area.rows([.fixed(1), .fill, .fixed(10), .fixed(7), .fixed(3)])
        StatusView.header(state, ctx, into: &buf, area: rows[0])
        let top = rows[1].columns([.fill, .fixed(46)])
        if state.inside.visible {
            InsideView.render(state, ctx, into: &buf, area: top[0])
        } else {
            LossChartView.render(state, ctx, into: &buf, area: top[0])
        }
        let side = top[1].rows([.fixed(12), .fill])
        AdapterView.render(state, ctx, into: &buf, area: side[0])
        ThroughputView.render(state, ctx, into: &buf, area: side[1])
        MemoryView.render(state, ctx, into: &buf, area: rows[2])
        SamplesView.render(state, ctx, into: &buf, area: rows[3])
        StatusView.footer(state, ctx, into: &buf, area: rows[4])
    }

    /// Header, chart, a few lines of stats, info and status rows.
    static func compact(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let statRows = area.height >= 20 ? 4 : (area.height >= 14 ? 2 : 1)
        let footerRows = area.height >= 14 ? 2 : 1
        let rows = area.rows([.fixed(1), .fill, .fixed(statRows), .fixed(footerRows)])
        StatusView.header(state, ctx, into: &buf, area: rows[0])
        if state.inside.visible {
            InsideView.render(state, ctx, into: &buf, area: rows[1])
        } else {
            LossChartView.render(state, ctx, into: &buf, area: rows[1])
        }
        buf.lines(Array(compactStats(state, ctx).prefix(statRows)), in: rows[2].inset(by: Margin(left: 1)),
                  ellipsis: ctx.glyphs.ellipsis)
        StatusView.footer(state, ctx, into: &buf, area: rows[3])
    }

    /// The compact stats: progress and speed; losses; adapter (with pending values); memory.
    static func compactStats(_ state: AppState, _ ctx: ViewContext) -> [[Span]] {
        let s = state.snapshot
        let set = s.settings, eff = state.effectiveSettings
        func k(_ t: String) -> Span { ctx.span(t, .inactiveFg) }
        func v(_ t: String) -> Span { ctx.span(t, .hiFg) }
        func setting(_ name: String, _ cur: String, _ next: String) -> [Span] {
            var out = [k(name), v(cur)]
            if next != cur { out.append(ctx.span(" → \(next) (pending)", .pending)) }
            return out
        }
        var progress = [k("step "), v("\(s.step)/\(s.totalSteps)"), k(" (\(Fmt.percent(ThroughputView.progress(s))))"),
                        k("  tok/s "), v(Fmt.rate(s.tokensPerSecond)), k("  s/step "), v(Fmt.seconds(s.secondsPerStep)),
                        k("  elapsed "), v(clock(state.liveElapsed)), k("  ETA "), v(state.liveETA.map(clock) ?? "–")]
        progress += [k("  epoch "), v(String(format: "%.2f", s.epoch))]
        var losses = [k("loss "), v(Fmt.loss(s.lastStep?.loss)), k("  eval "), v(Fmt.loss(s.lastEval?.loss))]
        if let e = s.lastEval { losses.append(k(" @\(e.step)")) }
        if let lr = s.lastStep?.learningRate { losses += [k("  lr now "), v(sci(lr))] }
        if let g = s.lastStep?.gradNorm { losses += [k("  grad norm "), v(fixed(g, 3))] }
        var adapter = setting("r ", "\(set.rank)", "\(eff.rank)") + [k("  ")]
            + setting("α ", formatNumber(set.alpha), formatNumber(eff.alpha)) + [k("  ")]
            + setting("lr ", formatNumber(set.learningRate), formatNumber(eff.learningRate)) + [k("  ")]
            + setting("dropout ", formatNumber(set.dropout), formatNumber(eff.dropout)) + [k("  ")]
            + setting("base ", set.quantization, eff.quantization)
        if s.baseParameters > 0 {
            adapter += [k("  trainable "), v(Fmt.count(s.trainableParameters)),
                        k(" (\(Fmt.percent(Double(s.trainableParameters) / Double(s.baseParameters))))")]
        }
        var memory: [Span] = [k("memory ")]
        if let m = state.memory {
            memory += [v(ByteFormat.binary(m.accountedBytes)), k(" accounted")]
            if let r = m.residentBytes { memory += [k("  resident "), v(ByteFormat.binary(r))] }
            if let full = m.methods.first, let best = m.methods.min(by: { $0.totalBytes < $1.totalBytes }), best != full {
                memory += [k("  \(best.name) "), v(String(format: "%.2f×", best.ratioToFull)), k(" of full fine-tuning")]
            }
        } else {
            memory.append(k("accounting not available"))
        }
        return [progress, losses, adapter, memory].map { $0.map { Span(ctx.arrows($0.text), style: $0.style) } }
    }

    /// The help overlay, generated from the key table (scrolls when the terminal is short).
    static func help(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let lines = KeyMap.helpLines().map(ctx.arrows)
        let width = (lines.map(\.terminalWidth).max() ?? 20) + 4
        let modalStyle = ctx.palette.style(fg: .mainFg, bg: .modalBg)
        let spans = lines.enumerated().map { i, l -> Span in
            Span(l + (i + 1 < lines.count ? "\n" : ""), style: l.hasPrefix(" ") ? modalStyle : modalStyle.adding(.bold))
        }
        let fits = lines.count + 2 <= area.height - 2
        let title = ctx.arrows(fits ? "keys — Esc closes" : "keys — ↑↓ scroll, Esc closes")
        buf.render(Modal(title: title, width: width, height: lines.count + 2, glyphs: ctx.glyphs.heavyBox,
                         borderStyle: ctx.palette.style(fg: .title, bg: .modalBg), fill: modalStyle,
                         content: Text(spans, wrap: false, scroll: fits ? 0 : state.helpScroll, ellipsis: ctx.glyphs.ellipsis)),
                   in: area)
    }

    /// The "quit?" overlay shown when progress is unsaved.
    static func confirmQuit(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let modalStyle = ctx.palette.style(fg: .mainFg, bg: .modalBg)
        let unsaved = state.snapshot.unsavedProgress ? "Progress since the last checkpoint is not saved.\n\n"
            : "Everything so far is saved.\n\n"
        let text = ctx.arrows(unsaved
            + "  y / Enter   stop the run and save a checkpoint\n  n           stop the run without saving\n"
            + "  d / q       detach: the run goes on (loratop attach)\n  Esc         cancel, keep watching")
        buf.render(Modal(title: "Quit?", width: 58, height: 8, glyphs: ctx.glyphs.heavyBox,
                         borderStyle: ctx.palette.style(fg: .warning, bg: .modalBg), fill: modalStyle,
                         content: Text(text, style: modalStyle, wrap: true)), in: area)
    }

    /// The overlay shown while the engine finishes its step (and saves).
    static func stopping(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let modalStyle = ctx.palette.style(fg: .mainFg, bg: .modalBg)
        var text = state.quitting == true ? "saving a checkpoint and stopping…" : "stopping…"
        if let sig = state.stopSignal { text = "signal \(signalName(sig)): " + text }
        if state.snapshot.status == .saving { text += "\nwriting the checkpoint now" }
        buf.render(Modal(title: "Stopping", width: 64, height: 5, glyphs: ctx.glyphs.heavyBox,
                         borderStyle: ctx.palette.style(fg: .pending, bg: .modalBg), fill: modalStyle,
                         content: Text(ctx.arrows(text), style: modalStyle, wrap: true)), in: area)
    }

    /// SIGINT, SIGTERM, SIGHUP by name.
    static func signalName(_ sig: Int32) -> String {
        switch sig {
        case 1: return "SIGHUP"
        case 2: return "SIGINT"
        case 15: return "SIGTERM"
        default: return "\(sig)"
        }
    }
}
