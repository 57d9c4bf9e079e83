import Dispatch
import Foundation
import XCTest
@testable import LoRAKit

final class TrainingEngineTests: XCTestCase {
    /// Collects events in order (observers run on the engine queue).
    final class Recorder: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [EngineEvent] = []
        func add(_ e: EngineEvent) { lock.lock(); items.append(e); lock.unlock() }
        var events: [EngineEvent] { lock.lock(); defer { lock.unlock() }; return items }
        var changes: [ChangeEvent] {
            events.compactMap { if case .change(let c) = $0 { return c } else { return nil } }
        }
        var steps: [StepRecord] { events.compactMap { if case .step(let s) = $0 { return s } else { return nil } } }
        var statuses: [EngineStatus] { events.compactMap { if case .status(let s) = $0 { return s } else { return nil } } }
    }

    /// The end of a run hands each phase to the next: evaluating → saving → finished, never running again between.
    func testTheStatusesAtTheEndGoStraightThroughEvalAndSaveToFinished() {
        let session = FakeSession(totalSteps: 3)
        var options = EngineOptions()
        options.evalAtEnd = true
        options.saveAtEnd = true
        let engine = TrainingEngine(session: session, options: options)
        let rec = Recorder()
        engine.observe { rec.add($0) }
        engine.start()
        XCTAssertTrue(engine.wait(seconds: 10))
        XCTAssertEqual(rec.statuses, [.running, .evaluating, .saving, .finished])
    }

    /// The memory figures are there before the first step (a resumed run's first frame) and follow a rank change at
    /// once, not a step later.
    func testMemoryFiguresComeWithTheFirstFrameAndFollowAChangeAtOnce() {
        let session = FakeSession(totalSteps: 1000)
        session.blockingSteps = [1, 2]
        let engine = TrainingEngine(session: session, options: EngineOptions())
        engine.start()
        session.entered.wait()                       // inside step 1
        XCTAssertEqual(engine.latest.memory?.components.first?.bytes, 8 * 1024, "rank 8 before any step")
        engine.send(.setRank(16))
        session.gate.signal()
        session.entered.wait()                       // inside step 2: the change was applied at the boundary before it
        XCTAssertEqual(engine.latest.settings.rank, 16)
        XCTAssertEqual(engine.latest.memory?.components.first?.bytes, 16 * 1024, "the figures of rank 16 before step 2 ends")
        engine.send(.stop(save: false))
        session.gate.signal()
        XCTAssertTrue(engine.wait(seconds: 10))
    }

    /// A stop that saves goes saving → stopped; a save in the middle of the run goes back to running.
    func testAStopThatSavesGoesFromSavingToStopped() {
        let session = FakeSession(totalSteps: 1000)
        session.blockingSteps = [3, 4]     // held at step 4 too, so the run cannot reach its end before the stop
        let engine = TrainingEngine(session: session, options: EngineOptions())
        let rec = Recorder()
        engine.observe { rec.add($0) }
        engine.start()
        session.entered.wait()             // inside step 3
        engine.send(.saveCheckpoint)
        session.gate.signal()
        session.entered.wait()             // inside step 4: the save was made at the boundary before it
        XCTAssertEqual(session.saved.count, 1)
        engine.send(.stop(save: true))
        session.gate.signal()
        XCTAssertTrue(engine.wait(seconds: 10))
        XCTAssertEqual(rec.statuses, [.running, .saving, .running, .saving, .stopped])
        XCTAssertEqual(session.saved.count, 2)
    }

    func testRunsToTheEndAndSavesOnce() {
        let session = FakeSession(totalSteps: 25)
        var options = EngineOptions()
        options.evalEvery = 10
        let engine = TrainingEngine(session: session, options: options)
        let rec = Recorder()
        engine.observe { rec.add($0) }
        engine.start()
        XCTAssertTrue(engine.wait(seconds: 10))
        let s = engine.latest
        XCTAssertEqual(s.status, .finished)
        XCTAssertEqual(s.step, 25)
        XCTAssertEqual(s.trainLoss.map(\.step), Array(1...25))
        XCTAssertEqual(s.evalLoss.map(\.step), [10, 20, 25])
        XCTAssertEqual(session.saved.count, 1)
        XCTAssertEqual(session.saved.first?.trainLoss.count, 25)
        XCTAssertFalse(s.unsavedProgress)
    }

    /// A long phase publishes where it is while it runs (the snapshot and `.progress` events carry the phase, units done
    /// of total, and its time) and clears it when it ends; units closer than 200 ms apart are published only at the end.
    func testAPhasePublishesItsProgressWhileItRunsAndClearsItAfter() {
        let session = FakeSession(totalSteps: 2)
        session.evalUnits = 4
        session.evalBlocksAfter = 3
        session.evalUnitNanos = 150_000_000
        var options = EngineOptions()
        options.evalAtEnd = true
        options.saveAtEnd = false
        options.clock = { session.nanos }
        let engine = TrainingEngine(session: session, options: options)
        let rec = Recorder()
        engine.observe { rec.add($0) }
        engine.start()

        session.entered.wait()                    // after unit 3 of the final evaluation (450 ms in)
        let during = engine.latest
        XCTAssertEqual(during.status, .evaluating)
        XCTAssertEqual(during.progress?.phase, "evaluating")
        XCTAssertEqual(during.progress?.done, 2, "unit 3 came 150 ms after unit 2 was published")
        XCTAssertEqual(during.progress?.total, 4)
        XCTAssertEqual(during.progress?.seconds ?? 0, 0.3, accuracy: 1e-9, "as of its publication")
        session.gate.signal()
        XCTAssertTrue(engine.wait(seconds: 10))

        XCTAssertNil(engine.latest.progress)
        let progress = rec.events.compactMap { e -> PhaseProgress?? in if case .progress(let p) = e { return p } else { return nil } }
        // a unit every 150 ms: unit 1 is too soon after the start, unit 2 is due, 3 too soon, 4 ends it
        XCTAssertEqual(progress.map { $0?.done }, [0, 2, 4, nil])
        XCTAssertEqual(progress.compactMap { $0?.seconds }, [0, 0.3, 0.6])
        XCTAssertEqual(progress.compactMap { $0?.phase }, ["evaluating", "evaluating", "evaluating"])
    }

    /// Commands sent from another thread while steps block: each is applied at the step boundary after it was sent,
    /// in the order sent, and the learning rate change is used from the very next step.
    func testCommandsFromAnotherThreadApplyInOrderAtStepBoundaries() {
        let session = FakeSession(totalSteps: 12)
        session.blockingSteps = [3, 6]
        let engine = TrainingEngine(session: session)
        let rec = Recorder()
        engine.observe { rec.add($0) }
        engine.start()

        let sender = DispatchQueue(label: "sender")
        session.entered.wait()                    // inside step 3
        sender.sync {
            engine.send(.setRank(16))
            engine.send(.setAlpha(32))
        }
        session.gate.signal()
        session.entered.wait()                    // inside step 6
        sender.sync { engine.send(.setLearningRate(1e-4)) }
        session.gate.signal()
        XCTAssertTrue(engine.wait(seconds: 10))

        let changes = rec.changes
        XCTAssertEqual(changes.map(\.kind), ["rank", "alpha", "lr"])
        XCTAssertEqual(changes.map(\.step), [3, 3, 6])
        XCTAssertEqual(changes[0].label, "r 8→16")
        XCTAssertEqual(session.learningRatesUsed[5], 2e-4)     // step 6 started before the change
        XCTAssertEqual(session.learningRatesUsed[6], 1e-4)     // step 7 uses it
        XCTAssertEqual(engine.latest.settings.rank, 16)
        XCTAssertEqual(engine.latest.changes.count, 3)
        XCTAssertTrue(engine.latest.pending.isEmpty)
        // Events arrive in order: the rank change sits between step 3 and step 4.
        let order = rec.events.compactMap { e -> String? in
            switch e {
            case .step(let s): return "s\(s.step)"
            case .change(let c): return c.kind
            default: return nil
            }
        }
        XCTAssertEqual(Array(order[2...5]), ["s3", "rank", "alpha", "s4"])
    }

    /// With a step that does not return (a slow step), a command shows as pending in the next snapshot read.
    func testPendingShowsWithinFiftyMillisecondsDuringASlowStep() {
        let session = FakeSession(totalSteps: 3)
        session.blockingSteps = [2]
        let engine = TrainingEngine(session: session)
        engine.start()
        session.entered.wait()
        let before = engine.latest.version
        let t0 = DispatchTime.now().uptimeNanoseconds
        DispatchQueue.global().async { engine.send(.setRank(32)) }
        var seen = false
        while DispatchTime.now().uptimeNanoseconds - t0 < 50_000_000 {
            let s = engine.latest
            if s.pending == [.setRank(32)] {
                XCTAssertGreaterThan(s.version, before)
                seen = true
                break
            }
        }
        XCTAssertTrue(seen, "pending command not visible within 50 ms while a step was running")
        session.gate.signal()
        XCTAssertTrue(engine.wait(seconds: 10))
        XCTAssertEqual(engine.latest.changes.first?.step, 2)
    }

    func testPauseResumeStopAndSave() {
        let session = FakeSession(totalSteps: 1000)
        session.blockingSteps = [5]
        var options = EngineOptions()
        options.saveAtEnd = true
        let engine = TrainingEngine(session: session, options: options)
        engine.start()
        session.entered.wait()
        engine.send(.pause)
        session.gate.signal()
        // The engine reaches the boundary after step 5 and pauses there.
        var spins = 0
        while engine.latest.status != .paused && spins < 10_000 { usleep(100); spins += 1 }
        XCTAssertEqual(engine.latest.status, .paused)
        XCTAssertEqual(engine.latest.step, 5)
        engine.send(.saveCheckpoint)
        engine.send(.stop(save: true))
        XCTAssertTrue(engine.wait(seconds: 10))
        XCTAssertEqual(engine.latest.status, .stopped)
        XCTAssertEqual(engine.latest.step, 5)
        XCTAssertEqual(session.saved.count, 1, "an explicit save leaves nothing unsaved, so stop does not save again")
    }

    func testRestartKeepsAGhost() {
        let session = FakeSession(totalSteps: 4)
        var options = EngineOptions()
        options.exitWhenFinished = false
        options.saveAtEnd = false
        let engine = TrainingEngine(session: session, options: options)
        engine.start()
        var spins = 0
        while engine.latest.status != .finished && spins < 100_000 { usleep(100); spins += 1 }
        engine.send(.restart)
        spins = 0
        while !(engine.latest.ghosts.count == 1 && engine.latest.status == .finished && engine.latest.trainLoss.count == 4)
              && spins < 100_000 { usleep(100); spins += 1 }
        let s = engine.latest
        XCTAssertEqual(s.ghosts.count, 1)
        XCTAssertEqual(s.ghosts[0].train.count, 4)
        XCTAssertEqual(s.trainLoss.count, 4)
        XCTAssertEqual(session.restarts, 1)
        engine.send(.stop(save: false))
        XCTAssertTrue(engine.wait(seconds: 10))
    }

    func testUnsupportedCommandBecomesAMessageNotACrash() {
        let session = FakeSession(totalSteps: 2)
        session.blockingSteps = [1]
        let engine = TrainingEngine(session: session)
        engine.start()
        session.entered.wait()
        engine.send(.setDropout(0.1))
        session.gate.signal()
        XCTAssertTrue(engine.wait(seconds: 10))
        XCTAssertTrue(engine.latest.messages.contains { $0.hasPrefix("dropout 0.1:") })
        XCTAssertTrue(engine.latest.changes.isEmpty)
    }
}

