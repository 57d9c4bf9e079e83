import Foundation
import LoRAKit
import XCTest

/// The dashboard in tmux under each common TERM: it draws, quits with q then n, and leaves the terminal as it was:
/// the shell's screen back where the terminal has an alternate screen, an empty screen where it has none (vt100,
/// linux), never the last frame; echo and canonical mode restored. And NO_COLOR: no colour escapes at all.
final class EndToEndTerminalTests: XCTestCase {
    override func tearDown() { TestRuntime.endLiveRuns() }

    private func trainLine(_ exe: String, _ out: String) -> String {
        "\(exe) train --preset tiny --data sample-data/logbook.txt --max-steps 1000000 --seq-len 32 --batch-size 2 "
            + "--threads 1 --no-save --output \(out)"
    }

    func testEveryCommonTerminalGetsItsScreenBackOnExit() throws {
        let (tmux, exe) = try EndToEndTUITests.tools()
        for term in ["xterm-256color", "xterm", "screen", "tmux-256color", "vt100", "linux"] {
            guard EndToEndTUITests.run("/usr/bin/infocmp", [term]).status == 0 else {
                print("note: terminfo has no \(term) on this machine; not tested")
                continue
            }
            let t = try EndToEndTUITests.Tmux(tmux: tmux, width: 100, height: 30, directory: EndToEndTUITests.repository.path)
            let out = NSTemporaryDirectory() + "loratop-e2e-term-\(getpid())-\(term)"
            defer { try? FileManager.default.removeItem(atPath: out) }
            t.type("echo BEFORE-THE-RUN")
            t.key("Enter")
            let tag = t.start("TERM=\(term) " + trainLine(exe, out))
            let drawn = t.wait(30) { $0.contains("Loss (nats/token)") && $0.contains("RUNNING") }
            XCTAssertTrue(drawn.ok, "\(term): no dashboard:\n\(drawn.screen)")
            t.type("q")
            XCTAssertTrue(t.wait { $0.contains("Quit?") }.ok, "\(term): no quit prompt:\n\(t.screen())")
            t.type("n")
            let done = t.exitCode(tag, within: 60)
            XCTAssertEqual(done.code, 0, "\(term):\n\(done.screen)")
            // Nothing of the last frame: no box, no stats row, no quit prompt (its top may have scrolled away).
            let leftOver = ["Loss (nats/token)", "tok/s", "Quit?", "─", "│", "╰"].filter { done.screen.contains($0) }
            XCTAssertEqual(leftOver, [], "\(term): the dashboard was left on the screen:\n\(done.screen)")
            XCTAssertTrue(done.screen.contains("stopped at step"), "\(term): the ending is shown:\n\(done.screen)")
            let alternate = !["vt100", "linux"].contains(term)
            XCTAssertEqual(done.screen.contains("BEFORE-THE-RUN"), alternate,
                           "\(term): the shell's screen \(alternate ? "comes back" : "is cleared"):\n\(done.screen)")
            // Echo and canonical mode are back: typed text shows at the prompt.
            t.type("echo typed-back")
            XCTAssertTrue(t.wait(5) { $0.contains("$ echo typed-back") }.ok, "\(term): no echo:\n\(t.screen())")
            t.key("Enter")
        }
        XCTAssertTrue(TestRuntime.livePIDs().filter { kill($0, 0) == 0 }.isEmpty, "a run was left behind")
    }

    /// NO_COLOR=1: attributes only (bold, reverse), no foreground or background colour in any cell, and the curves
    /// still told apart in the legend.
    func testNoColorDrawsWithoutColourEscapes() throws {
        let (tmux, exe) = try EndToEndTUITests.tools()
        let t = try EndToEndTUITests.Tmux(tmux: tmux, width: 120, height: 40, directory: EndToEndTUITests.repository.path)
        let out = NSTemporaryDirectory() + "loratop-e2e-nocolor-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let tag = t.start("NO_COLOR=1 TERM=xterm-256color " + trainLine(exe, out))
        let drawn = t.wait(30) { $0.contains("Loss (nats/token)") && $0.contains("RUNNING") && $0.contains("smoothed") }
        XCTAssertTrue(drawn.ok, drawn.screen)
        XCTAssertTrue(t.wait(30) { (screen: String) in screen.range(of: "step [1-9][0-9]*/", options: .regularExpression) != nil }.ok)
        let escapes = t.screen(colors: true)
        // SGR colour parameters: 30–37, 38;…, 40–47, 48;…, 90–97, 100–107.
        let colour = try NSRegularExpression(pattern: "\u{1b}\\[([0-9;]*;)?(3[0-8]|4[0-8]|9[0-7]|10[0-7])(;[0-9;]*)?m")
        let found = colour.matches(in: escapes, range: NSRange(escapes.startIndex..., in: escapes))
        XCTAssertTrue(found.isEmpty, "colour escapes under NO_COLOR: \(found.prefix(3).compactMap { Range($0.range, in: escapes).map { escapes[$0].debugDescription } })")
        XCTAssertTrue(escapes.contains("\u{1b}[1m") || escapes.contains("\u{1b}[7m") || escapes.contains(";1m"),
                      "bold or reverse still marks the status")
        let legend = drawn.screen.split(separator: "\n").first { $0.contains("train") && $0.contains("smoothed") } ?? ""
        XCTAssertTrue(legend.contains("·") || legend.contains("•") || legend.contains("┄") || legend.contains(".."),
                      "the legend shows the patterns: \(legend)")
        t.type("q")
        XCTAssertTrue(t.wait { $0.contains("Quit?") }.ok)
        t.type("n")
        XCTAssertEqual(t.exitCode(tag, within: 60).code, 0)
    }
}
