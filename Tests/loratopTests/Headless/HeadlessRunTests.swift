import Foundation
import LoRAKit
import XCTest

/// The real binary, headless, on a tiny random model: commands on stdin, the JSONL log, checkpoints, signals.
final class HeadlessRunTests: XCTestCase {
    private func tempDir() -> String {
        let d = NSTemporaryDirectory() + "loratop-headless-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    private func trainArgs(_ out: String, steps: Int = 5000) -> [String] {
        ["train", "--preset", "tiny", "--data", "sample-data/logbook.txt", "--seq-len", "32", "--batch-size", "2",
         "--max-steps", "\(steps)", "--warmup", "0", "--schedule", "constant", "--output", out, "--headless", "--threads", "1"]
    }

    private func events(_ path: String) throws -> [[String: Any]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
    }

    private func stepLine(_ n: Int) -> (String) -> Bool {
        { line in line.hasPrefix("step ") && line.split(separator: " ").dropFirst().first { !$0.isEmpty }
            .map { Int($0.split(separator: "/")[0]) ?? 0 >= n } ?? false }
    }

    /// `rank 16`, `alpha 32`, `lr 1e-4`, `save`, `stop` on stdin: each lands in the JSONL at the step boundary after it
    /// was sent, in order, and the checkpoint written loads.
    func testScriptedCommandsOnStdin() throws {
        let out = tempDir()
        let run = try BinaryRunner(trainArgs(out))
        try run.waitForLine(stepLine(3))
        run.send("rank 16")
        try run.waitForLine { $0.contains("change at step") && $0.contains("r 8→16") }
        run.send("alpha 32")
        try run.waitForLine { $0.contains("α 16→32") }
        run.send("lr 1e-4")
        try run.waitForLine { $0.contains("lr 2e-04→1e-04") }
        run.send("bogus 3")
        run.send("alpha 1e30")  // would diverge at once: refused with the range, the run goes on
        run.send("save")
        let saved = try run.waitForLine { $0.hasPrefix("checkpoint: ") }
        run.send("stop")
        XCTAssertEqual(try run.waitForExit(), 0, run.errors)
        XCTAssertTrue(run.errors.contains("unknown command `bogus`"), run.errors)
        XCTAssertTrue(run.errors.contains("alpha must be from 1e-03 to 4096, found 1e30"), run.errors)

        let log = try events(out + "/metrics.jsonl")
        let changes = log.filter { $0["type"] as? String == "change" }
        XCTAssertEqual(changes.map { $0["kind"] as? String }, ["rank", "alpha", "lr"])
        let changeSteps = changes.compactMap { $0["step"] as? Int }
        XCTAssertEqual(changeSteps, changeSteps.sorted())
        // The lr change takes effect on the very next step and is visible in the log.
        let lrStep = try XCTUnwrap(changeSteps.last)
        let next = try XCTUnwrap(log.first { $0["type"] as? String == "step" && $0["step"] as? Int == lrStep + 1 })
        XCTAssertEqual(try XCTUnwrap(next["lr"] as? Double), 1e-4, accuracy: 1e-9)
        let path = String(saved.dropFirst("checkpoint: ".count))
        let (state, meta) = try Checkpoint.load(path, as: TrainingRun.State.self)
        XCTAssertEqual(state.lora.rank, 16)
        XCTAssertEqual(state.lora.alpha, 32)
        XCTAssertEqual(meta.history.changes.count, 3)

        // Each event once, every progress line under the time of day with an ETA, the statuses in order.
        XCTAssertEqual(run.output.filter { $0.contains("16→32") }.count, 1, "\(run.output)")
        XCTAssertFalse(run.output.contains { $0.hasPrefix("note: step") }, "a change is not repeated as a note")
        let printed = run.rawOutput.filter { !$0.hasPrefix("loratop: ") && !$0.hasPrefix("memory: ") }
        XCTAssertTrue(printed.allSatisfy { BinaryRunner.unstamped($0) != $0 }, "\(printed.prefix(3))")
        XCTAssertTrue(run.output.filter { $0.hasPrefix("step ") }.allSatisfy { $0.contains(" eta ") })
        let statuses = log.filter { $0["type"] as? String == "status" }.compactMap { $0["status"] as? String }
        XCTAssertEqual(statuses.first, "running")
        XCTAssertEqual(statuses.suffix(2), ["saving", "stopped"], "the stop's save hands over to stopped: \(statuses)")
        // The ending says where the adapter is (the stop's checkpoint) and how to go on.
        let last = try XCTUnwrap(run.output.last { $0.hasPrefix("checkpoint: ") }).dropFirst("checkpoint: ".count)
        XCTAssertTrue(run.errors.contains("  adapter:      \(last)"), run.errors)
        XCTAssertTrue(run.errors.contains("  resume:       loratop resume \(out)"), run.errors)
    }