final class CommandParseTests: XCTestCase {
    func testParsesTheHeadlessLanguage() throws {
        XCTAssertEqual(try Command.parse("rank 16"), .setRank(16))
        XCTAssertEqual(try Command.parse("  alpha   32 "), .setAlpha(32))
        XCTAssertEqual(try Command.parse("lr 1e-4"), .setLearningRate(1e-4))
        XCTAssertEqual(try Command.parse("dropout 0.05"), .setDropout(0.05))
        XCTAssertEqual(try Command.parse("quant NF4"), .setQuantization("nf4"))
        XCTAssertEqual(try Command.parse("save"), .saveCheckpoint)
        XCTAssertEqual(try Command.parse("stop"), .stop(save: true))
        XCTAssertEqual(try Command.parse("stop nosave"), .stop(save: false))
    }

    func testRejectsBadLinesWithAHint() {
        XCTAssertThrowsError(try Command.parse("rank 2.5")) { XCTAssert("\($0)".contains("whole number")) }
        XCTAssertThrowsError(try Command.parse("rank")) { XCTAssert("\($0)".contains("rank 16")) }
        XCTAssertThrowsError(try Command.parse("lr abc")) { XCTAssert("\($0)".contains("expected a number")) }
        XCTAssertThrowsError(try Command.parse("quant q3")) { XCTAssert("\($0)".contains("nf4")) }
        XCTAssertThrowsError(try Command.parse("frobnicate")) { XCTAssert("\($0)".contains("unknown command")) }
        XCTAssertThrowsError(try Command.parse(""))
    }

    func testLabels() {
        XCTAssertEqual(Command.setLearningRate(2e-4).label, "lr 2e-04")
        XCTAssertEqual(ChangeEvent(step: 1, kind: "rank", from: "8", to: "16").label, "r 8→16")
    }
}
