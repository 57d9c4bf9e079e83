import XCTest
@testable import TerminalUI
import CNCurses
import Foundation

final class TerminalUIBackendTests: XCTestCase {
    func testKeyDecoding() {
        XCTAssertEqual(Key.decode(UInt32(Character("q").asciiValue ?? 0), isKeyCode: false), .char("q"))
        XCTAssertEqual(Key.decode(12, isKeyCode: false), .ctrl("l"))
        XCTAssertEqual(Key.decode(26, isKeyCode: false), .ctrl("z"))
        XCTAssertEqual(Key.decode(13, isKeyCode: false), .enter)
        XCTAssertEqual(Key.decode(10, isKeyCode: false), .enter)
        XCTAssertEqual(Key.decode(27, isKeyCode: false), .escape)
        XCTAssertEqual(Key.decode(9, isKeyCode: false), .tab)
        XCTAssertEqual(Key.decode(127, isKeyCode: false), .backspace)
        XCTAssertEqual(Key.decode(0x3BB, isKeyCode: false), .char("λ"))
        XCTAssertEqual(Key.decode(0o403, isKeyCode: true), .up)
        XCTAssertEqual(Key.decode(0o402, isKeyCode: true), .down)
        XCTAssertEqual(Key.decode(0o404, isKeyCode: true), .left)
        XCTAssertEqual(Key.decode(0o405, isKeyCode: true), .right)
        XCTAssertEqual(Key.decode(0o411, isKeyCode: true), .function(1))
        XCTAssertEqual(Key.decode(0o632, isKeyCode: true), .resize)
        XCTAssertEqual(Key.decode(0o527, isKeyCode: true), .enter)
        XCTAssertNil(Key.decode(0o631, isKeyCode: true), "mouse events are ignored")
        XCTAssertEqual(Key.ctrl("l").description, "Ctrl-L")
        XCTAssertEqual(Key.function(1).description, "F1")
    }

    func testKeyCodesMatchCursesHeader() {
        // The decoder hard-codes curses.h values; check them against the real header constants.
        let pairs: [(UInt32, Int32)] = [
            (Key.Code.down, KEY_DOWN), (Key.Code.up, KEY_UP), (Key.Code.left, KEY_LEFT), (Key.Code.right, KEY_RIGHT),
            (Key.Code.home, KEY_HOME), (Key.Code.backspace, KEY_BACKSPACE), (Key.Code.f0, KEY_F0),
            (Key.Code.delete, KEY_DC), (Key.Code.insert, KEY_IC), (Key.Code.pageDown, KEY_NPAGE), (Key.Code.pageUp, KEY_PPAGE),
            (Key.Code.enter, KEY_ENTER), (Key.Code.backTab, KEY_BTAB), (Key.Code.end, KEY_END),
            (Key.Code.mouse, KEY_MOUSE), (Key.Code.resize, KEY_RESIZE),
        ]
        for (mine, header) in pairs { XCTAssertEqual(mine, UInt32(header)) }
    }

    func testTextBackendWritesOnlyChangedCells() {
        let backend = TextBackend(width: 40, height: 10)
        var frame = CellBuffer(size: backend.size)
        frame.render(Box(title: "loss"), in: frame.bounds)
        frame.put("step 1", x: 2, y: 2)
        backend.present(frame)
        XCTAssertEqual(backend.lastChanges.count, 400)
        frame.put("step 2", x: 2, y: 2)
        backend.present(frame)
        XCTAssertEqual(backend.lastChanges.map(\.x), [7])
        XCTAssertLessThan(backend.lastFrameBytes, 20)
        backend.present(frame)
        XCTAssertEqual(backend.lastChanges.count, 0)
        XCTAssertEqual(backend.lastFrameBytes, 0)
        backend.invalidate()
        backend.present(frame)
        XCTAssertEqual(backend.lastChanges.count, 400)
        XCTAssertEqual(backend.lines[2], "│ step 2                               │")
    }

    func testTextBackendKeysAndResize() {
        let backend = TextBackend(width: 10, height: 4)
        backend.enqueue([.char("q"), .ctrl("l")])
        backend.resize(width: 20, height: 5)
        XCTAssertEqual(backend.readKey(timeoutMilliseconds: 0), .char("q"))
        XCTAssertEqual(backend.readKey(timeoutMilliseconds: 0), .ctrl("l"))
        XCTAssertEqual(backend.readKey(timeoutMilliseconds: 0), .resize)
        XCTAssertNil(backend.readKey(timeoutMilliseconds: 0))
        XCTAssertEqual(backend.size, Size(width: 20, height: 5))
        backend.shutdown(); backend.shutdown()
        XCTAssertTrue(backend.isShutDown)
    }

    func testChartFrameUpdateStaysSmall() {
        // A live loss chart that gains one point per frame should write a few hundred bytes, not a screen.
        let backend = TextBackend(width: 100, height: 30)
        var values: [Double] = []
        var bytes: [Int] = []
        for step in 0..<60 {
            values.append(3 * Foundation.exp(-Double(step) / 20) + 1)
            var frame = CellBuffer(size: backend.size)
            // a y range snapped to round values, as the app's loss chart gives it (the ticks then stay put)
            frame.render(LineChart(series: [ChartSeries(name: "train", values: values)], yRange: 1...4, xRange: 0...100),
                         in: frame.bounds)
            backend.present(frame)
            bytes.append(backend.lastFrameBytes)
        }
        XCTAssertGreaterThan(bytes[0], 100 * 30)
        let steady = bytes.suffix(30)
        XCTAssertLessThan(steady.max() ?? .max, 800, "\(steady)")
    }
}
