import Foundation
import XCTest
@testable import LoRAKit

/// The divergence policy: a non-finite step skips its update and says so; three in a row pause a watched run and
/// stop an unwatched one as failed, with no checkpoint of the diverged state; a final save that fails fails the run.
final class DivergenceTests: XCTestCase {
    func waitFor(_ engine: TrainingEngine, _ ok: (Snapshot) -> Bool) -> Snapshot {
        var spins = 0
        while !ok(engine.latest) && spins < 100_000 { usleep(100); spins += 1 }
        return engine.latest
    }

    func testThreeNonFiniteStepsInARowPauseAWatchedRun() {
        let session = FakeSession(totalSteps: 100)
        session.nonFiniteSteps = [2, 4, 5, 6]  // 2 alone resets; 4, 5, 6 are three in a row
        let engine = TrainingEngine(session: session, options: EngineOptions())
        let rec = TrainingEngineTests.Recorder()
        engine.observe { rec.add($0) }
        engine.start()
        let s = waitFor(engine) { $0.status == .paused }
        XCTAssertEqual(s.status, .paused)
        XCTAssertEqual(s.step, 6, "paused at the boundary after the third")
        let levels = rec.events.compactMap { if case .message(let m) = $0 { return m } else { return nil } }
        XCTAssertTrue(levels.allSatisfy { $0.level == .warning }, "skips and the pause are warnings: \(levels)")
        let notes = levels.map(\.text)
        XCTAssertTrue(notes.contains("step 2: loss nan: update skipped, weights unchanged (1 of 3 in a row)"), "\(notes)")
        XCTAssertTrue(notes.contains("step 5: loss nan: update skipped, weights unchanged (2 of 3 in a row)"), "\(notes)")
        XCTAssertTrue(notes.contains { $0.hasPrefix("diverged: 3 steps in a row") && $0.contains("weights are those of step 3")
            && $0.contains("paused") }, "\(notes)")
        XCTAssertTrue(rec.steps.filter(\.updateSkipped).map(\.step) == [2, 4, 5, 6])
        engine.send(.stop(save: false))
        XCTAssertTrue(engine.wait(seconds: 10))
    }

    func testAnUnwatchedRunStopsFailedAndSavesNothingOfTheDivergedState() {
        let session = FakeSession(totalSteps: 100)
        session.nonFiniteSteps = [3, 4, 5]
        var options = EngineOptions()
        options.stopOnDivergence = true
        options.saveAtEnd = true
        let engine = TrainingEngine(session: session, options: options)
        engine.start()
        XCTAssertTrue(engine.wait(seconds: 10), "the loop ends by itself")
        guard case .failed(let why) = engine.latest.status else { return XCTFail("\(engine.latest.status)") }
        XCTAssertTrue(why.hasPrefix("diverged: 3 steps in a row") && why.contains("resume from the last checkpoint"), why)
        XCTAssertEqual(engine.latest.step, 5)
        XCTAssertTrue(session.saved.isEmpty, "no checkpoint on the way out of a diverged run")
    }

    func testAFinalSaveThatFailsFailsTheRunAndSaysWhatIsLost() {
        let session = FakeSession(totalSteps: 4)
        session.saveFails = true
        var options = EngineOptions()
        options.evalAtEnd = false
        let engine = TrainingEngine(session: session, options: options)
        let rec = TrainingEngineTests.Recorder()
        engine.observe { rec.add($0) }
        engine.start()
        XCTAssertTrue(engine.wait(seconds: 10))
        guard case .failed(let why) = engine.latest.status else { return XCTFail("\(engine.latest.status)") }
        XCTAssertTrue(why.hasPrefix("the final checkpoint was not saved (") && why.hasSuffix("the steps after the start are lost"), why)
        XCTAssertEqual(rec.statuses.suffix(2).map(\.label), ["saving", "failed"])

        // Stopping with a save that fails: the same, never `stopped` as if all were well.
        let s2 = FakeSession(totalSteps: 1000)
        s2.saveFails = true
        s2.blockingSteps = [2]
        let e2 = TrainingEngine(session: s2, options: EngineOptions())
        e2.start()
        s2.entered.wait()
        e2.send(.stop(save: true))
        s2.gate.signal()
        XCTAssertTrue(e2.wait(seconds: 10))
        guard case .failed(let why2) = e2.latest.status else { return XCTFail("\(e2.latest.status)") }
        XCTAssertTrue(why2.hasPrefix("the final checkpoint was not saved"), why2)
    }
}
