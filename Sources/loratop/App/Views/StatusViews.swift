import LoRAKit
import TerminalUI

/// The latest samples: prompt, the base model's answer, the adapted answer and the reference (↑/↓ pick one).
enum SamplesView {
    /// The lines for the selected sample (state.scroll picks among the latest ones).
    static func lines(_ state: AppState, _ ctx: ViewContext) -> [[Span]] {
        let samples = state.snapshot.samples
        guard !samples.isEmpty else {
            if let why = state.unsupported["sample"] { return [[ctx.span("no samples: " + why.oneLine(300), .inactiveFg)]] }
            return [[ctx.span(ctx.arrows("no samples yet — press g to generate (base vs adapted)"), .inactiveFg)]]
        }
        let s = samples[state.scroll % samples.count]
        func kv(_ k: String, _ v: String?, _ key: ThemeKey) -> [Span] {
            [ctx.span(k.padding(toLength: 11, withPad: " ", startingAt: 0), .inactiveFg),
             ctx.span(ctx.arrows((v ?? "–").oneLine(400)), key)]
        }
        var out = [kv("prompt", s.prompt, .mainFg), kv("base", s.base, .mainFg), kv("adapted", s.adapted, .hiFg)]
        if let r = s.reference {
            var ref = kv("reference", r, .mainFg)
            let same = r.trimmingCharacters(in: .whitespacesAndNewlines) == s.adapted.trimmingCharacters(in: .whitespacesAndNewlines)
            ref.append(ctx.span(same ? "  (adapted matches)" : "", .applied))
            out.append(ref)
        }
        return out
    }

    /// Draws the panel in a box.
    static func render(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let samples = state.snapshot.samples
        let right = samples.isEmpty ? "" :
            ctx.arrows("step \(samples[state.scroll % samples.count].step) · \(state.scroll % samples.count + 1)/\(samples.count) · ↑↓")
        buf.render(ctx.box("Samples", right: right), in: area)
        buf.lines(lines(state, ctx), in: Box.inner(area).inset(by: Margin(right: 1, left: 1)), ellipsis: ctx.glyphs.ellipsis)
    }
}

/// The header row and the two status rows at the bottom.
enum StatusView {
    /// Theme colour of a status word.
    static func statusKey(_ s: EngineStatus) -> ThemeKey {
        switch s {
        case .running, .finished: return .applied
        case .paused, .saving, .evaluating, .sampling, .starting: return .pending
        case .stopped: return .warning
        case .failed: return .error
        }
    }

    /// "loratop · model · data" on the left, the status word and step on the right.
    static func header(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let s = state.snapshot
        var left = [Span(" loratop ", style: ctx.style(.title).adding(.bold))]
        if !state.modelName.isEmpty { left += [ctx.span(" model ", .inactiveFg), ctx.span(state.modelName, .hiFg)] }
        if !state.dataName.isEmpty { left += [ctx.span("  data ", .inactiveFg), ctx.span(state.dataName, .hiFg)] }
        var right: [Span] = []
        if state.busy, !ctx.glyphs.spinner.isEmpty {
            // turns twice a second while the engine works: a screen that moves is a run that lives
            let frame = Int((state.now * 2).rounded(.down)) % ctx.glyphs.spinner.count
            right.append(ctx.span(" " + ctx.glyphs.spinner[max(0, frame)], .pending))
        }
        right.append(Span(" " + Fmt.status(s.status).uppercased() + " ", style: ctx.style(statusKey(s.status)).adding(.bold)))
        if let phase = phaseText(state) { right.append(ctx.span(phase + " ", .pending)) }
        var tail = " step \(s.step)/\(s.totalSteps)"
        if state.wallClock > 0 { tail += "  " + Fmt.timeOfDay(state.wallClock) }
        right.append(ctx.span(tail + "  theme \(state.themeName) ", .inactiveFg))
        buf.render(StatusLine(left: left, right: right, style: ctx.style(.mainFg), ellipsis: ctx.glyphs.ellipsis),
                   in: area.top(1))
    }

    /// The phase under way, its progress and time: "3/12 · 4 s" after EVALUATING, "requantizing 12/210 · 3 s" while
    /// running (a phase that is not a status of its own is named).
    static func phaseText(_ state: AppState) -> String? {
        guard let p = state.snapshot.progress else { return nil }
        var parts: [String] = []
        if p.phase != state.snapshot.status.label { parts.append(p.phase) }
        if p.total > 0 { parts.append("\(p.done)/\(p.total)") }
        let secs = Int((state.livePhaseSeconds ?? p.seconds).rounded(.down))
        return (parts.isEmpty ? "" : parts.joined(separator: " ") + " · ") + "\(secs) s"
    }

    /// What is pending and what was applied last, apart: "pending: lr 1e-4 │ step 6: α 16→32 (scale 4), r 8→4
    /// (truncated-SVD error 8.64%)". Every change of the last step that had any is listed, each with its detail.
    static func changeSpans(_ state: AppState, _ ctx: ViewContext) -> [Span] {
        let s = state.snapshot
        var spans: [Span] = []
        if !s.pending.isEmpty {
            spans += [ctx.span(" pending: ", .inactiveFg), ctx.span(s.pending.map(\.label).joined(separator: ", "), .pending)]
        }
        let applied = s.changes.filter { $0.kind != "restart" }
        if let step = applied.last?.step {
            let last = applied.filter { $0.step == step }
            if !spans.isEmpty { spans.append(ctx.span(" " + ctx.glyphs.vertical, .divLine)) }
            spans.append(ctx.span(" last change, step \(step): ", .inactiveFg))
            for (i, c) in last.enumerated() {
                if i > 0 { spans.append(ctx.span(", ", .inactiveFg)) }
                spans.append(ctx.span(c.label, .applied))
                if let d = c.detail { spans.append(ctx.span(" (\(d))", .mainFg)) }
            }
            if applied.count > last.count { spans.append(ctx.span("  c log", .inactiveFg)) }
        }
        return spans.map { Span(ctx.arrows($0.text), style: $0.style) }
    }

