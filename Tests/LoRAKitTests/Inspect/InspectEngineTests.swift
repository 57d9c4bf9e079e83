import Foundation
import XCTest
@testable import LoRAKit

/// When the engine computes inspections (only when asked: the `inspect` command or `inspectEvery`), and what a real
/// run's inspection holds (gradients, base norms, quantization errors recomputed after a base change).
final class InspectEngineTests: XCTestCase {
    func testNothingIsComputedUnlessAsked() {
        let session = FakeSession(totalSteps: 20)
        let engine = TrainingEngine(session: session, options: EngineOptions())
        engine.start()
        XCTAssertTrue(engine.wait(seconds: 10))
        XCTAssertEqual(session.inspections, 0)
        XCTAssertNil(engine.latest.inspection)
    }

    func testInspectEveryNStepsAndOnRequest() {
        let session = FakeSession(totalSteps: 20)
        var options = EngineOptions()
        options.inspectEvery = 5
        options.exitWhenFinished = false
        let engine = TrainingEngine(session: session, options: options)
        let rec = TrainingEngineTests.Recorder()
        engine.observe { rec.add($0) }
        func seen() -> [Int] { rec.events.compactMap { if case .inspection(let x) = $0 { return x.step } else { return nil } } }
        engine.start()
        let deadline = Date().addingTimeInterval(10)
        while engine.latest.status != .finished && Date() < deadline { usleep(2000) }
        XCTAssertEqual(seen(), [5, 10, 15, 20])
        // at the end: a request is served at once; a second one with nothing changed costs nothing
        engine.send(.inspect)
        engine.send(.inspect)
        engine.send(.stop(save: false))
        XCTAssertTrue(engine.wait(seconds: 10))
        XCTAssertEqual(session.inspections, 4)  // step 20 was inspected already and nothing changed since
        XCTAssertEqual(engine.latest.inspection?.step, 20)
    }

    func testParsesTheInspectCommand() throws {
        XCTAssertEqual(try Command.parse("inspect"), .inspect)
        XCTAssertEqual(Command.inspect.line, "inspect")
        XCTAssertThrowsError(try Command.parse("inspect now"))
    }

    private static let logbook = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("sample-data/logbook.txt").path

    func testARealRunsInspectionHasGradientsNormsAndQuantErrors() throws {
        var o = RunOptions()
        o.model = "preset:tiny"
        o.data = Self.logbook
        o.seqLen = 24
        o.batchSize = 2
        o.maxSteps = 3
        o.optimizer.learningRate = 5e-3
        o.threads = 1
        o.quant = .nf4
        o.lora.targets = LoRATarget.allCases
        o.output = NSTemporaryDirectory() + "inspect-run-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: o.output) }
        let run = try TrainingRun(options: o)
        let fresh = try XCTUnwrap(try run.inspect())
        XCTAssertEqual(fresh.modules.count, 14)
        XCTAssertTrue(fresh.modules.allSatisfy { $0.updateNorm == 0 && $0.gradNormA == nil }, "B = 0 and no step yet")
        XCTAssertTrue(fresh.modules.allSatisfy { ($0.quantError ?? 0) > 0.01 && ($0.baseNorm ?? 0) > 0 })
        var last: StepRecord?
        for _ in 0..<3 { last = try run.trainStep() }
        let x = try XCTUnwrap(try run.inspect())
        XCTAssertEqual(x.step, 3)
        XCTAssertTrue(x.modules.allSatisfy { $0.updateNorm > 0 && ($0.gradNormB ?? 0) > 0 && ($0.relativeSize ?? 0) > 0 })
        // the gradient norms are those of the last step before clipping: together they make the step's reported norm
        let total = x.modules.reduce(0.0) { $0 + pow($1.gradNormA ?? 0, 2) + pow($1.gradNormB ?? 0, 2) }.squareRoot()
        let reported = Double(try XCTUnwrap(last).gradNorm)
        XCTAssertEqual(total, reported, accuracy: 1e-4 * reported)
        // ‖ΔW‖ from the factors equals the dense update's norm
        let ad = try XCTUnwrap(run.model.adapters.first?.adapter)
        let dense = ad.delta().reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        XCTAssertEqual(x.modules[0].updateNorm, dense, accuracy: 1e-5 * dense)
        // a base change: the quantization errors are recomputed for the new storage (int8 is far closer than nf4)
        _ = try run.apply(.setQuantization("int8"))
        let y = try XCTUnwrap(try run.inspect())
        for (a, b) in zip(x.modules, y.modules) {
            XCTAssertLessThan(try XCTUnwrap(b.quantError), try XCTUnwrap(a.quantError) / 4, a.name)
            XCTAssertEqual(a.baseNorm, b.baseNorm, "the source norm is cached, not recomputed")
        }
        _ = try run.apply(.setQuantization("none"))
        XCTAssertTrue(try XCTUnwrap(try run.inspect()).modules.allSatisfy { $0.quantError == nil }, "f32: no error column")
    }
}
