import Foundation
import LoRAKit
import XCTest
@testable import loratop
@testable import LoraTopConfig

/// `--resume DIR`: the stored settings, with the flags given and the keys of a `--config` file on top, each reported.
final class ResumeOptionsTests: XCTestCase {
    private static let logbook = BinaryRunner.repoRoot.appendingPathComponent("sample-data/logbook.txt").path

    /// A checkpoint of a short run (rank 8, lr 1e-3, seed 3) in a fresh output folder.
    private func checkpoint() throws -> (String, RunOptions) {
        var o = RunOptions()
        o.model = "preset:tiny"
        o.data = Self.logbook
        o.seqLen = 16
        o.batchSize = 2
        o.maxSteps = 4
        o.seed = 3
        o.threads = 1
        o.optimizer.learningRate = 1e-3
        o.output = NSTemporaryDirectory() + "resume-options-\(UUID().uuidString)"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: o.output) }
        let run = try TrainingRun(options: o)
        _ = try run.trainStep()
        _ = try run.saveCheckpoint(history: TrainingHistory())
        return (o.output, o)
    }

    func testNoFlagGivesTheStoredSettings() throws {
        let (out, _) = try checkpoint()
        let (o, _) = try Train.parse(["--resume", out]).runOptions()
        XCTAssertEqual(o, try TrainingRun.storedOptions(resume: out))
        let (_, lines) = try Train.parse(["--resume", out]).resumedOptions(from: out, file: RunConfig())
        XCTAssertEqual(lines, ["from \(try Checkpoint.resolve(out))"])
    }

    func testFlagsThenRunFileKeysOverrideAndAreReported() throws {
        let (out, stored) = try checkpoint()
        let yaml = NSTemporaryDirectory() + "resume-\(UUID().uuidString).yaml"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: yaml) }
        try "lora_r: 4\nlearning_rate: 5.0e-4\nseed: 3\nweight_decay: 0.1\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        let train = try Train.parse(["--resume", out, "--config", yaml, "--lr", "1e-4", "--quant", "nf4", "--double-quant",
                                     "--max-steps", "9"])
        let (o, lines) = try train.resumedOptions(from: out, file: try RunConfig.load(path: yaml))
        var want = try TrainingRun.storedOptions(resume: out)
        want.lora.rank = 4
        want.optimizer.learningRate = 1e-4
        want.optimizer.weightDecay = 0.1
        want.quant = .nf4
        want.doubleQuant = true
        want.maxSteps = 9
        XCTAssertEqual(o, want)
        XCTAssertEqual(o.data, stored.data, "what was not given stays as stored")
        let name = URL(fileURLWithPath: yaml).lastPathComponent
        XCTAssertEqual(Array(lines.dropFirst()), [
            "\(name): lora_r 8 → 4",
            "--quant none → nf4",
            "--double-quant off → on",
            "--lr 1e-03 → 1e-04",
            "\(name): weight_decay 0.01 → 0.1",
            "--max-steps 4 → 9",
            "\(name): seed 3 (unchanged)",
        ])
    }

    func testResumeSubcommandParsesAsTrainWithResume() throws {
        let (out, _) = try checkpoint()
        let cmd = try XCTUnwrap(try LoraTop.parseAsRoot(["resume", out, "--lr", "1e-4", "--headless"]) as? Resume)
        XCTAssertEqual(cmd.dir, out)
        XCTAssertEqual(cmd.flags, ["--lr", "1e-4", "--headless"])
        XCTAssertThrowsError(try LoraTop.parseAsRoot(["resume", out, "--resume", out]))
        let asTrain = try XCTUnwrap(try LoraTop.parseAsRoot(["train", "--resume", out] + cmd.flags) as? Train)
        XCTAssertEqual(asTrain.resume, out)
        XCTAssertEqual(asTrain.lr, 1e-4)
        XCTAssertTrue(asTrain.headless)
        XCTAssertThrowsError(try Train.parse(["--autosave", "nan"]))
        XCTAssertEqual(try Train.parse(["--autosave", "0"]).autosave, 0)
        XCTAssertEqual(try Train.parse([]).autosave, 10)
    }
}
