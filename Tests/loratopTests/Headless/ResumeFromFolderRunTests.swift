import Foundation
import LoRAKit
import XCTest
@testable import loratop

/// The real binary: a headless run changed live on stdin (rank, lr, alpha, base storage), stopped, then continued with
/// `loratop train --resume OUT` and nothing else, and with `loratop resume OUT --max-steps N`. Every setting comes back
/// and the losses equal, bit for bit, those of one uninterrupted run with the same changes at the same steps.
final class ResumeFromFolderRunTests: XCTestCase {
    // A step of this run takes a few milliseconds: the first pause is sent before the first step, and the 400 steps
    // leave the second pause room to land long before the end.
    private static let steps = 400
    private static let moreSteps = 430

    private func args(_ out: String, steps: Int) -> [String] {
        ["train", "--preset", "tiny", "--data", "sample-data/logbook.txt", "--seq-len", "24", "--batch-size", "2",
         "--dropout", "0.1", "--schedule", "constant", "--warmup", "0", "--lr", "1e-3", "--threads", "1",
         "--max-steps", "\(steps)", "--output", out, "--headless"]
    }

    /// Polls the printed lines until `done` holds for them.
    private func wait(_ run: BinaryRunner, _ what: String, _ done: ([String]) -> Bool) throws {
        let deadline = Date().addingTimeInterval(120)
        while !done(run.output) {
            guard Date() < deadline, run.process.isRunning else {
                throw BinaryRunner.Failure("waiting for \(what); last lines \(run.output.suffix(5)); stderr: \(run.errors)")
            }
            usleep(10_000)
        }
    }

    private func count(_ prefix: String) -> ([String]) -> Int { { $0.filter { $0.hasPrefix(prefix) }.count } }

    /// JSON objects of the metrics log with this type.
    private func records(_ path: String, _ type: String) throws -> [[String: Any]] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }.filter { $0["type"] as? String == type }
    }

    /// (step, loss) of every step line of the log, the loss as the Float the trainer computed.
    private func losses(_ path: String) throws -> [(Int, Float)] {
        try records(path, "step").compactMap { o in
            guard let s = o["step"] as? Int, let l = o["loss"] as? Double else { return nil }
            return (s, Float(l))
        }
    }

    func testResumeFromTheFolderAloneContinuesBitIdentically() throws {
        let base = NSTemporaryDirectory() + "loratop-resume-folder-\(UUID().uuidString)"
        let out = base + "/run", copy = base + "/copy"
        defer { try? FileManager.default.removeItem(atPath: base) }

        // The first part: two pauses with live changes, then a stop (which saves).
        let first = try BinaryRunner(args(out, steps: Self.steps))
        defer { if first.process.isRunning { first.process.terminate() } }
        first.send("pause")
        try wait(first, "the first pause") { self.count("paused")($0) >= 1 }
        first.send("rank 16")
        first.send("lr 1e-4")
        try wait(first, "two changes") { self.count("change at step")($0) >= 2 }
        first.send("resume")
        let stepsSeen = first.output.filter { $0.hasPrefix("step ") }.count
        try wait(first, "three more steps") { $0.filter { $0.hasPrefix("step ") }.count >= stepsSeen + 3 }
        first.send("pause")
        try wait(first, "the second pause") { self.count("paused")($0) >= 2 }
        first.send("alpha 32")
        first.send("quant int8")
        try wait(first, "four changes") { self.count("change at step")($0) >= 4 }
        first.send("stop")
        XCTAssertEqual(try first.waitForExit(), 0, first.errors)
        let stopped = try Checkpoint.resolve(out)
        let k = try Checkpoint.loadMeta(stopped, as: TrainingRun.State.self).step
        XCTAssertLessThan(k, Self.steps - 10, "the run was stopped well before its end")
        let changes = try records(out + "/metrics.jsonl", "change").map { ($0["kind"] as? String ?? "", $0["step"] as? Int ?? -1) }
        XCTAssertEqual(changes.map(\.0), ["rank", "lr", "alpha", "quant"])
        try FileManager.default.copyItem(atPath: out, toPath: copy)

        // `train --resume OUT` with no other flag.
        let second = try BinaryRunner(["train", "--resume", out, "--headless"])
        second.closeInput()
        XCTAssertEqual(try second.waitForExit(), 0, second.errors)
        XCTAssertTrue(second.errors.contains("resume: from \(stopped)"), second.errors)
        XCTAssertFalse(second.errors.contains("→"), "nothing was overridden: \(second.errors)")
        XCTAssertTrue(second.errors.contains("base int8"), second.errors)
        let final = try Checkpoint.loadMeta(try Checkpoint.resolve(out), as: TrainingRun.State.self)
        XCTAssertEqual(final.step, Self.steps)
        XCTAssertEqual(final.session.options.lora.rank, 16)
        XCTAssertEqual(final.session.options.lora.alpha, 32)
        XCTAssertEqual(final.session.options.optimizer.learningRate, 1e-4)
        XCTAssertEqual(final.session.options.quant, .int8)
        XCTAssertEqual(final.session.options.lora.dropout, 0.1)
        XCTAssertEqual(final.session.options.seqLen, 24)

        // `resume COPY` with two overrides, reported as changes.
        let third = try BinaryRunner(["resume", copy, "--headless", "--max-steps", "\(Self.moreSteps)", "--output", copy])
        third.closeInput()
        XCTAssertEqual(try third.waitForExit(), 0, third.errors)
        XCTAssertTrue(third.errors.contains("resume: --max-steps \(Self.steps) → \(Self.moreSteps)"), third.errors)
        XCTAssertTrue(third.errors.contains("resume: --output \(out) → \(copy)"), third.errors)

        // One uninterrupted run in process, the same changes at the same step boundaries.
        let sent: [String: Command] = ["rank": .setRank(16), "lr": .setLearningRate(1e-4), "alpha": .setAlpha(32),
                                       "quant": .setQuantization("int8")]
        let (options, _) = try Train.parse(Array(args(base + "/reference", steps: Self.moreSteps).dropFirst())).runOptions()
        let reference = try TrainingRun(options: options)
        var expected: [Float] = []
        while reference.step < Self.moreSteps {
            for (kind, step) in changes where step == reference.step {
                _ = try reference.apply(try XCTUnwrap(sent[kind]))
            }
            expected.append(try reference.trainStep().loss)
        }

        let got = try losses(out + "/metrics.jsonl")
        XCTAssertEqual(got.map(\.0), Array(1...Self.steps), "every step once, the resumed ones appended to the same log")
        XCTAssertEqual(got.map(\.1), Array(expected.prefix(Self.steps)), "losses must be bit-identical")
        let longer = try losses(copy + "/metrics.jsonl")
        XCTAssertEqual(longer.map(\.0), Array(1...Self.moreSteps))
        XCTAssertEqual(longer.map(\.1), expected, "losses must be bit-identical with --max-steps given")
    }
}
