import Dispatch
import Foundation
import XCTest
@testable import LoRAKit

/// Time-based autosave against a fake clock that reads one minute per step taken: no sleeps, no timing.
final class AutosaveTests: XCTestCase {
    /// Steps of the checkpoints the fake session was asked to save, in order.
    private func savedSteps(_ session: FakeSession) -> [Int] { session.saved.map { $0.trainLoss.last?.step ?? 0 } }

    private func engine(_ session: FakeSession, minutes: Double) -> TrainingEngine {
        var options = EngineOptions()
        options.autosaveSeconds = minutes * 60
        options.clock = { UInt64(session.step) * 60_000_000_000 }
        return TrainingEngine(session: session, options: options)
    }

    /// Every 10 minutes of (fake) time a checkpoint is written at the step boundary; the last step is saved by the
    /// end-of-run save only, once.
    func testSavesWhenTheIntervalHasPassed() {
        let session = FakeSession(totalSteps: 30)
        let e = engine(session, minutes: 10)
        e.start()
        XCTAssertTrue(e.wait(seconds: 10))
        XCTAssertEqual(savedSteps(session), [10, 20, 30])
        XCTAssertFalse(e.latest.unsavedProgress)
    }

    /// A save asked for by hand restarts the interval.
    func testASaveByHandRestartsTheInterval() {
        let session = FakeSession(totalSteps: 30)
        session.blockingSteps = [5]
        let e = engine(session, minutes: 10)
        e.start()
        session.entered.wait()                    // inside step 5
        e.send(.saveCheckpoint)
        session.gate.signal()
        XCTAssertTrue(e.wait(seconds: 10))
        XCTAssertEqual(savedSteps(session), [5, 15, 25, 30])
    }

    /// 0 turns it off; the default is 10 minutes.
    func testZeroIsOffAndTheDefaultIsTenMinutes() {
        XCTAssertEqual(EngineOptions().autosaveSeconds, 600)
        let session = FakeSession(totalSteps: 30)
        let e = engine(session, minutes: 0)
        e.start()
        XCTAssertTrue(e.wait(seconds: 10))
        XCTAssertEqual(savedSteps(session), [30])
    }
}
