import Foundation
import XCTest
import LoRAKit
@testable import loratop

/// The headless progress lines: stamped with the time of day, an ETA from the recent steps, each event once.
final class HeadlessPrinterTests: XCTestCase {
    /// Runs `events` through a printer writing to a pipe and returns what it wrote, line by line.
    func lines(_ events: [EngineEvent], totalSteps: Int = 10) throws -> [String] {
        try output(events, totalSteps: totalSteps).lines
    }

    /// What the printer wrote to its progress output and to its error output, line by line.
    func output(_ events: [EngineEvent], totalSteps: Int = 10) throws -> (lines: [String], errors: [String]) {
        var fds: [Int32] = [0, 0], errs: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        XCTAssertEqual(pipe(&errs), 0)
        defer { close(fds[0]); close(errs[0]) }
        // 2026-12-04 01:02:03 in the local zone, whatever it is.
        var parts = tm()
        parts.tm_year = 126; parts.tm_mon = 11; parts.tm_mday = 4; parts.tm_hour = 1; parts.tm_min = 2; parts.tm_sec = 3
        parts.tm_isdst = -1
        let when = Double(mktime(&parts))
        let printer = HeadlessPrinter(totalSteps: totalSteps, fds: [fds[1]], errors: errs[1], now: { when })
        for e in events { printer.handle(e) }
        close(fds[1])
        close(errs[1])
        func drain(_ fd: Int32) -> [String] {
            var data = Data()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n <= 0 { break }
                data.append(contentsOf: buffer[0..<n])
            }
            return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
        }
        return (drain(fds[0]), drain(errs[0]))
    }

    func step(_ n: Int, seconds: Double) -> EngineEvent {
        .step(StepRecord(step: n, loss: 2.5, learningRate: 1e-4, gradNorm: 1, tokens: 512, seconds: seconds, epoch: 0))
    }

    func testProgressLinesCarryTheTimeOfDayElapsedAndETA() throws {
        let out = try lines([step(1, seconds: 3), step(2, seconds: 1)])
        XCTAssertEqual(out.count, 2)
        XCTAssertTrue(out.allSatisfy { $0.hasPrefix("01:02:03  step ") }, "\(out)")
        XCTAssertTrue(out[0].hasSuffix("elapsed 0:03  eta 0:27"), out[0])  // 9 steps left at 3 s
        XCTAssertTrue(out[1].hasSuffix("elapsed 0:04  eta 0:16"), out[1])  // 8 left at the mean of 3 and 1 s
    }

    /// The engine notes every change for the status line as well; the printer shows the change line only, while a
    /// note that only looks alike (a later, different message) still prints.
    func testEachChangeIsPrintedOnce() throws {
        let alpha = ChangeEvent(step: 4, kind: "alpha", from: "16", to: "32", detail: "scale 4")
        let rank = ChangeEvent(step: 4, kind: "rank", from: "8", to: "4", detail: "truncated-SVD error 8.64%")
        let out = try lines([.change(alpha), .change(rank), .message(EngineNote("step 4: α 16→32 (scale 4)")),
                             .message(EngineNote("step 4: r 8→4 (truncated-SVD error 8.64%)")),
                             .message(EngineNote("eval: failed: no data", .warning))])
        XCTAssertEqual(out.map { String($0.dropFirst(10)) },
                       ["change at step 4: α 16→32 (scale 4)", "change at step 4: r 8→4 (truncated-SVD error 8.64%)",
                        "note: eval: failed: no data"])
    }

    /// Warnings and errors go to stderr too (where they are seen with stdout piped to a file), by their level, not
    /// their wording; a save is said once, by the checkpoint line.
    func testTroubleReachesStderrByLevel() throws {
        let out = try output([.checkpoint("/r/checkpoint-000004"), .message(EngineNote("saved /r/checkpoint-000004")),
                              .message(EngineNote("saved elsewhere")), .message(EngineNote("lr: refused", .warning)),
                              .message(EngineNote("save: failed: disk full", .error)), .status(.failed("diverged"))])
        XCTAssertEqual(out.lines.map { String($0.dropFirst(10)) },
                       ["checkpoint: /r/checkpoint-000004", "note: saved elsewhere", "note: lr: refused",
                        "note: save: failed: disk full"])
        XCTAssertEqual(out.errors, ["loratop: lr: refused", "loratop: save: failed: disk full", "error: diverged"])
    }

    func testTheFinishedLineCountsTheSteppingTime() throws {
        let out = try lines([step(1, seconds: 30), step(2, seconds: 40), .status(.finished)], totalSteps: 2)
        XCTAssertEqual(out.last, "01:02:03  finished: 2 steps in 1:10")
    }
}

/// What is printed when the locale is not UTF-8.
final class TerminalTextTests: XCTestCase {
    func testSymbolsAreSpelledInASCII() {
        XCTAssertEqual(TerminalText.ascii("LoRA r8 α16 on q,k: 4×128; α 16→32 …"), "LoRA r8 alpha16 on q,k: 4x128; alpha 16->32 ...")
        XCTAssertEqual(TerminalText.ascii("Scale by alpha/√r"), "Scale by alpha/sqrt r")
        XCTAssertEqual(TerminalText.ascii("café naïve"), "cafe naive", "accents dropped where the base letter is ASCII")
        XCTAssertEqual(TerminalText.ascii("日本 🙂"), "?? ?")
        XCTAssertTrue(TerminalText.ascii("‖ΔW‖ ≤ 2·σ₁ — ½ ⏎ ᵀ").unicodeScalars.allSatisfy(\.isASCII))
    }

    func testJSONKeepsItsValueWithEscapes() throws {
        let json = #"{"label":"α 16→32","emoji":"🙂"}"#
        let ascii = TerminalText.asciiJSON(json)
        XCTAssertTrue(ascii.unicodeScalars.allSatisfy(\.isASCII), ascii)
        XCTAssertEqual(ascii, #"{"label":"\u03b1 16\u219232","emoji":"\ud83d\ude42"}"#)
        let back = try JSONSerialization.jsonObject(with: Data(ascii.utf8)) as? [String: String]
        XCTAssertEqual(back, ["label": "α 16→32", "emoji": "🙂"])
    }
}