    /// Under a locale that is not UTF-8 nothing printed is outside ASCII: start-up lines, progress, changes, errors.
    func testACLocalePrintsOnlyASCII() throws {
        let out = tempDir()
        let run = try BinaryRunner(trainArgs(out), environment: ["LANG": "C", "LC_ALL": "C"])
        try run.waitForLine(stepLine(1))
        run.send("alpha 32")
        run.send("bogus")
        try run.waitForLine { $0.hasPrefix("change at step") }
        run.send("stop")
        XCTAssertEqual(try run.waitForExit(), 0, run.errors)
        let text = run.rawOutput.joined(separator: "\n") + run.errors
        XCTAssertTrue(text.unicodeScalars.allSatisfy(\.isASCII), text.unicodeScalars.filter { !$0.isASCII }.map(String.init).joined())
        XCTAssertTrue(run.output.contains { $0.contains("alpha 16->32") }, "\(run.output)")
        XCTAssertTrue(run.errors.contains("unknown command `bogus`"), run.errors)
        XCTAssertTrue(text.contains(" alpha16 on "), "the start-up line spells the symbols")
    }

    private func signalRun(_ sig: Int32, expect code: Int32) throws {
        let out = tempDir()
        let run = try BinaryRunner(trainArgs(out))
        try run.waitForLine(stepLine(2))
        kill(run.process.processIdentifier, sig)
        XCTAssertEqual(try run.waitForExit(), code, run.errors)
        XCTAssertTrue(run.output.contains { $0.hasPrefix("checkpoint: ") }, "a checkpoint is saved on \(sig)")
        let newest = try Checkpoint.resolve(out)
        XCTAssertNoThrow(try Checkpoint.load(newest, as: TrainingRun.State.self))
        XCTAssertTrue(try events(out + "/metrics.jsonl").contains { $0["status"] as? String == "stopped" })
    }

    func testSIGINTSavesAndExits130() throws { try signalRun(SIGINT, expect: 130) }
    func testSIGTERMSavesAndExits143() throws { try signalRun(SIGTERM, expect: 143) }
    // SIGHUP (the terminal went away) leaves a headless run training: RunServerCLITests.testHangupLeavesAHeadlessRunTraining.

    /// kill -9 at random moments while checkpoints are saved every step: whatever is on disk loads.
    func testKillNineNeverLeavesABrokenCheckpoint() throws {
        let out = tempDir()
        var rng = SeededRNG(seed: 2026)
        var kills = 0
        var saves = 0
        while saves < 20 {
            var args = trainArgs(out, steps: 100_000)
            args += ["--save-every", "1", "--keep", "2"]
            if FileManager.default.fileExists(atPath: out + "/metrics.jsonl") { args += ["--resume", out] }
            let run = try BinaryRunner(args)
            try run.waitForLine { $0.hasPrefix("checkpoint: ") }
            usleep(UInt32(rng.next() % 60_000))
            kill(run.process.processIdentifier, SIGKILL)
            _ = try run.waitForExit()
            kills += 1
            saves += run.output.filter { $0.hasPrefix("checkpoint: ") }.count
            for c in Checkpoint.list(outputDir: out) {
                XCTAssertNoThrow(try Checkpoint.load(c.path, as: TrainingRun.State.self), "checkpoint \(c.path) after kill \(kills)")
            }
            XCTAssertFalse(Checkpoint.list(outputDir: out).isEmpty)
        }
        XCTAssertGreaterThanOrEqual(saves, 20)
    }
}

/// Stopped at step k and resumed with `--resume`: steps k+1…n log the same losses, bit for bit, as one run
/// (same seed and threads; dropout on, so the RNG state and the data position must both be restored).
final class ResumeRunTests: XCTestCase {
    /// (step, loss) of every step record, in file order.
    private func losses(_ path: String) throws -> [(Int, Double)] {
        var out: [(Int, Double)] = []
        for line in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  o["type"] as? String == "step", let s = o["step"] as? Int, let l = o["loss"] as? Double else { continue }
            out.append((s, l))
        }
        return out
    }

    func testResumedRunMatchesAnUninterruptedOne() throws {
        let base = NSTemporaryDirectory() + "loratop-resume-\(UUID().uuidString)"
        let common = ["train", "--preset", "tiny", "--data", "sample-data/logbook.txt", "--seq-len", "24", "--batch-size", "2",
                      "--dropout", "0.1", "--schedule", "constant", "--warmup", "0", "--lr", "1e-3", "--headless", "--threads", "1"]
        let full = try BinaryRunner(common + ["--max-steps", "12", "--output", base + "/full"])
        full.closeInput()
        XCTAssertEqual(try full.waitForExit(), 0, full.errors)
        let first = try BinaryRunner(common + ["--max-steps", "6", "--output", base + "/split"])
        first.closeInput()
        XCTAssertEqual(try first.waitForExit(), 0, first.errors)
        let second = try BinaryRunner(common + ["--max-steps", "12", "--output", base + "/split", "--resume", base + "/split"])
        second.closeInput()
        XCTAssertEqual(try second.waitForExit(), 0, second.errors)

        let expected = try losses(base + "/full/metrics.jsonl")
        let got = try losses(base + "/split/metrics.jsonl")
        XCTAssertEqual(expected.map(\.0), Array(1...12))
        XCTAssertEqual(got.map(\.0), Array(1...12), "the resumed run continues at step 7 and appends to the same log")
        XCTAssertEqual(got.map(\.1), expected.map(\.1), "losses must be bit-identical")
    }
}
