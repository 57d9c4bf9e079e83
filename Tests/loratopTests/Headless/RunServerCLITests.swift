import Foundation
import LoRAKit
import RunLink
import XCTest

/// Every run serves: headless and detached runs are listed, take `send` and `stop`, keep training when their
/// terminal hangs up, respect nohup, save and exit 143 on SIGTERM, and viewers that come and go (killed with
/// SIGKILL) never change what they compute.
final class RunServerCLITests: XCTestCase {
    private var runners: [BinaryRunner] = []
    private var spawned: [pid_t] = []

    override func setUp() {
        setenv("XDG_RUNTIME_DIR", TestRuntime.folder, 1)
    }

    override func tearDown() {
        for r in runners where r.process.isRunning { kill(r.process.processIdentifier, SIGKILL) }
        for p in spawned where kill(p, 0) == 0 { kill(p, SIGKILL) }
        for p in spawned { var st: Int32 = 0; waitpid(p, &st, 0) }
        TestRuntime.endLiveRuns()
    }

    private func tempDir() -> String {
        let d = NSTemporaryDirectory() + "loratop-serve-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    private func trainArgs(_ out: String, steps: Int = 1_000_000, extra: [String] = ["--headless"]) -> [String] {
        ["train", "--preset", "tiny", "--data", "sample-data/logbook.txt", "--seq-len", "32", "--batch-size", "2",
         "--max-steps", "\(steps)", "--warmup", "0", "--schedule", "constant", "--output", out, "--threads", "1"] + extra
    }

    private func start(_ args: [String], wrapper: [String] = []) throws -> BinaryRunner {
        let r = try BinaryRunner(args, wrapper: wrapper)
        runners.append(r)
        return r
    }

    /// `loratop ARGS` to completion: (status, stdout + stderr).
    private func loratop(_ args: [String]) throws -> (status: Int32, output: String) {
        EndToEndTUITests.run(try BinaryRunner.binary().path, args)
    }

    private func entry(output: String) throws -> RegistryEntry {
        let out = URL(fileURLWithPath: output).standardizedFileURL.path
        return try XCTUnwrap(TestRuntime.newestEntry { $0.run.output == out && $0.isLive }, "no live run for \(out)")
    }

    private func steps(_ metrics: String) -> [Int] {
        let text = (try? String(contentsOfFile: metrics, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap {
            guard let o = (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any], o["type"] as? String == "step"
            else { return nil }
            return o["step"] as? Int
        }
    }

    private func stepLine(_ n: Int) -> (String) -> Bool {
        { line in line.hasPrefix("step ") && (Int(line.dropFirst(5).trimmingCharacters(in: .whitespaces).split(separator: "/")[0]) ?? 0) >= n }
    }

    func testHeadlessRunIsListedTakesSendAndStop() throws {
        let out = tempDir()
        let run = try start(trainArgs(out))
        try run.waitForLine(stepLine(2))
        let e = try entry(output: out)
        XCTAssertEqual(e.run.mode, "headless")
        XCTAssertEqual(e.run.pid, run.process.processIdentifier)

        let ls = try loratop(["ls", "--json"])
        XCTAssertEqual(ls.status, 0, ls.output)
        let list = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(ls.output.utf8)) as? [[String: Any]])
        let mine = try XCTUnwrap(list.first { ($0["run"] as? [String: Any])?["id"] as? String == e.run.id })
        XCTAssertEqual((mine["progress"] as? [String: Any])?["status"] as? String, "running")
        let table = try loratop(["ls"])
        XCTAssertTrue(table.output.contains(e.run.id) && table.output.contains("running"), table.output)

        let sent = try loratop(["send", e.run.id, "lr", "1e-4"])
        XCTAssertEqual(sent.status, 0, sent.output)
        XCTAssertTrue(sent.output.contains("accepted `lr 0.0001`"), sent.output)
        try run.waitForLine { $0.contains("change at step") && $0.contains("lr 2e-04→1e-04") }
        let waited = try loratop(["send", "--wait", e.run.id, "alpha 32"])
        XCTAssertEqual(waited.status, 0, waited.output)
        XCTAssertTrue(waited.output.range(of: "applied at step [0-9]+: α 16→32", options: .regularExpression) != nil, waited.output)
        let paused = try loratop(["send", "--wait", e.run.id, "pause"])
        XCTAssertTrue(paused.output.contains("paused at step"), paused.output)
        XCTAssertTrue(try loratop(["send", "--wait", e.run.id, "resume"]).output.contains("resumed at step"))
        let refused = try loratop(["send", String(e.run.id.prefix(4)), "rank banana"])
        XCTAssertEqual(refused.status, 1, refused.output)
        XCTAssertTrue(refused.output.contains("expected a number after `rank`"), refused.output)

        let stop = try loratop(["stop", e.run.id])
        XCTAssertEqual(stop.status, 0, stop.output)
        XCTAssertEqual(try run.waitForExit(), 0, run.errors)
        XCTAssertTrue(run.output.contains { $0.hasPrefix("checkpoint: ") }, "stop saves first")
        let after = try loratop(["ls"])
        XCTAssertTrue(after.output.contains(e.run.id) && after.output.contains("stopped"), after.output)
        XCTAssertEqual(try loratop(["send", e.run.id, "pause"]).status, 1, "a stopped run takes no commands")
        let logs = try loratop(["logs", e.run.id])
        XCTAssertTrue(logs.output.contains("checkpoint: "), "run.log has the run's lines: \(logs.output.suffix(300))")
    }

