import XCTest
@testable import TerminalUI

final class TerminalUIWidgetTests: XCTestCase {
    func testBoxWithTitlesAndASCII() {
        XCTAssertEqual(render(Box(title: "Loss", rightTitle: "step 12"), width: 24, height: 3), [
            "╭─ Loss ───── step 12 ─╮",
            "│                      │",
            "╰──────────────────────╯",
        ])
    }

    func testBoxASCIIAndTruncatedTitle() {
        XCTAssertEqual(render(Box(title: "Adapter settings", glyphs: .ascii, ellipsis: "~"), width: 12, height: 3), [
            "+- Adapte~-+",
            "|          |",
            "+----------+",
        ])
        XCTAssertEqual(Box.inner(Rect(x: 0, y: 0, width: 12, height: 3)), Rect(x: 1, y: 1, width: 10, height: 1))
    }

    func testTextWrapping() {
        XCTAssertEqual(TextWrap.wrap("The quick brown fox jumps", width: 10), ["The quick", "brown fox", "jumps"])
        XCTAssertEqual(TextWrap.wrap("Supercalifragilistic", width: 8), ["Supercal", "ifragili", "stic"])
        XCTAssertEqual(TextWrap.wrap("a\n\n  b c", width: 5), ["a", "", "  b c"])
        XCTAssertEqual(TextWrap.wrap("one two", width: 3), ["one", "two"])
        XCTAssertEqual(TextWrap.wrap("anything", width: 0), [])
        XCTAssertEqual(render(Text("word wrap keeps words whole", alignment: .right), width: 11, height: 3),
                       ["  word wrap", "keeps words", "      whole"])
    }

    func testStyledTextKeepsSpanStylesAcrossWraps() {
        let bold = Style(attributes: .bold)
        let lines = TextWrap.wrap([Span("rank "), Span("16 pending", style: bold)], width: 8)
        XCTAssertEqual(lines.map { $0.map(\.text).joined() }, ["rank 16", "pending"])
        XCTAssertEqual(lines[0].last?.style, bold)
        XCTAssertEqual(lines[1].first?.style, bold)
    }

    func testTextWithoutWrapCutsWithEllipsis() {
        XCTAssertEqual(render(Text("abcdefgh\nxy", wrap: false), width: 5, height: 2), ["abcd…", "xy"])
    }

    func testTable() {
        let t = Table(columns: [TableColumn("name"), TableColumn("value", width: .fixed(6), alignment: .right)],
                      rows: [["learning rate", "0.0002"], ["rank", "16"], ["a very long name indeed", "12345678"]])
        XCTAssertEqual(render(t, width: 20, height: 4), [
            "name           value",
            "learning rate 0.0002",
            "rank              16",
            "a very long … 12345…",
        ])
        let contentWidth = Table(columns: [TableColumn("k", width: .content(max: 10)), TableColumn("v")], rows: [["alpha", "32"]])
        XCTAssertEqual(contentWidth.columnWidths(total: 12), [5, 6])
    }

    func testTableSelectionFillsTheRowAndOffsetScrolls() {
        let sel = Style(attributes: .reverse)
        let t = Table(columns: [TableColumn("a")], rows: [["r0"], ["r1"], ["r2"]], selected: 2, selectedStyle: sel, offset: 1)
        let b = renderBuffer(t, width: 4, height: 3)
        XCTAssertEqual(b.trimmedLines(), ["a", "r1", "r2"])
        XCTAssertEqual(b[3, 2].style, sel)
        XCTAssertEqual(b[3, 1].style, .plain)
    }

