@testable import LoRAKit
import TerminalUI
import XCTest
@testable import loratop

/// Every applied change stays visible: all of a step's changes with their details on the change row, stacked labels
/// on the chart, and the change log (key c) with every change and what is pending.
final class ChangeVisibilityTests: XCTestCase {
    /// AppViewTests' run with alpha, lr and a rank shrink at step 90 after the rank change at 60, lr 1e-4 pending.
    static func state() -> AppState {
        var st = AppViewTests.state()
        st.snapshot.changes += [
            ChangeEvent(step: 90, kind: "alpha", from: "16", to: "32", detail: "scale 2"),
            ChangeEvent(step: 90, kind: "lr", from: "2e-04", to: "1e-04"),
            ChangeEvent(step: 90, kind: "rank", from: "16", to: "8", detail: "truncated-SVD error 8.64%")]
        st.snapshot.pending = [.setLearningRate(5e-5)]
        st.snapshot.messages = ["step 90: r 16→8 (truncated-SVD error 8.64%)"]
        return st
    }

    func render(_ st: AppState, _ w: Int, _ h: Int, ctx: ViewContext = .standard) -> [String] {
        AppView.render(st, ctx, size: Size(width: w, height: h)).lines()
    }

    func testTheChangeRowListsEveryChangeOfTheLastStepWithItsDetail() {
        let lines = render(Self.state(), 160, 40)
        XCTAssertEqual(lines[37].trimmingCharacters(in: .whitespaces),
                       "pending: lr 5e-05 │ last change, step 90: α 16→32 (scale 2), lr 2e-04→1e-04, r 16→8 (truncated-SVD error 8.64%)  c log")
        XCTAssertEqual(lines[38].trimmingCharacters(in: .whitespaces), "", "the message only repeats the change")
        XCTAssertTrue(lines[39].contains("q quit"))
        // 80×24 (compact): one info row, pending and the last change apart, the shrink error still there.
        let small = render(Self.state(), 80, 24)
        XCTAssertTrue(small[22].contains("pending: lr 5e-05 │ last change, step 90: α 16→32"), small[22])
        XCTAssertTrue(render(Self.state(), 200, 24)[22].contains("r 16→8 (truncated-SVD error 8.64%)"))
    }

    func testSeveralChangesAtOneStepStackTheirLabelsOnTheChart() {
        let all = render(Self.state(), 120, 40).joined(separator: "\n")
        for label in ["r 8→16", "α 16→32", "lr 2e-04→1e-04", "r 16→8"] {
            XCTAssertTrue(all.contains(label), "chart label \(label)")
        }
        let chartRows = render(Self.state(), 120, 40)[2...6]
        XCTAssertEqual(chartRows.filter { $0.contains("α 16→32") || $0.contains("lr 2e-04→1e-04") || $0.contains("│r 16→8") }.count,
                       3, "one label a row: \(chartRows.joined(separator: "\n"))")
    }

    func testTheChangeLogOpensOnCAndListsEveryChangeThenThePending() {
        var st = Self.state()
        _ = reduce(&st, .key(.char("c")))
        XCTAssertTrue(st.showChanges)
        let lines = render(st, 120, 40)
        let all = lines.joined(separator: "\n")
        XCTAssertTrue(all.contains("changes · 4 applied, 1 pending · c closes"), all)
        let body = lines.filter { $0.contains("step   ") || $0.contains("pending ") }
        XCTAssertTrue(body.contains { $0.contains("step   60  r 8→16") }, body.joined(separator: "\n"))
        XCTAssertTrue(body.contains { $0.contains("step   90  r 16→8") && $0.contains("truncated-SVD error 8.64%") })
        XCTAssertTrue(body.contains { $0.contains("pending    lr 5e-05") && $0.contains("at the next step boundary") })
        XCTAssertEqual(ChangeLogView.lines(st).map(\.what), ["r 8→16", "α 16→32", "lr 2e-04→1e-04", "r 16→8", "lr 5e-05"])
        _ = reduce(&st, .key(.escape))
        XCTAssertFalse(st.showChanges)
    }

    /// A long log opens at its newest line; ↑ and PgUp go back, never beyond the first; keys still work behind it.
    func testALongChangeLogScrollsFromItsNewestLine() {
        var st = Self.state()
        st.snapshot.changes = (1...60).map { ChangeEvent(step: $0, kind: "lr", from: "\($0)", to: "\($0 + 1)") }
        st.snapshot.pending = []
        _ = reduce(&st, .key(.char("c")))
        var lines = render(st, 80, 24)
        XCTAssertTrue(lines.joined().contains("changes · 60 applied · ↑↓ scroll · c closes"))
        XCTAssertTrue(lines.contains { $0.contains("lr 60→61") }, "opens at the newest")
        XCTAssertFalse(lines.contains { $0.contains("step    1  lr 1→2") })
        for _ in 0..<20 { _ = reduce(&st, .key(.pageUp)) }
        XCTAssertEqual(st.changesBack, 59, "no further back than the first line")
        lines = render(st, 80, 24)
        XCTAssertTrue(lines.contains { $0.contains("step    1  lr 1→2") }, lines.joined(separator: "\n"))
        _ = reduce(&st, .key(.down))
        XCTAssertEqual(st.changesBack, 58)
        XCTAssertEqual(reduce(&st, .key(.char(" "))), [.send(.pause)], "a key behind the log closes it and acts")
        XCTAssertFalse(st.showChanges)
    }

    /// In ASCII the log, the row and the chart labels spell their arrows.
    func testASCIIChangeLog() {
        var st = Self.state()
        _ = reduce(&st, .key(.char("c")))
        let ascii = ViewContext(palette: Theme.builtinDefault.palette(depth: .none), glyphs: .ascii)
        let lines = render(st, 120, 40, ctx: ascii)
        XCTAssertTrue(lines.allSatisfy { $0.unicodeScalars.allSatisfy(\.isASCII) }, lines.joined(separator: "\n"))
        XCTAssertTrue(lines.contains { $0.contains("r 16->8") && $0.contains("truncated-SVD error 8.64%") })
    }
}
