import Foundation
import XCTest
@testable import LoRAKit

/// A run resumed from its checkpoint folder alone: every setting comes back from the stored state, live changes (rank,
/// alpha, lr, dropout, base storage) included, and the next steps' losses equal those of the uninterrupted run bit for bit.
final class ResumeFromFolderTests: XCTestCase {
    private static let logbook = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("sample-data/logbook.txt").path

    private var folders: [String] = []

    private func tempDir() -> String {
        let d = NSTemporaryDirectory() + "resume-folder-\(UUID().uuidString)"
        folders.append(d)
        return d
    }

    override func tearDown() {
        for d in folders { try? FileManager.default.removeItem(atPath: d) }
        folders = []
        super.tearDown()
    }

    /// A small run with dropout on (the RNG state matters) and a cosine schedule with warm-up (the step count matters).
    private func options(output: String) -> RunOptions {
        var o = RunOptions()
        o.model = "preset:tiny"
        o.data = Self.logbook
        o.seqLen = 24
        o.batchSize = 2
        o.maxSteps = 12
        o.lora.dropout = 0.1
        o.optimizer.learningRate = 2e-3
        o.optimizer.schedule.kind = .cosine
        o.optimizer.schedule.warmupSteps = 2
        o.threads = 1
        o.seed = 5
        o.output = output
        return o
    }

    /// Live changes by step boundary (applied after that many steps, before the next).
    private let changes: [Int: [Command]] = [
        2: [.setRank(16)],
        3: [.setAlpha(32), .setLearningRate(1e-3)],
        4: [.setQuantization("int8")],
        5: [.setDropout(0.05)],
    ]

    /// Steps `run` up to `steps` total, applying `changes` (and `extra`) at their step boundaries; the losses.
    private func drive(_ run: TrainingRun, to steps: Int, extra: [Int: [Command]] = [:]) throws -> [Float] {
        var losses: [Float] = []
        while run.step < steps {
            for c in (changes[run.step] ?? []) + (extra[run.step] ?? []) { _ = try run.apply(c) }
            losses.append(try run.trainStep().loss)
        }
        return losses
    }

    func testResumedFromTheFolderAloneRestoresEverySettingAndLoss() throws {
        let full = try TrainingRun(options: options(output: tempDir()))
        let expected = try drive(full, to: 12)

        let out = tempDir()
        let first = try TrainingRun(options: options(output: out))
        XCTAssertEqual(try drive(first, to: 7), Array(expected.prefix(7)))
        _ = try first.saveCheckpoint(history: TrainingHistory())

        let stored = try TrainingRun.storedOptions(resume: out)
        var want = options(output: out)
        want.lora.rank = 16
        want.lora.alpha = 32
        want.lora.dropout = 0.05
        want.optimizer.learningRate = 1e-3
        want.optimizer.schedule.totalSteps = 12
        want.quant = .int8
        XCTAssertEqual(stored, want, "every setting, live changes included")
        XCTAssertEqual(try Checkpoint.loadMeta(try Checkpoint.resolve(out), as: TrainingRun.State.self).session.embeddingStorage,
                       QuantKind.none, "the embedding keeps the storage the run was built with")

        let resumed = try TrainingRun(options: stored, resume: out)
        XCTAssertEqual(resumed.step, 7)
        XCTAssertEqual(resumed.settings, first.settings)
        XCTAssertEqual(resumed.settings.quantization, "int8")
        func bases(_ run: TrainingRun) -> [[Float]] {
            run.model.blocks.flatMap { b in LoRATarget.allCases.map { b.linear($0).base.dequantizedArray() } }
        }
        XCTAssertEqual(bases(resumed), bases(first), "the int8 base is built from the source weights as the live change built it")
        XCTAssertEqual(resumed.model.embedding.storageName, first.model.embedding.storageName)
        XCTAssertEqual(try drive(resumed, to: 12), Array(expected[7...]), "resumed losses must be bit-identical")
    }

    /// A setting given when resuming acts as a live change at that step boundary: a new rank and lr after step 7 give the
    /// losses of the uninterrupted run that changed them there.
    func testSettingsGivenWhenResumingActAsALiveChange() throws {
        let overrides: [Int: [Command]] = [7: [.setRank(4), .setLearningRate(5e-4), .setAlpha(8)]]
        let full = try TrainingRun(options: options(output: tempDir()))
        let expected = try drive(full, to: 12, extra: overrides)

        let out = tempDir()
        let first = try TrainingRun(options: options(output: out))
        _ = try drive(first, to: 7)
        _ = try first.saveCheckpoint(history: TrainingHistory())
        var o = try TrainingRun.storedOptions(resume: out)
        o.lora.rank = 4
        o.lora.alpha = 8
        o.optimizer.learningRate = 5e-4
        let resumed = try TrainingRun(options: o, resume: out)
        XCTAssertEqual(resumed.settings.rank, 4)
        XCTAssertEqual(resumed.settings.learningRate, 5e-4)
        XCTAssertEqual(try drive(resumed, to: 12), Array(expected[7...]))

        var other = o
        other.lora.targets = [.q, .v]
        XCTAssertThrowsError(try TrainingRun(options: other, resume: out)) { XCTAssertTrue("\($0)".contains("--targets"), "\($0)") }
    }

    /// A folder without a trainer state, or with a malformed one: the error names the file and what was expected.
    func testStoredOptionsOfABadFolderNameTheFile() throws {
        let empty = tempDir()
        try FileManager.default.createDirectory(atPath: empty + "/checkpoint-000003", withIntermediateDirectories: true)
        XCTAssertThrowsError(try TrainingRun.storedOptions(resume: empty)) {
            XCTAssertTrue("\($0)".contains("checkpoint-000003/trainer_state.json"), "\($0)")
            XCTAssertTrue("\($0)".contains("expected the trainer state"), "\($0)")
        }
        let bad = tempDir()
        try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
        try Data("{\"format\": 1, \"step\": 3}".utf8).write(to: URL(fileURLWithPath: bad + "/trainer_state.json"))
        XCTAssertThrowsError(try TrainingRun.storedOptions(resume: bad)) {
            XCTAssertTrue("\($0)".contains(bad + "/trainer_state.json"), "\($0)")
            XCTAssertTrue("\($0)".contains("not a loratop trainer state"), "\($0)")
        }
        XCTAssertThrowsError(try TrainingRun.storedOptions(resume: tempDir())) { XCTAssertTrue("\($0)".contains("no checkpoint"), "\($0)") }
    }
}
