import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import LoRAKit
import XCTest
@testable import loratop

final class PlotTests: XCTestCase {
    private func write(_ text: String) throws -> String {
        let path = NSTemporaryDirectory() + "plot-\(UUID().uuidString).jsonl"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testReadsStepsEvalsAndChangesAndDrawsWellFormedSVG() throws {
        let path = try write("""
        {"type":"step","step":1,"loss":3.2}
        {"type":"step","step":2,"loss":3.0}
        {"type":"change","step":2,"kind":"rank","from":"8","to":"16","detail":"error 0.1%"}
        {"type":"step","step":3,"loss":null}
        {"type":"eval","step":3,"loss":2.9}
        {"type":"status","status":"finished"}

        """)
        let h = try MetricsHistory.read(path: path)
        XCTAssertEqual(h.train.map(\.step), [1, 2, 3])
        XCTAssertTrue(h.train[2].value.isNaN)
        XCTAssertEqual(h.eval, [LossPoint(step: 3, value: 2.9)])
        XCTAssertEqual(h.changes.first?.label, "r 8→16")
        let svg = SVGPlot(history: h, smoothing: 0.6, logY: false, title: "t").render()
        XCTAssertTrue(svg.contains("step 2: r 8→16"))
        XCTAssertTrue(svg.contains("train (smoothed 0.6)"))
        let parser = XMLParser(data: Data(svg.utf8))
        XCTAssertTrue(parser.parse(), "SVG is not well-formed XML: \(String(describing: parser.parserError))")
        // The NaN step breaks the train path instead of drawing to a bogus point.
        XCTAssertFalse(svg.contains("nan"))
        let logSvg = SVGPlot(history: h, smoothing: 0, logY: true, title: "t").render()
        XCTAssertTrue(XMLParser(data: Data(logSvg.utf8)).parse())
    }

    func testBadLineNamesFileAndLine() throws {
        let path = try write("{\"type\":\"step\",\"step\":1,\"loss\":1}\nnot json\n")
        XCTAssertThrowsError(try MetricsHistory.read(path: path)) { XCTAssertTrue("\($0)".contains("\(path):2"), "\($0)") }
        XCTAssertThrowsError(try MetricsHistory.read(path: "/nonexistent/m.jsonl"))
    }
}