    func testBarsAndGauge() {
        XCTAssertEqual(render(Bar(value: 3, maximum: 8, label: "mem"), width: 15, height: 1), ["mem ████▏"])
        XCTAssertEqual(render(Bar(value: 3, maximum: 8, glyphs: .ascii), width: 8, height: 1), ["###"])
        XCTAssertEqual(render(Bar(value: .nan, maximum: 8), width: 8, height: 1), [""])
        XCTAssertEqual(render(Bar(value: 20, maximum: 8), width: 4, height: 1), ["████"])
        XCTAssertEqual(render(Gauge(fraction: 0.52), width: 15, height: 1), ["█████▊░░░░░ 52%"])
        XCTAssertEqual(render(Gauge(fraction: 0.5, glyphs: .ascii), width: 12, height: 1), ["####.... 50%"])
        XCTAssertEqual(render(Gauge(fraction: 1.7, label: "full"), width: 4, height: 1), ["████"], "label dropped when no room")
        XCTAssertEqual(render(Gauge(fraction: .nan), width: 9, height: 1), ["░░░░░ --%"])
    }

    func testStackedBarCellsAddUp() {
        let bar = StackedBar(segments: [BarSegment(value: 1), BarSegment(value: 2, glyph: "▒"), BarSegment(value: 1, glyph: "░")],
                             total: 8)
        XCTAssertEqual(render(bar, width: 16, height: 1), ["██▒▒▒▒░░"])
        let thirds = StackedBar(segments: [1, 1, 1].map { BarSegment(value: $0) })
        XCTAssertEqual(thirds.cellCounts(width: 10), [4, 3, 3])
        XCTAssertEqual(StackedBar(segments: [BarSegment(value: .nan), BarSegment(value: -1)]).cellCounts(width: 5), [0, 0])
    }

    func testStatusLineRightWins() {
        XCTAssertEqual(render(StatusLine("q quit  ? help  + rank", right: "step 120/500"), width: 30, height: 1),
                       ["q quit  ? help  … step 120/500"])
        XCTAssertEqual(render(StatusLine("left", right: "right"), width: 12, height: 1), ["left   right"])
        XCTAssertEqual(render(StatusLine("left", right: "a long right side"), width: 6, height: 1), ["t side"])
        let b = renderBuffer(StatusLine("x"), width: 4, height: 1)
        XCTAssertEqual(b[3, 0].style, Style(attributes: .reverse), "the whole row takes the style")
    }

    func testModalCentredOverContent() {
        var b = CellBuffer(width: 20, height: 7, fill: Cell("."))
        b.render(Modal(title: "Help", width: 16, height: 5, content: Text("q quit ? help")), in: b.bounds)
        XCTAssertEqual(b.lines(), [
            "....................",
            "..╭─ Help ───────╮..",
            "..│ q quit ?     │..",
            "..│ help         │..",
            "..│              │..",
            "..╰──────────────╯..",
            "....................",
        ])
    }

    func testLegendDropsWholeItems() {
        let items = [LegendItem(symbol: "──", name: "train", style: .plain), LegendItem(symbol: "──", name: "eval", style: .plain)]
        XCTAssertEqual(render(Legend(items: items), width: 20, height: 1), ["── train  ── eval"])
        XCTAssertEqual(render(Legend(items: items), width: 12, height: 1), ["── train"])
        XCTAssertEqual(Legend(items: items).width, 17)
    }

    func testEveryWidgetSurvivesTinyAreas() {
        assertRendersAtAllSmallSizes(Box(title: "title", rightTitle: "r"))
        assertRendersAtAllSmallSizes(Text("some words that wrap\nand lines"))
        assertRendersAtAllSmallSizes(Text("cut", wrap: false))
        assertRendersAtAllSmallSizes(Table(columns: [TableColumn("a"), TableColumn("b", width: .content(max: 4))],
                                           rows: [["1", "2"], ["long cell", "x"]], selected: 0))
        assertRendersAtAllSmallSizes(Bar(value: 1, maximum: 2, label: "label"))
        assertRendersAtAllSmallSizes(StackedBar(segments: [BarSegment(value: 1), BarSegment(value: 3)]))
        assertRendersAtAllSmallSizes(Gauge(fraction: 0.3))
        assertRendersAtAllSmallSizes(StatusLine("left side", right: "right"))
        assertRendersAtAllSmallSizes(Modal(title: "Help", width: 10, height: 4, content: Text("x")))
        assertRendersAtAllSmallSizes(Legend(items: [LegendItem(symbol: "-", name: "n", style: .plain)]))
    }
}
