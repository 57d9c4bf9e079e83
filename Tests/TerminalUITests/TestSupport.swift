import XCTest
@testable import TerminalUI

/// Renders a widget into a fresh buffer of the given size and returns its rows with trailing spaces removed.
func render(_ widget: some Widget, width: Int, height: Int) -> [String] {
    var b = CellBuffer(width: width, height: height)
    b.render(widget, in: b.bounds)
    return b.trimmedLines()
}

/// Renders a widget into a fresh buffer and returns the buffer.
func renderBuffer(_ widget: some Widget, width: Int, height: Int) -> CellBuffer {
    var b = CellBuffer(width: width, height: height)
    b.render(widget, in: b.bounds)
    return b
}

/// The repository's themes/ folder.
let repositoryThemes: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("themes")

/// Renders at every size up to `maxWidth` × `maxHeight` (including 0×0 and 1×1) and checks nothing leaks outside a
/// framed area.
func assertRendersAtAllSmallSizes(_ widget: some Widget, maxWidth: Int = 8, maxHeight: Int = 6,
                                  file: StaticString = #filePath, line: UInt = #line) {
    for w in 0...maxWidth { for h in 0...maxHeight {
        var b = CellBuffer(width: w + 2, height: h + 2, fill: Cell("@"))
        b.render(widget, in: Rect(x: 1, y: 1, width: w, height: h))
        for y in 0..<b.height { for x in 0..<b.width where !(x >= 1 && x <= w && y >= 1 && y <= h) {
            XCTAssertEqual(b[x, y].symbol, "@", "wrote outside \(w)x\(h) at \(x),\(y)", file: file, line: line)
        } }
    } }
}
