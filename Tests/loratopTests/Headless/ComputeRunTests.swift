import Foundation
import LoRAKit
import XCTest

/// `--compute` end to end on the real binary: what a run says it computes in (start-up line, JSONL run line,
/// checkpoint state), on this CPU and on one without native bf16 (oneDNN capped at AVX2 with ONEDNN_MAX_CPU_ISA).
final class ComputeRunTests: XCTestCase {
    private var dirs: [String] = []

    override func tearDown() {
        for d in dirs { try? FileManager.default.removeItem(atPath: d) }
    }

    private func tempDir() -> String {
        let d = NSTemporaryDirectory() + "loratop-compute-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        dirs.append(d)
        return d
    }

    /// Runs 3 steps of the tiny preset headless; returns stderr, the JSONL run line and the final checkpoint's state.
    private func run(_ extra: [String], environment: [String: String] = [:], resume: String? = nil)
        throws -> (errors: String, runLine: [String: Any], state: TrainingRun.State, output: String) {
        let out = resume.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path } ?? tempDir()
        var args = ["train", "--preset", "tiny", "--data", "sample-data/logbook.txt", "--seq-len", "32", "--batch-size", "2",
                    "--max-steps", resume == nil ? "3" : "5", "--output", out, "--headless", "--threads", "1"] + extra
        if let resume { args += ["--resume", resume] }
        let r = try BinaryRunner(args, environment: environment)
        r.closeInput()
        XCTAssertEqual(try r.waitForExit(), 0, r.errors)
        let text = try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)
        let lines = text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        let runLine = try XCTUnwrap(lines.last { $0["type"] as? String == "run" }, "no run line in the JSONL")
        let (_, meta) = try Checkpoint.load(try Checkpoint.resolve(out), as: TrainingRun.State.self)
        return (r.errors, runLine, meta.session, out)
    }

    func testAutoIsBF16OnlyWithNativeBF16() throws {
        let native = OneDNN.hasNativeBF16 ? "bf16" : "fp32"
        let r = try run(["--compute", "auto"])
        XCTAssertEqual(r.runLine["compute"] as? String, native)
        XCTAssertEqual(r.runLine["base"] as? String, native == "bf16" ? "bf16" : "f32", "a dense base is held in bf16")
        XCTAssertEqual(r.state.compute?.rawValue, native)
        XCTAssertTrue(r.errors.contains("compute \(native)"), r.errors)
        XCTAssertFalse(r.errors.contains("asked, but"), r.errors)

        let capped = try run(["--compute", "auto"], environment: ["ONEDNN_MAX_CPU_ISA": "AVX2"])
        XCTAssertEqual(capped.runLine["compute"] as? String, "fp32", "auto without native bf16 is fp32")
        XCTAssertFalse(capped.errors.contains("asked, but"), "auto falls back silently: \(capped.errors)")
    }

    func testBF16WithoutNativeSupportSaysSoAndUsesFP32() throws {
        let r = try run(["--compute", "bf16"], environment: ["ONEDNN_MAX_CPU_ISA": "AVX2"])
        XCTAssertTrue(r.errors.contains("compute bf16 asked, but this CPU has no native bf16 arithmetic (oneDNN: avx2"),
                      r.errors)
        XCTAssertTrue(r.errors.contains("using fp32"), r.errors)
        XCTAssertEqual(r.runLine["compute"] as? String, "fp32")
        XCTAssertEqual(r.state.compute, .fp32)
        XCTAssertEqual(r.state.options.compute, .bf16, "the request is kept: a resume on a bf16 machine gets bf16")
    }

    func testExplicitPrecisionsAndResumeKeepTheRequest() throws {
        let f = try run(["--compute", "fp32"])
        XCTAssertEqual(f.runLine["compute"] as? String, "fp32")
        XCTAssertEqual(f.state.compute, .fp32)
        // resuming keeps the stored request (fp32 here, whatever the CPU) unless --compute is given
        let resumed = try run([], resume: try Checkpoint.resolve(f.output))
        XCTAssertEqual(resumed.runLine["compute"] as? String, "fp32")
        XCTAssertEqual(resumed.state.options.compute, .fp32)
        try XCTSkipUnless(OneDNN.hasNativeBF16, "this CPU has no native bf16: the bf16 half is covered by the AVX2 test")
        let b = try run(["--compute", "bf16"])
        XCTAssertEqual(b.runLine["compute"] as? String, "bf16")
        XCTAssertEqual(b.state.compute, .bf16)
    }

    func testAnUnknownPrecisionIsRefusedNamingTheFlagAndTheFileKey() throws {
        let bad = try BinaryRunner(["train", "--preset", "tiny", "--data", "sample-data/logbook.txt", "--compute", "fp16",
                                    "--headless"])
        XCTAssertNotEqual(try bad.waitForExit(), 0)
        XCTAssertTrue(bad.errors.contains("--compute: expected auto, fp32 or bf16, found `fp16`"), bad.errors)

        let yaml = tempDir() + "/run.yaml"
        try "compute: half\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        let badFile = try BinaryRunner(["train", "--preset", "tiny", "--data", "sample-data/logbook.txt", "--config", yaml,
                                        "--headless"])
        XCTAssertNotEqual(try badFile.waitForExit(), 0)
        XCTAssertTrue(badFile.errors.contains("compute"), badFile.errors)
        XCTAssertTrue(badFile.errors.contains("expected auto, fp32 or bf16, found `half`"), badFile.errors)
    }
}
