import XCTest
@testable import TerminalUI

final class TerminalUIChartTests: XCTestCase {
    let losses: [Double] = [3, 2.5, 2.2, 2.0, 1.9, 1.85, 1.8]

    func testBrailleChartWithAxesLegendAndMarker() {
        let chart = LineChart(series: [ChartSeries(name: "train", values: losses)],
                              markers: [ChartMarker(x: 3, label: "r 8→16")])
        XCTAssertEqual(render(chart, width: 30, height: 10), [
            "    ── train",
            "  3┤⠢⡀           │r 8→16",
            "   │ ⠈⢢          │",
            "   │   ⠑⢄        │",
            "2.5┤     ⠑⢄⡀     │",
            "   │       ⠈⠢⢄⡀  │",
            "  2┤          ⠈⠑⠢⠤⣀⣀",
            "   │             │  ⠉⠉⠉⠑⠒⠒⠒⠢⠤⠤",
            "   └──────────────────────────",
            "    0           3            6",
        ])
    }

    func testTwoPointLineInOneCellIsTheExpectedBrailleGlyph() {
        // (0,3) → (1,0) in dot space: dots (0,3) (0,2) (1,1) (1,0) = 0x40|0x04|0x10|0x08 = U+285C.
        let chart = LineChart(series: [ChartSeries(name: "", values: [0, 1])], padding: 0, showAxes: false)
        XCTAssertEqual(render(chart, width: 1, height: 1), ["⡜"])
    }

    func testASCIIFallback() {
        let chart = LineChart(series: [ChartSeries(name: "train", values: losses)], glyphs: .ascii)
        let lines = render(chart, width: 30, height: 10)
        XCTAssertEqual(lines, [
            "    * train",
            "  3-*",
            "   | *",
            "   |  **",
            "2.5-    **",
            "   |      *****",
            "  2-           ********",
            "   |                   *******",
            "   +--------------------------",
            "    0           3            6",
        ])
        for l in lines { XCTAssertTrue(l.unicodeScalars.allSatisfy { $0.isASCII }, l) }
    }

    func testBlockFallback() {
        let chart = LineChart(series: [ChartSeries(name: "", values: losses)], glyphs: .unicodeBlocks, showAxes: false)
        XCTAssertEqual(render(chart, width: 7, height: 2), ["▀▄", "  ▀▀▄▄▄"])
    }

    func testNaNAndInfinityBreakTheLineAndAreNotDrawn() {
        let chart = LineChart(series: [ChartSeries(name: "a", values: [1, .nan, 2, .infinity, 3, -.infinity])])
        let b = renderBuffer(chart, width: 20, height: 6)
        XCTAssertEqual(b.trimmedLines(), [
            "    ── a",
            "3.1┤               ⠐",
            "   │        ⠄",
            "0.9┤⡀",
            "   └────────────────",
            "    0      2       4",
        ])
        // Three isolated points: exactly three lit cells in the plot.
        let lit = b.cells.filter { $0.symbol.unicodeScalars.first.map { $0.value > 0x2800 && $0.value <= 0x28FF } ?? false }
        XCTAssertEqual(lit.count, 3)
        // Only non-finite values: no crash, empty plot.
        let empty = render(LineChart(series: [ChartSeries(name: "a", values: [.nan, .infinity])]), width: 12, height: 5)
        XCTAssertEqual(empty.count, 5)
    }

    func testSinglePointIsCentred() {
        let chart = LineChart(series: [ChartSeries(name: "a", xy: [(5, 5)])])
        XCTAssertEqual(render(chart, width: 20, height: 6), [
            "    ── a",
            "5.5┤",
            "   │        ⠄",
            "4.5┤",
            "   └────────────────",
            "    4      5       6",
        ])
    }

    func testFlatSeriesIsOneHorizontalRow() {
        let chart = LineChart(series: [ChartSeries(name: "a", values: [2, 2, 2, 2])])
        XCTAssertEqual(render(chart, width: 20, height: 6), [
            "    ── a",
            "2.2┤",
            "   │⠤⠤⠤⠤⠤⠤⠤⠤⠤⠤⠤⠤⠤⠤⠤⠤",
            "1.8┤",
            "   └────────────────",
            "    0     1.5      3",
        ])
        let zeros = render(LineChart(series: [ChartSeries(name: "", values: [0, 0, 0])], showLegend: false), width: 12, height: 4)
        XCTAssertEqual(zeros.first, " 1┤")
        XCTAssertEqual(zeros[1], "-1┤⠉⠉⠉⠉⠉⠉⠉⠉⠉")
    }

