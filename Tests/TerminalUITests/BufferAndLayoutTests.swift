import XCTest
@testable import TerminalUI

final class TerminalUIBufferTests: XCTestCase {
    func testPutClipsToBufferAndClipRect() {
        var b = CellBuffer(width: 5, height: 2)
        b.put("hello world", x: 2, y: 0)
        b.put("abc", x: -1, y: 1)
        b.put("zzz", x: 0, y: 5)
        XCTAssertEqual(b.lines(), ["  hel", "bc   "])
        var c = CellBuffer(width: 6, height: 1)
        let end = c.put("abcdef", x: 1, y: 0, clip: Rect(x: 0, y: 0, width: 3, height: 1))
        XCTAssertEqual(c.lines(), [" ab   "])
        XCTAssertEqual(end, 3)
    }

    func testZeroSizedBufferIgnoresWrites() {
        var b = CellBuffer(width: 0, height: 0)
        b.put("x", x: 0, y: 0)
        b.fill(Rect(x: 0, y: 0, width: 3, height: 3), with: Cell("#"))
        XCTAssertEqual(b.lines(), [])
        XCTAssertEqual(b[0, 0], .blank)
    }

    func testWideGraphemesTakeTwoCellsAndNeverLeaveHalves() {
        var b = CellBuffer(width: 5, height: 1)
        b.put("a界b", x: 0, y: 0)
        XCTAssertEqual(b.lines(), ["a界b "])
        XCTAssertTrue(b[2, 0].isContinuation)
        b.put("x", x: 2, y: 0)            // overwrite the right half
        XCTAssertEqual(b.lines(), ["a xb "])
        b.put("界", x: 4, y: 0)           // does not fit in the last column
        XCTAssertEqual(b.lines(), ["a xb "])
        b.put("界", x: 0, y: 0)
        b.put("q", x: 0, y: 0)            // overwrite the left half
        XCTAssertEqual(b.lines(), ["q xb "])
    }

    func testDiffListsOnlyChangedCells() {
        var a = CellBuffer(width: 10, height: 3)
        a.put("loss 2.31", x: 0, y: 0)
        var b = a
        b.put("loss 2.29", x: 0, y: 0)
        b.set(x: 9, y: 2, Cell("x", style: Style(attributes: .bold)))
        let changes = b.changes(since: a)
        XCTAssertEqual(changes.map { "\($0.x),\($0.y)" }, ["7,0", "8,0", "9,2"])
        XCTAssertEqual(b.changes(since: nil).count, 30)
        XCTAssertEqual(b.changes(since: CellBuffer(width: 9, height: 3)).count, 30, "a size change repaints all")
        XCTAssertEqual(b.changes(since: b).count, 0)
        var styleOnly = b
        styleOnly.setStyle(Rect(x: 0, y: 1, width: 1, height: 1), Style(fg: .indexed(1)))
        XCTAssertEqual(styleOnly.changes(since: b).count, 1, "a style change alone is a change")
    }

    func testANSIEncoderBytesForASmallChangeAreSmall() {
        var a = CellBuffer(width: 80, height: 24)
        a.put("step 1", x: 0, y: 0)
        var b = a
        b.put("step 2", x: 0, y: 0)
        let bytes = ANSIEncoder(depth: .ansi256).encode(b.changes(since: a))
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self), "\u{1B}[1;6H\u{1B}[0m2")
        let full = ANSIEncoder(depth: .ansi256).encode(b.changes(since: nil))
        XCTAssertGreaterThan(full.count, 80 * 24)
    }

    func testStringTruncationAndAlignment() {
        XCTAssertEqual("abcdef".truncated(toWidth: 4), "abc…")
        XCTAssertEqual("abc".truncated(toWidth: 4), "abc")
        XCTAssertEqual("abcdef".truncated(toWidth: 1), "…")
        XCTAssertEqual("abcdef".truncated(toWidth: 0), "")
        XCTAssertEqual("abcdef".truncated(toWidth: 3, ellipsis: "..."), "...")
        XCTAssertEqual("ab".aligned(.right, width: 4), "  ab")
        XCTAssertEqual("ab".aligned(.center, width: 5), " ab  ")
        XCTAssertEqual("界界界".truncated(toWidth: 4), "界…")
    }
}

final class TerminalUILayoutTests: XCTestCase {
    func testSplitFixedPercentFill() {
        let r = Rect(x: 2, y: 1, width: 100, height: 10)
        let parts = r.columns([.fixed(10), .percent(30), .fill(1), .fill(2)])
        XCTAssertEqual(parts.map(\.width), [10, 30, 20, 40])
        XCTAssertEqual(parts.map(\.x), [2, 12, 42, 62])
        XCTAssertEqual(parts.last?.maxX, r.maxX)
    }

    func testSplitWithSpacingAndRemainder() {
        let rows = Rect(x: 0, y: 0, width: 5, height: 10).rows([.fill, .fill, .fill], spacing: 1)
        XCTAssertEqual(rows.map(\.height), [3, 3, 2])
        XCTAssertEqual(rows.map(\.y), [0, 4, 8])
    }

    func testSplitNeverOverflows() {
        let parts = Rect(x: 0, y: 0, width: 7, height: 1).columns([.fixed(5), .fixed(5), .fill], spacing: 1)
        XCTAssertEqual(parts.map(\.width), [5, 0, 0])
        for p in parts { XCTAssertLessThanOrEqual(p.maxX, 7) }
        XCTAssertEqual(Rect.zero.columns([.fill, .fixed(3)]).map(\.width), [0, 0])
        XCTAssertEqual(Rect.zero.columns([]), [])
    }

    func testInsetCenterAndIntersection() {
        let r = Rect(x: 0, y: 0, width: 10, height: 6)
        XCTAssertEqual(r.inset(by: Margin(top: 1, right: 2, bottom: 1, left: 3)), Rect(x: 3, y: 1, width: 5, height: 4))
        XCTAssertEqual(Rect(x: 0, y: 0, width: 1, height: 1).inset(2).area, 0)
        XCTAssertEqual(r.centered(width: 4, height: 2), Rect(x: 3, y: 2, width: 4, height: 2))
        XCTAssertEqual(r.centered(width: 40, height: 20), r)
        XCTAssertTrue(r.intersection(Rect(x: 20, y: 20, width: 3, height: 3)).isEmpty)
        XCTAssertEqual(r.intersection(Rect(x: 8, y: 4, width: 5, height: 5)), Rect(x: 8, y: 4, width: 2, height: 2))
    }
}
