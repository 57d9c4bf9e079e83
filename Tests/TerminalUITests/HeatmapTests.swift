import XCTest
@testable import TerminalUI

/// The heatmap, its legend and the sparkline rendered into the text backend: exact lines, selection, ASCII ramp,
/// scrolling to the selected column, and tiny sizes that must neither crash nor draw outside their area.
final class HeatmapTests: XCTestCase {
    /// 3 rows × 6 columns rising left to right; row 1 has a hole.
    func map(selected: (row: Int, column: Int)? = nil, ascii: Bool = false) -> Heatmap {
        let values: [[Double?]] = [
            [0, 1, 2, 3, 4, 5],
            [5, nil, 3, 2, 1, 0],
            [0, 0, 0, 5, 5, 5],
        ]
        return Heatmap(values: values, rowLabels: ["q", "v", "down"], columnLabels: [0: "0", 3: "3"],
                       ramp: HeatRamp(glyphs: ascii ? HeatRamp.asciiGlyphs : HeatRamp.unicodeGlyphs, styles: []),
                       selected: selected)
    }

    func testRendersLevelsLabelsAndHoles() {
        // gutter 5 ("down" + 1), 6 columns of 2 cells at width 17; 0…5 over 5 levels (5 shares the top one)
        XCTAssertEqual(render(map(), width: 17, height: 4), [
            "     0     3",
            "q    ··░░▒▒▓▓████",
            "v    ██  ▓▓▒▒░░··",
            "down ······██████",
        ])
    }

    func testASCIIRampAndSelection() {
        let b = renderBuffer(map(selected: (row: 1, column: 2), ascii: true), width: 11, height: 4)
        XCTAssertEqual(b.trimmedLines(), ["     0  3", "q    .:+#@@", "v    @ #+:.", "down ...@@@"])
        XCTAssertTrue(b[7, 2].style.attributes.contains(.reverse), "the selected cell is reversed")
        XCTAssertFalse(b[6, 2].style.attributes.contains(.reverse))
    }

    func testScrollsToKeepTheSelectedColumnInView() {
        // 4 cells fit at width 9 (gutter 5): selecting column 5 shows columns 2…5; no room for the header row
        XCTAssertEqual(render(map(selected: (row: 0, column: 5), ascii: true), width: 9, height: 3),
                       ["q    +#@@", "v    #+:.", "down .@@@"])
    }

    func testLogScaleAndLevels() {
        let s = RampScale(low: 1e-4, high: 1e-1, logarithmic: true)
        XCTAssertEqual([2e-4, 3e-3, 5e-2, 1, 0, -1].map { s.level($0, levels: 3) }, [0, 1, 2, 2, 0, 0])
        XCTAssertEqual(RampScale(low: 2, high: 2).level(2, levels: 5), 4, "a flat range shows the top level")
    }

    func testLegendAndSparkline() {
        XCTAssertEqual(render(RampLegend(ramp: HeatRamp(glyphs: HeatRamp.asciiGlyphs, styles: []), low: "0.01%", high: "1%"),
                              width: 20, height: 1), ["0.01% .:+#@ 1%"])
        let spectrum: [Double] = [1, 0.5, 0.25, 0.1, 0.01, 0.001]
        XCTAssertEqual(render(Sparkline(values: spectrum, logarithmic: true), width: 10, height: 1), ["██▇▆▃▁"])
        XCTAssertEqual(render(Sparkline(values: spectrum, glyphs: Sparkline.asciiGlyphs), width: 10, height: 1), ["@+-___"])
        // wider than the area: buckets keep each bucket's largest value
        XCTAssertEqual(render(Sparkline(values: spectrum, glyphs: Sparkline.asciiGlyphs), width: 3, height: 1), ["@-_"])
    }

    func testTinySizesDoNotCrashOrLeak() {
        assertRendersAtAllSmallSizes(map(selected: (row: 2, column: 5)))
        assertRendersAtAllSmallSizes(Sparkline(values: [3, 2, 1]))
        assertRendersAtAllSmallSizes(RampLegend(ramp: HeatRamp(glyphs: HeatRamp.unicodeGlyphs, styles: []), low: "a", high: "b"))
        assertRendersAtAllSmallSizes(Heatmap(values: [], rowLabels: [], ramp: HeatRamp(glyphs: [], styles: [])))
        assertRendersAtAllSmallSizes(Sparkline(values: []))
    }
}