    func testLogScaleSkipsZerosAndNegatives() {
        let chart = LineChart(series: [ChartSeries(name: "a", values: [0, 1, 10, 100, -5, 1000])], scale: .log)
        XCTAssertEqual(render(chart, width: 24, height: 8), [
            "    ── a",
            "   │                   ⠐",
            "100┤         ⢀⡀",
            "   │     ⢀⡠⠔⠊⠁",
            "   │  ⢀⠤⠒⠁",
            "  1┤⠔⠊⠁",
            "   └────────────────────",
            "    1        3         5",
        ])
        let r = chart.ranges().y
        XCTAssertEqual(r.lowerBound, -0.15, accuracy: 1e-12)   // log10: 0…3 padded by 5%
        XCTAssertEqual(r.upperBound, 3.15, accuracy: 1e-12)
        // All values non-positive: nothing to draw, no crash.
        XCTAssertEqual(render(LineChart(series: [ChartSeries(name: "", values: [0, -1])], scale: .log), width: 10, height: 4).count, 4)
    }

    func testTicksAreRoundOnLinearAndLogAxes() {
        func values(_ t: [ChartTicks.Tick]) -> [Double] { t.map(\.value) }
        // linear: 1-2-5 multiples, as many as fit, top to bottom
        XCTAssertEqual(values(ChartTicks.rows(range: 1.74...3.06, log: false, rows: 7, maxCount: 3)), [3, 2.5, 2])
        // 0…100 with room for five: steps of 20 make six, so 50 (1-2-5 only, never 25)
        XCTAssertEqual(values(ChartTicks.rows(range: 0...100, log: false, rows: 20, maxCount: 5)), [100, 50, 0])
        // log: decades with 2 and 5 when they fit, decades alone otherwise, never 2.68 or 0.268
        XCTAssertEqual(values(ChartTicks.rows(range: 0...1, log: true, rows: 20, maxCount: 5)), [10, 5, 2, 1])
        XCTAssertEqual(values(ChartTicks.rows(range: -1...2, log: true, rows: 9, maxCount: 4)), [100, 10, 1, 0.1])
        // under a decade (log10 1.8 … 3.2): round linear values
        let narrow = values(ChartTicks.rows(range: log10(1.8)...log10(3.2), log: true, rows: 12, maxCount: 4))
        XCTAssertEqual(narrow, [3, 2.5, 2])
        // labels: the formatter's, or enough decimals when it would repeat one
        XCTAssertEqual(ChartTicks.labels([2.5, 2], unit: "", formatter: { ChartFormat.compact($0) }), ["2.5", "2"])
        XCTAssertEqual(ChartTicks.labels([12.34, 12.33], unit: " nats", formatter: { ChartFormat.compact($0) }),
                       ["12.34 nats", "12.33 nats"])
        // a short plot with nothing round inside: its two ends
        XCTAssertEqual(values(ChartTicks.rows(range: 1.81...1.89, log: false, rows: 2, maxCount: 2)).count, 2)
        XCTAssertEqual(ChartTicks.rows(range: 0...1, log: false, rows: 1, maxCount: 1).count, 1)
    }

    func testMarkersOutsideTheRangeAreIgnoredAndLabelsFlipLeftAtTheEdge() {
        let chart = LineChart(series: [ChartSeries(name: "", values: [1, 1])],
                              markers: [ChartMarker(x: 1, label: "lr"), ChartMarker(x: 7, label: "never")],
                              showLegend: false, showAxes: false)
        XCTAssertEqual(render(chart, width: 6, height: 2), ["   lr│", "⠉⠉⠉⠉⠉⠉"])
    }

