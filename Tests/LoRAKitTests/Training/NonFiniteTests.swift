import Foundation
import XCTest
@testable import LoRAKit

/// NaN and infinity never reach the weights, a checkpoint or a loaded adapter.
final class NonFiniteTests: XCTestCase {
    func tinyRun(steps: Int = 20) throws -> TrainingRun { try TrainingRun(options: tinyRunOptions(steps: steps)) }

    func adapterValues(_ run: TrainingRun) -> [Float] { run.trainer.parameters.flatMap { $0.value.array } }

    /// A NaN in the base makes the loss NaN: the step skips its update (A, B and the moments stay), and once the base
    /// is finite again the next step updates as usual.
    func testANonFiniteLossSkipsTheUpdate() throws {
        let run = try tinyRun()
        _ = try run.trainStep()
        let base = try XCTUnwrap(run.model.blocks[0].q.base as? DenseMatrix)
        let saved = base.storage[0]
        base.storage[0] = .nan
        let before = adapterValues(run)
        let moments = run.trainer.parameters.flatMap { $0.m.array + $0.v.array }
        let lr = run.trainer.nextLearningRate
        let r = try run.trainStep()
        XCTAssertTrue(r.loss.isNaN)
        XCTAssertEqual(r.learningRate, lr, "the rate of this step, not the next")
        XCTAssertTrue(r.updateSkipped)
        XCTAssertEqual(r.step, 2, "the step counts (the schedule and the data move on)")
        XCTAssertEqual(adapterValues(run), before, "weights unchanged")
        XCTAssertEqual(run.trainer.parameters.flatMap { $0.m.array + $0.v.array }, moments, "moments unchanged")
        base.storage[0] = saved
        let next = try run.trainStep()
        XCTAssertFalse(next.updateSkipped)
        XCTAssertNotEqual(adapterValues(run), before)
    }

    /// A checkpoint of a state holding a NaN is refused with the tensor's name and nothing is written; the checkpoint
    /// saved before it stays.
    func testACheckpointWithANaNIsNeverWritten() throws {
        let run = try tinyRun()
        _ = try run.trainStep()
        let good = try run.saveCheckpoint(history: TrainingHistory())
        _ = try run.trainStep()
        run.trainer.parameters[3].value[5] = .infinity
        XCTAssertThrowsError(try run.saveCheckpoint(history: TrainingHistory())) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("not written: base_model.model.model.layers.0.") && text.contains("lora_B.weight holds a non-finite value (inf at element 5 of"), text)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: run.options.output).filter { $0.hasPrefix("checkpoint-") }
        XCTAssertEqual(names, [URL(fileURLWithPath: good).lastPathComponent], "only the finite checkpoint, no partial folder")
        XCTAssertNoThrow(try Checkpoint.load(good, as: TrainingRun.State.self))
    }

    /// Loading refuses NaN or infinite adapter weights and optimizer moments, naming the tensor, and a trainer state
    /// whose step is negative.
    func testLoadingRefusesNonFiniteTensorsAndANegativeStep() throws {
        let run = try tinyRun()
        _ = try run.trainStep()
        let folder = try run.saveCheckpoint(history: TrainingHistory())
        var adapter = try PEFTAdapter.read(folder: folder)
        adapter.modules[0].a[7] = .nan
        let bad = NSTemporaryDirectory() + "nonfinite-adapter-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: bad) }
        try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
        try adapter.write(to: bad)
        XCTAssertThrowsError(try PEFTAdapter.read(folder: bad)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("lora_A.weight") && text.contains("non-finite value (nan at element 7 of"), text)
        }

        let statePath = folder + "/trainer_state.json"
        var meta = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: statePath))) as? [String: Any])
        XCTAssertEqual(meta["step"] as? Int, 1)
        meta["step"] = -1
        try JSONSerialization.data(withJSONObject: meta).write(to: URL(fileURLWithPath: statePath))
        XCTAssertThrowsError(try Checkpoint.load(folder, as: TrainingRun.State.self)) { error in
            XCTAssertTrue("\(error)".contains("step: expected 0 or more, found -1"), "\(error)")
        }
    }

    /// Live changes beyond what a run can survive are refused with the range, by the parser and by the run itself
    /// (a viewer's command arrives without the parser).
    func testAbsurdLiveChangesAreRefusedWithTheRange() throws {
        XCTAssertThrowsError(try Command.parse("alpha 1e30")) { XCTAssertTrue("\($0)".contains("alpha must be from 1e-03 to 4096, found 1e30"), "\($0)") }
        XCTAssertThrowsError(try Command.parse("lr 5")) { XCTAssertTrue("\($0)".contains("lr must be from 1e-09 to 1, found 5"), "\($0)") }
        XCTAssertEqual(try Command.parse("alpha 4096"), .setAlpha(4096))
        let run = try tinyRun()
        XCTAssertThrowsError(try run.apply(.setAlpha(1e30))) { XCTAssertTrue("\($0)".contains("expected 1e-03 to 4096, found 1e+30"), "\($0)") }
        XCTAssertThrowsError(try run.apply(.setLearningRate(.infinity))) { XCTAssertTrue("\($0)".contains("expected 1e-09 to 1"), "\($0)") }
        XCTAssertEqual(run.settings.alpha, 16, "nothing changed")
    }
}
