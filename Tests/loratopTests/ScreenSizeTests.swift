import TerminalUI
import XCTest
@testable import loratop

/// Every size from 1×1 to 300×100 draws a whole frame: at and above the minimum the state and the quit key are always
/// on screen; below it, one "too small" wording with every word whole.
final class ScreenSizeTests: XCTestCase {
    func sizes() -> [(Int, Int)] {
        var out: [(Int, Int)] = []
        for h in [1, 2, 5, 9, 10, 13, 14, 24, 40, 100] { for w in 1...300 { out.append((w, h)) } }
        for w in [1, 5, 7, 12, 39, 40, 80, 119, 120, 300] { for h in 1...100 { out.append((w, h)) } }
        return out
    }

    func check(_ st: AppState, word: String, ctx: ViewContext = .standard) {
        for (w, h) in sizes() {
            let lines = AppView.render(st, ctx, size: Size(width: w, height: h)).lines()
            XCTAssertEqual(lines.count, h, "\(w)×\(h)")
            XCTAssertTrue(lines.allSatisfy { $0.terminalWidth == w }, "\(w)×\(h)")
            if w >= AppView.minimum.width && h >= AppView.minimum.height {
                let last = lines[h - 1]
                XCTAssertTrue(last.hasPrefix(" \(word) ") && last.contains("q quit"), "\(w)×\(h): \(last)")
                XCTAssertTrue(lines[0].contains(word.uppercased()), "\(w)×\(h): \(lines[0])")
            } else {
                let shown = lines.joined(separator: " ").split(separator: " ").joined(separator: " ")
                XCTAssertEqual(shown, AppView.tooSmallText(ctx, Size(width: w, height: h)), "\(w)×\(h)")
                XCTAssertTrue(shown.contains("q"), "\(w)×\(h)")
                if w >= 7 { XCTAssertTrue(shown.hasSuffix("q quits"), "\(w)×\(h): \(shown)") }
            }
        }
    }

    func testEverySizeKeepsTheStateAndTheQuitKey() {
        check(AppViewTests.state(), word: "running")
        var finished = AppViewTests.state()
        finished.snapshot.status = .finished
        finished.snapshot.pending = []
        check(finished, word: "finished")
    }

    func testEverySizeInASCII() {
        check(AppViewTests.state(), word: "running", ctx: ViewContext(palette: Theme.builtinDefault.palette(depth: .none), glyphs: .ascii))
    }

    func testTheTooSmallWordingShortensToFit() {
        XCTAssertEqual(AppView.tooSmallText(.standard, Size(width: 39, height: 9)), "terminal too small (need 40×10) — q quits")
        XCTAssertEqual(AppView.tooSmallText(.standard, Size(width: 12, height: 3)), "too small: need 40×10 — q quits")
        XCTAssertEqual(AppView.tooSmallText(.standard, Size(width: 10, height: 2)), "too small — q quits")
        XCTAssertEqual(AppView.tooSmallText(.standard, Size(width: 8, height: 2)), "q quits")
        XCTAssertEqual(AppView.tooSmallText(.standard, Size(width: 1, height: 1)), "q")
    }
}
