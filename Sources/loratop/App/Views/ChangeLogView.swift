import LoRAKit
import TerminalUI

/// The change log (key c): every change applied to the run, oldest first, each at its step with what it cost (a rank
/// shrink's truncated-SVD error, alpha's new scale), then the commands still waiting for the next step boundary. It
/// opens at the newest line and scrolls back with ↑ / PgUp.
enum ChangeLogView {
    /// One line of the log.
    struct Line: Equatable {
        /// "step  12" or "pending".
        var when: String
        /// "r 8→4", "lr 2e-04→1e-04".
        var what: String
        /// "truncated-SVD error 8.64%", or empty.
        var detail: String
        var isPending: Bool
    }

    /// The log's lines: applied changes (restarts included) in order, then the pending commands.
    static func lines(_ state: AppState) -> [Line] {
        let s = state.snapshot
        let width = String(max(s.totalSteps, s.step)).count
        var out = s.changes.map { c -> Line in
            let what = c.kind == "restart" ? "new run: \(c.from) kept as a ghost, \(c.to) starts" : c.label
            return Line(when: "step " + String(c.step).leftPadded(to: width), what: what, detail: c.detail ?? "", isPending: false)
        }
        out += s.pending.map { Line(when: "pending", what: $0.label, detail: "at the next step boundary", isPending: true) }
        return out
    }

    /// Draws the log as a modal over the dashboard.
    static func render(_ state: AppState, _ ctx: ViewContext, into buf: inout CellBuffer, area: Rect) {
        let all = lines(state)
        let modalStyle = ctx.palette.style(fg: .mainFg, bg: .modalBg)
        let whenWidth = all.map(\.when.count).max() ?? 4
        let whatWidth = all.map { ctx.arrows($0.what).terminalWidth }.max() ?? 0
        var spans: [Span] = []
        if all.isEmpty {
            spans = [Span(ctx.arrows("no changes yet: r/R rank, a/A alpha, l/L lr, p/P dropout, b base storage"),
                          style: ctx.palette.style(fg: .inactiveFg, bg: .modalBg))]
        }
        for (i, l) in all.enumerated() {
            let end = i + 1 < all.count ? "\n" : ""
            spans.append(Span(l.when.padding(toLength: whenWidth + 2, withPad: " ", startingAt: 0),
                              style: ctx.palette.style(fg: .inactiveFg, bg: .modalBg)))
            let what = ctx.arrows(l.what)
            let padded = l.detail.isEmpty ? what : what + String(repeating: " ", count: max(0, whatWidth - what.terminalWidth)) + "  "
            spans.append(Span(padded + (l.detail.isEmpty ? end : ""),
                              style: ctx.palette.style(fg: l.isPending ? .pending : .applied, bg: .modalBg)))
            if !l.detail.isEmpty { spans.append(Span(ctx.arrows(l.detail) + end, style: modalStyle)) }
        }
        let longest = all.isEmpty ? spans[0].text.terminalWidth
            : whenWidth + 2 + whatWidth + 2 + (all.map { ctx.arrows($0.detail).terminalWidth }.max() ?? 0)
        // the modal keeps a margin of one cell from the screen's edges
        let height = min(area.height - 2, max(all.count, 1) + 2)
        let visible = max(0, height - 2)
        let top = max(0, all.count - visible - state.changesBack)
        let applied = all.filter { !$0.isPending }.count
        let count = "\(applied) applied" + (applied < all.count ? ", \(all.count - applied) pending" : "")
        let title = ctx.arrows(all.count > visible ? "changes · \(count) · ↑↓ scroll · c closes" : "changes · \(count) · c closes")
        let width = min(area.width - 2, max(longest + 4, title.terminalWidth + 6))
        buf.render(Modal(title: title, width: width, height: height, glyphs: ctx.glyphs.heavyBox,
                         borderStyle: ctx.palette.style(fg: .title, bg: .modalBg), fill: modalStyle,
                         content: Text(spans, wrap: false, scroll: top, ellipsis: ctx.glyphs.ellipsis)),
                   in: area)
    }
}