    func testTinyAreasNeverCrashOrSpill() {
        let chart = LineChart(series: [ChartSeries(name: "train", values: losses), ChartSeries(name: "eval", values: [.nan, 1e9])],
                              markers: [ChartMarker(x: 2, label: "r 8→16")], yUnit: " nats")
        assertRendersAtAllSmallSizes(chart, maxWidth: 12, maxHeight: 6)
        assertRendersAtAllSmallSizes(LineChart(series: [], scale: .log, glyphs: .ascii))
    }

    func testLaterSeriesDrawOnTopAndKeepTheirStyle() {
        let red = Style(fg: .indexed(1)), blue = Style(fg: .indexed(4))
        let chart = LineChart(series: [ChartSeries(name: "ghost", values: [1, 1], style: red),
                                       ChartSeries(name: "now", values: [1, 1], style: blue)], showLegend: false, showAxes: false)
        let b = renderBuffer(chart, width: 3, height: 1)
        XCTAssertEqual((0..<3).map { b[$0, 0].style }, [blue, blue, blue])
    }

    func testYUnitsAndCompactFormat() {
        XCTAssertEqual(ChartFormat.compact(2.3123), "2.31")
        XCTAssertEqual(ChartFormat.compact(0.012345), "0.0123")
        XCTAssertEqual(ChartFormat.compact(120.4), "120")
        XCTAssertEqual(ChartFormat.compact(12345), "12.3k")
        XCTAssertEqual(ChartFormat.compact(2_500_000), "2.5M")
        XCTAssertEqual(ChartFormat.compact(0.0001), "1e-4")
        XCTAssertEqual(ChartFormat.compact(-0.5), "-0.5")
        XCTAssertEqual(ChartFormat.compact(.nan), "nan")
        XCTAssertEqual(ChartFormat.step(120), "120")
        XCTAssertEqual(ChartFormat.step(20000), "20k")
        let chart = LineChart(series: [ChartSeries(name: "", values: [100, 200])], padding: 0, yUnit: " MiB", showLegend: false)
        let lines = render(chart, width: 20, height: 5)
        XCTAssertEqual(lines[0].prefix(8), "200 MiB┤")
        XCTAssertEqual(lines[2].prefix(8), "100 MiB┤")
    }
}

final class TerminalUISmoothingTests: XCTestCase {
    func testDebiasedEMAByHand() {
        // w = 0.5: last 0.5 → 1/0.5 = 1; 1.25 → 1.25/0.75; 2.125 → 2.125/0.875.
        let s = Smoothing.exponentialMovingAverage([1.0, 2, 3], weight: 0.5)
        XCTAssertEqual(s[0], 1, accuracy: 1e-12)
        XCTAssertEqual(s[1], 1.25 / 0.75, accuracy: 1e-12)
        XCTAssertEqual(s[2], 2.125 / 0.875, accuracy: 1e-12)
    }

    func testNonFiniteValuesPassThroughUncounted() {
        let s = Smoothing.exponentialMovingAverage([1.0, .nan, 2, .infinity, 3], weight: 0.5)
        XCTAssertTrue(s[1].isNaN)
        XCTAssertEqual(s[3], .infinity)
        XCTAssertEqual(s[0], 1, accuracy: 1e-12)
        XCTAssertEqual(s[2], 1.25 / 0.75, accuracy: 1e-12)   // the NaN did not count as a step
        XCTAssertEqual(s[4], 2.125 / 0.875, accuracy: 1e-12)
    }

    func testEdgeWeightsAndConstantSeriesAndFloat() {
        XCTAssertEqual(Smoothing.exponentialMovingAverage([3.0, 1, 4], weight: 0), [3, 1, 4])
        XCTAssertEqual(Smoothing.exponentialMovingAverage([3.0, 1, 4], weight: 1), [0, 0, 0])  // TensorBoard: no debias at w = 1
        XCTAssertEqual(Smoothing.exponentialMovingAverage([0.7, 0.7, 0.7], weight: 0.9), [0.7, 0.7, 0.7])
        XCTAssertEqual(Smoothing.exponentialMovingAverage([Double](), weight: 0.6), [])
        let f: [Float] = Smoothing.exponentialMovingAverage([Float(1), 2, 3], weight: 0.5)
        XCTAssertEqual(f[2], Float(2.125 / 0.875), accuracy: 1e-6)
    }
}