    /// SIGTERM to the run, headless and detached (the process a terminal UI starts): checkpoint and 143, 20 of 20.
    func testSIGTERMSavesAndExits143InEveryMode() throws {
        for mode in [["--headless"], ["--serve-detached"]] {
            for i in 0..<20 {
                let out = tempDir()
                let run = try start(trainArgs(out, extra: mode))
                try run.waitForLine(stepLine(1))
                kill(run.process.processIdentifier, SIGTERM)
                XCTAssertEqual(try run.waitForExit(timeout: 30), 143, "\(mode) #\(i): \(run.errors)")
                XCTAssertFalse(Checkpoint.list(outputDir: out).isEmpty, "\(mode) #\(i): no checkpoint")
                try? FileManager.default.removeItem(atPath: out)
            }
        }
    }

    /// A headless run whose terminal hangs up keeps training, unseen, and can still be stopped.
    func testHangupLeavesAHeadlessRunTraining() throws {
        let out = tempDir()
        let run = try start(trainArgs(out))
        try run.waitForLine(stepLine(2))
        kill(run.process.processIdentifier, SIGHUP)
        let before = steps(out + "/metrics.jsonl").last ?? 0
        let deadline = Date().addingTimeInterval(20)
        while (steps(out + "/metrics.jsonl").last ?? 0) < before + 50 && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(run.process.isRunning, "SIGHUP ended the run: \(run.errors)")
        XCTAssertGreaterThanOrEqual(steps(out + "/metrics.jsonl").last ?? 0, before + 50, "the run stopped stepping")
        XCTAssertTrue(run.errors.contains("the terminal hung up"), run.errors)
        let e = try entry(output: out)
        XCTAssertEqual(try loratop(["stop", e.run.id]).status, 0)
        XCTAssertEqual(try run.waitForExit(), 0)
        let all = steps(out + "/metrics.jsonl")
        XCTAssertEqual(all, Array(1...(all.last ?? 0)), "every step once")
    }

    /// `nohup loratop train --headless`: SIGHUP stays ignored (the kernel's view says so) and the run goes on.
    func testNohupIsRespected() throws {
        let out = tempDir()
        let run = try start(trainArgs(out), wrapper: ["/usr/bin/nohup"])
        try run.waitForLine(stepLine(2))
        let pid = run.process.processIdentifier
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let ign = try XCTUnwrap(status.split(separator: "\n").first { $0.hasPrefix("SigIgn:") })
        let mask = try XCTUnwrap(UInt64(ign.split(separator: "\t").last ?? "", radix: 16))
        XCTAssertEqual(mask & 1, 1, "SIGHUP is not ignored under nohup: \(ign)")
        kill(pid, SIGHUP)
        let n = steps(out + "/metrics.jsonl").last ?? 0
        let deadline = Date().addingTimeInterval(20)
        while (steps(out + "/metrics.jsonl").last ?? 0) < n + 20 && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(run.process.isRunning)
        kill(pid, SIGTERM)
        XCTAssertEqual(try run.waitForExit(), 143)
    }