    /// The last message (unless it only repeats a change the change row shows) and this viewer's own note.
    static func messageSpans(_ state: AppState, _ ctx: ViewContext) -> [Span] {
        let s = state.snapshot
        var spans: [Span] = []
        // The engine also notes each change as a message; do not say it twice.
        let said = Set(s.changes.map(\.note))
        if let m = s.messages.last, !said.contains(m) {
            let failed: Bool
            if case .failed = s.status { failed = true } else { failed = false }
            spans.append(ctx.span(" " + m.oneLine(200), failed ? .error : .mainFg))
        }
        if let note = state.viewerNote { spans += [ctx.span(spans.isEmpty ? " " : " · ", .inactiveFg), ctx.span(note, .warning)] }
        return spans.map { Span(ctx.arrows($0.text), style: $0.style) }
    }

    /// The change row and the message row on one line, apart (compact layouts).
    static func infoSpans(_ state: AppState, _ ctx: ViewContext) -> [Span] {
        let changes = changeSpans(state, ctx), message = messageSpans(state, ctx)
        if changes.isEmpty && message.isEmpty { return [ctx.span(" no changes yet", .inactiveFg)] }
        return changes + (changes.isEmpty || message.isEmpty ? [] : [ctx.span(" " + ctx.glyphs.vertical, .divLine)]) + message
    }

    /// Key hints that fit in `width` columns: `q quit` (or what leaves) always, `? help` as long as it fits, and the
    /// others in order until they do not (a narrow terminal loses `b base` before `space pause`, never the quit key).
    static func hints(_ state: AppState, width: Int = .max) -> String {
        let items = hintItems(state)
        var kept = items
        func text() -> String { kept.joined(separator: "  ") + " " }
        while text().terminalWidth > width && kept.count > 1 {
            kept.remove(at: kept.count > 2 ? kept.count - 2 : kept.count - 1)
        }
        return text()
    }

    /// Key hints in order, the first kept longest, the last (help) second longest.
    static func hintItems(_ state: AppState) -> [String] {
        if state.quitting != nil { return ["stopping…"] }
        if state.confirmQuit { return ["y stop+save", "n stop", "d detach", "Esc cancel"] }
        if let why = state.disconnected { return ["q leave", "disconnected: \(why)"] }
        if !state.canSend { return ["q/d leave (read-only)", "? help"] }
        if state.snapshot.status == .finished {
            // nothing trains any more: no pause, no live settings; a new run, an eval, samples or a save still apply
            let again = state.unsupported["restart"] == nil ? ["n new run"] : []
            return ["q quit", "d detach"] + again + ["e eval", "g sample", "s save", "c changes", "? help"]
        }
        let pause = state.pausedOrPausing ? "space resume" : "space pause"
        let rank = state.unsupported["rank"] == nil ? ["r/R rank"] : []
        let base = state.unsupported["quant"] == nil ? ["b base"] : []
        return ["q quit", "d detach", pause] + rank + ["a/A alpha", "l/L lr"] + base + ["c changes", "? help"]
    }

    /// Draws the info row and the status line.
    static func footer(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        let status = ctx.palette.style(fg: .statusFg, bg: .statusBg)
        if area.height >= 3 {
            // changes on a row of their own, the last message on the next
            let changes = changeSpans(state, ctx)
            buf.render(StatusLine(left: changes.isEmpty ? [ctx.span(" no changes yet", .inactiveFg)] : changes, right: [],
                                  style: ctx.style(.mainFg), ellipsis: ctx.glyphs.ellipsis), in: area.top(1))
            buf.render(StatusLine(left: messageSpans(state, ctx), right: [], style: ctx.style(.mainFg),
                                  ellipsis: ctx.glyphs.ellipsis), in: area.top(2).bottom(1))
        } else if area.height >= 2 {
            buf.render(StatusLine(left: infoSpans(state, ctx), right: [], style: ctx.style(.mainFg),
                                  ellipsis: ctx.glyphs.ellipsis), in: area.top(1))
        }
        let s = state.snapshot
        // the status word alone (a failure's reason is on the info row and in the header), so the keys keep room
        var left = [Span(" " + s.status.label + " ", style: status.adding(.bold))]
        let room = area.width - left[0].text.terminalWidth - 1
        let keys = ctx.arrows(hints(state, width: room))
        if area.height < 2, !s.pending.isEmpty {
            // only whole, in what the keys leave
            let pending = ctx.arrows("pending: " + s.pending.map(\.label).joined(separator: ", ") + " ")
            if pending.terminalWidth <= room - keys.terminalWidth { left.append(Span(pending, style: status)) }
        }
        let right = [Span(keys, style: status)]
        buf.render(StatusLine(left: left.map { Span(ctx.arrows($0.text), style: $0.style) }, right: right, style: status,
                              ellipsis: ctx.glyphs.ellipsis), in: area.bottom(1))
    }
}
