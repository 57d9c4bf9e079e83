@testable import LoRAKit
import TerminalUI
import XCTest
@testable import loratop

/// The screen moves while the engine works: elapsed and ETA count on between steps, a long phase shows its progress
/// and time, a spinner turns and the clock ticks; all from the viewer's clock, so nothing here sleeps.
final class HeartbeatTests: XCTestCase {
    /// The sample state at `now` seconds, its snapshot having arrived at `arrived`.
    func state(arrived: Double, now: Double, status: EngineStatus = .running, progress: PhaseProgress? = nil) -> AppState {
        var st = AppViewTests.state()
        var s = st.snapshot
        st.snapshot = Snapshot()
        s.status = status
        s.progress = progress
        _ = reduce(&st, .tick(now: arrived, wall: 0))
        _ = reduce(&st, .snapshot(s))
        _ = reduce(&st, .tick(now: now, wall: 0))
        return st
    }

    func header(_ st: AppState, width: Int = 120, height: Int = 40) -> String {
        AppView.render(st, .standard, size: Size(width: width, height: height)).lines()[0]
    }

    func testElapsedAndETACountOnBetweenStepsWhileRunning() {
        let st = state(arrived: 10, now: 13.5)
        XCTAssertEqual(st.liveElapsed, 62 + 3.5, accuracy: 1e-9)
        XCTAssertEqual(st.liveETA ?? 0, 723 - 3.5, accuracy: 1e-9)
        let screen = AppView.render(st, .standard, size: Size(width: 120, height: 40)).lines().joined(separator: "\n")
        XCTAssertTrue(screen.contains("elapsed   1:06") && screen.contains("ETA 12:00"), screen)
        // a new step resets the count to the engine's own figures
        var next = st.snapshot
        next.version += 1
        next.step += 1
        next.elapsed = 65.6
        var after = st
        _ = reduce(&after, .snapshot(next))
        XCTAssertEqual(after.liveElapsed, 65.6, accuracy: 1e-9)
    }

    func testTheETANeverDropsBelowWhatTheRemainingStepsNeed() {
        let st = state(arrived: 10, now: 710)   // a step far slower than the recent ones
        let after = Double(2000 - 120 - 1) * 0.05
        XCTAssertEqual(st.liveETA ?? 0, after, accuracy: 1e-9)
    }

    func testNothingCountsWhilePausedAndNoSpinnerTurns() {
        let st = state(arrived: 10, now: 50, status: .paused)
        XCTAssertEqual(st.liveElapsed, 62)
        XCTAssertEqual(st.liveETA, 723)
        XCTAssertFalse(st.busy)
        let top = header(st)
        XCTAssertFalse(GlyphSet.unicode.spinner.contains { top.contains($0) }, top)
    }

    func testTheSpinnerTurnsTwiceASecondInTheHeader() {
        let a = header(state(arrived: 10, now: 13.5)), b = header(state(arrived: 10, now: 14.0))
        XCTAssertTrue(a.contains("⠧ RUNNING"), a)   // frame 27 % 10
        XCTAssertTrue(b.contains("⠇ RUNNING"), b)   // frame 28 % 10
        var ascii = ViewContext.standard
        ascii.glyphs = .ascii
        let c = AppView.render(state(arrived: 10, now: 13.5), ascii, size: Size(width: 120, height: 40)).lines()[0]
        XCTAssertTrue(c.contains("\\ RUNNING"), c)   // frame 27 % 4
        XCTAssertTrue(c.unicodeScalars.allSatisfy(\.isASCII), c)
    }

    func testALongPhaseShowsItsProgressAndTimeCountingOn() {
        let eval = state(arrived: 10, now: 12.2, status: .evaluating,
                         progress: PhaseProgress(phase: "evaluating", done: 3, total: 12, seconds: 4))
        XCTAssertEqual(eval.livePhaseSeconds ?? 0, 6.2, accuracy: 1e-9)
        XCTAssertTrue(header(eval).contains("EVALUATING 3/12 · 6 s"), header(eval))
        XCTAssertEqual(eval.liveElapsed, 62, "evaluating is not stepping")
        // a phase that has no status of its own is named
        let requant = state(arrived: 10, now: 11, status: .running,
                            progress: PhaseProgress(phase: "requantizing", done: 40, total: 210, seconds: 0.4))
        XCTAssertTrue(header(requant).contains("RUNNING requantizing 40/210 · 1 s"), header(requant))
        // a save reports no units: its time alone
        let save = state(arrived: 10, now: 12, status: .saving, progress: PhaseProgress(phase: "saving", done: 0, total: 0, seconds: 0))
        XCTAssertTrue(header(save).contains("SAVING 2 s"), header(save))
        // the phase and the quit key survive a narrow terminal
        let narrow = AppView.render(eval, .standard, size: Size(width: 60, height: 20)).lines()
        XCTAssertTrue(narrow[0].contains("EVALUATING 3/12"), narrow[0])
        XCTAssertTrue(narrow[19].contains("q quit"), narrow[19])
    }

    func testTheClockShowsTheWallTime() {
        var st = state(arrived: 10, now: 11)
        let wall = 1_764_000_000.0
        _ = reduce(&st, .tick(now: 11, wall: wall))
        XCTAssertTrue(header(st).contains(Fmt.timeOfDay(wall)), header(st))
        XCTAssertEqual(Fmt.timeOfDay(wall).count, 8)
        XCTAssertNotNil(Fmt.timeOfDay(wall).range(of: "^[0-2][0-9]:[0-5][0-9]:[0-5][0-9]$", options: .regularExpression))
        XCTAssertNotEqual(Fmt.timeOfDay(wall + 1), Fmt.timeOfDay(wall))
    }

    /// A heartbeat frame changes only the header and the counters, so it costs a few bytes on the wire.
    func testAHeartbeatFrameChangesOnlyTheHeaderAndCounters() {
        let a = AppView.render(state(arrived: 10, now: 13.5), .standard, size: Size(width: 120, height: 40)).lines()
        let b = AppView.render(state(arrived: 10, now: 14.0), .standard, size: Size(width: 120, height: 40)).lines()
        let changed = zip(a, b).enumerated().filter { $0.element.0 != $0.element.1 }.map(\.offset)
        XCTAssertTrue(changed.contains(0))
        XCTAssertLessThanOrEqual(changed.count, 2, "rows changed: \(changed)")
    }
}