    /// Twenty viewers attach and are killed with SIGKILL while a run trains: its losses equal, bit for bit, those of
    /// the same run with no viewer.
    func testViewersKilledMidRunNeverChangeResults() throws {
        let quiet = tempDir(), watched = tempDir()
        let args = { (out: String) in self.trainArgs(out, steps: 4000, extra: ["--headless", "--seed", "3", "--no-save"]) }
        let a = try start(args(quiet))
        XCTAssertEqual(try a.waitForExit(timeout: 300), 0, a.errors)
        let b = try start(args(watched))
        try b.waitForLine(stepLine(1))
        let e = try entry(output: watched)
        let exe = try BinaryRunner.binary().path
        var cycles = 0
        while cycles < 20 && b.process.isRunning {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            var fds: [Int32] = [0, 0]
            pipe(&fds)
            posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            let argv: [UnsafeMutablePointer<CChar>?] = [exe, "attach", "--stdio", e.run.id].map { (s: String) in strdup(s) } + [nil]
            var pid: pid_t = 0
            posix_spawn(&pid, exe, &actions, nil, argv, environ)
            for p in argv { free(p) }
            posix_spawn_file_actions_destroy(&actions)
            close(fds[0])
            spawned.append(pid)
            _ = UnixSocket.writeAll(fds[1], Array("{\"type\":\"attach\",\"read_only\":false}\n{\"type\":\"command\",\"id\":\"1\",\"line\":\"pause-not-a-command\"}\n".utf8))
            usleep(60_000)
            kill(pid, SIGKILL)
            var st: Int32 = 0
            waitpid(pid, &st, 0)
            close(fds[1])
            cycles += 1
        }
        XCTAssertEqual(try b.waitForExit(timeout: 300), 0, b.errors)
        XCTAssertEqual(cycles, 20, "the run ended before 20 viewers came and went; make it longer")
        func losses(_ out: String) throws -> [String] {
            try String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
                .filter { $0.contains("\"type\":\"step\"") }
                .map { line in String(line.split(separator: ",").first { $0.hasPrefix("\"loss\":") } ?? "") }
        }
        let q = try losses(quiet), w = try losses(watched)
        XCTAssertEqual(q.count, 4000)
        XCTAssertEqual(q, w, "viewers changed the run's losses")
    }

    /// A run of another user (nobody) refuses us by its peer check (SO_PEERCRED), even though root can reach its socket.
    func testAnotherUsersRunRefusesTheConnection() throws {
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv"),
              let nobody = getpwnam("nobody")?.pointee else {
            throw XCTSkip("needs root, setpriv and a `nobody` user")
        }
        let base = NSTemporaryDirectory() + "lt-nobody-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: base) }
        for d in [base, base + "/xdg", base + "/out"] {
            try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
            chown(d, nobody.pw_uid, nobody.pw_gid)
        }
        chmod(base + "/xdg", 0o700)
        let run = try start(trainArgs(base + "/out"), wrapper: ["/usr/bin/setpriv", "--reuid=\(nobody.pw_uid)", "--regid=\(nobody.pw_gid)",
                                                                 "--clear-groups", "--", "/usr/bin/env", "XDG_RUNTIME_DIR=\(base)/xdg"])
        try run.waitForLine(stepLine(1))
        let folder = base + "/xdg/loratop"
        let sock = try XCTUnwrap(try FileManager.default.contentsOfDirectory(atPath: folder).first { $0.hasSuffix(".sock") })
        XCTAssertThrowsError(try RunClient.connect(path: folder + "/" + sock)) { e in
            XCTAssertTrue("\(e)".contains("refused") && "\(e)".contains("uid 0"), "\(e)")
        }
        XCTAssertThrowsError(try RunRegistry(folder: folder)) { e in
            XCTAssertTrue("\(e)".contains("belongs to uid \(nobody.pw_uid)"), "\(e)")
        }
        XCTAssertTrue(run.process.isRunning, "the refusal did not disturb the run")
        kill(run.process.processIdentifier, SIGTERM)
        XCTAssertEqual(try run.waitForExit(), 143)
    }
}
