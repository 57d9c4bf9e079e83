import Foundation
import LoRAKit
import XCTest

/// Drives the built `loratop` binary in a detached tmux session at 120×40: the chart appears, `R` shows the rank
/// pending and then applied, `?` shows the help, resizing to 80×24 and 30×8 redraws cleanly, `q` then `n` exits, and
/// the terminal is sane afterwards (`stty -a`: echo and icanon back on). Skips when tmux is missing.
final class EndToEndTUITests: XCTestCase {
    override func tearDown() {
        // Runs are processes of their own now: end every one this test started, by pid.
        TestRuntime.endLiveRuns()
    }

    /// The folder holding the built products (the test bundle's folder on Linux).
    static var productsDirectory: URL {
        let candidates = Bundle.allBundles.map { $0.bundleURL.deletingLastPathComponent() } + [Bundle.main.bundleURL]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.appendingPathComponent("loratop").path) }
            ?? Bundle.main.bundleURL
    }

    static var repository: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// Runs a program to completion with posix_spawn and waitpid; output goes through a temporary file, not a pipe,
    /// because a tmux server started by the command inherits the descriptors and would keep a pipe open forever.
    @discardableResult
    static func run(_ exe: String, _ args: [String]) -> (status: Int32, output: String) {
        let path = NSTemporaryDirectory() + "loratop-e2e-\(getpid())-\(UInt64.random(in: 0..<UInt64.max)).out"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        guard posix_spawn(&pid, exe, &actions, nil, argv, environ) == 0 else { return (-1, "cannot start \(exe)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let data = FileManager.default.contents(atPath: path) ?? Data()
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : -1
        return (code, String(decoding: data, as: UTF8.self))
    }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// A detached tmux server of our own (its own socket), one window running a plain shell.
    final class Tmux {
        let tmux: String
        let socket: String

        init(tmux: String, width: Int, height: Int, directory: String) throws {
            self.tmux = tmux
            socket = "loratop-e2e-\(getpid())-\(Int.random(in: 0..<1_000_000))"
            let r = EndToEndTUITests.run(tmux, ["-L", socket, "-f", "/dev/null", "new-session", "-d", "-x", "\(width)",
                                                "-y", "\(height)", "-s", "e2e", "-c", directory,
                                                "env LANG=C.UTF-8 LC_ALL=C.UTF-8 XDG_RUNTIME_DIR=\(TestRuntime.folder) PS1='$ ' bash --norc --noprofile"])
            guard r.status == 0 else { throw XCTSkip("tmux could not start a session: \(r.output)") }
        }

        deinit { if owner { EndToEndTUITests.run(tmux, ["-L", socket, "kill-server"]) } }

        /// The pane the methods act on ("e2e" is the first one; `split()` makes "e2e.1").
        var pane = "e2e"
        func type(_ text: String) { EndToEndTUITests.run(tmux, ["-L", socket, "send-keys", "-t", pane, "-l", text]) }
        func key(_ name: String) { EndToEndTUITests.run(tmux, ["-L", socket, "send-keys", "-t", pane, name]) }
        /// Splits the window; the new pane runs a shell like the first. Returns its target.
        func split() -> String {
            EndToEndTUITests.run(tmux, ["-L", socket, "split-window", "-t", "e2e", "-h", "-c", EndToEndTUITests.repository.path,
                                        "env LANG=C.UTF-8 LC_ALL=C.UTF-8 XDG_RUNTIME_DIR=\(TestRuntime.folder) PS1='$ ' bash --norc --noprofile"])
            return "e2e.1"
        }

        /// The same server, acting on another pane.
        func on(_ target: String) -> Tmux {
            let other = Tmux(sharing: self)
            other.pane = target
            return other
        }

        private var owner = true
        private init(sharing t: Tmux) {
            tmux = t.tmux
            socket = t.socket
            owner = false
        }
        /// Types `line` at the shell prompt followed by an echo of its exit status under a tag no earlier command
        /// used, so a wait for it can never be satisfied by an earlier command's status still on the screen.
        func start(_ line: String) -> String {
            commands += 1
            let tag = "EXIT\(commands)"
            type(line + "; echo \(tag)=$?")
            key("Enter")
            return tag
        }

        /// Waits for the status `start` returned it; the last screen and the exit code (nil if it never came).
        func exitCode(_ tag: String, within seconds: Double = 30) -> (screen: String, code: Int?) {
            let pattern = "\(tag)=([0-9]+)"
            let r = wait(seconds) { $0.range(of: pattern, options: .regularExpression) != nil }
            guard let range = r.screen.range(of: pattern, options: .regularExpression) else { return (r.screen, nil) }
            return (r.screen, Int(r.screen[range].dropFirst(tag.count + 1)))
        }
        private var commands = 0

        func resize(_ w: Int, _ h: Int) {
            EndToEndTUITests.run(tmux, ["-L", socket, "resize-window", "-t", "e2e", "-x", "\(w)", "-y", "\(h)"])
        }

        func screen(colors: Bool = false) -> String {
            EndToEndTUITests.run(tmux, ["-L", socket, "capture-pane", "-t", pane, "-p"] + (colors ? ["-e"] : [])).output
        }

        /// Polls the screen until `ok` holds; returns the last screen seen and whether it held.
        @discardableResult
        func wait(_ seconds: Double = 30, every: Double = 0.05, _ ok: (String) -> Bool) -> (screen: String, ok: Bool) {
            let end = Date().addingTimeInterval(seconds)
            var s = screen()
            while !ok(s) {
                if Date() > end { return (s, false) }
                Thread.sleep(forTimeInterval: every)
                s = screen()
            }
            return (s, true)
        }
    }

    func binary() throws -> (tmux: String, loratop: String) { try Self.tools() }

    /// tmux and the built loratop, or a skip saying which is missing.
    static func tools() throws -> (tmux: String, loratop: String) {
        guard let tmux = Self.which("tmux") else {
            throw XCTSkip("tmux is not installed (the setup script installs it: apt-get install tmux)")
        }
        let exe = Self.productsDirectory.appendingPathComponent("loratop").path
        guard FileManager.default.isExecutableFile(atPath: exe) else {
            throw XCTSkip("no built loratop next to the tests at \(exe) (run swift build first)")
        }
        return (tmux, exe)
    }

    /// The scenario, on any command line that starts the TUI with rank 8.
    func drive(_ command: String, tmux: String, requirePending: Bool, expectedExit: String?) throws {
        let t = try Tmux(tmux: tmux, width: 120, height: 40, directory: Self.repository.path)
        t.type(command + "; echo EXIT=$?")
        t.key("Enter")

        // The chart appears with braille dots and the planned steps on the x axis.
        let chart = t.wait { s in s.contains("Loss (nats/token)") && s.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) } }
        XCTAssertTrue(chart.ok, "no chart:\n\(chart.screen)")
        XCTAssertTrue(chart.screen.contains("Memory") && chart.screen.contains("Adapter"), chart.screen)

        // R: rank 8 → 16 pending, then applied (a marker and the status row say so).
        t.type("R")
        let pending = t.wait(10, every: 0.02) { $0.contains("8 → 16 (pending)") || $0.contains("r 8→16") }
        XCTAssertTrue(pending.ok, "R did nothing:\n\(pending.screen)")
        if requirePending {
            XCTAssertTrue(pending.screen.contains("rank      8 → 16 (pending)"), "pending not shown:\n\(pending.screen)")
        }
        let applied = t.wait { $0.contains("last change, step") && $0.contains("r 8→16") && $0.contains("rank      16 ") }
        XCTAssertTrue(applied.ok, "rank change not applied:\n\(applied.screen)")

        // ? shows the help generated from the key table; Esc closes it.
        t.type("?")
        let help = t.wait { $0.contains("keys — Esc closes") && $0.contains("rank ×2 (update unchanged)") }
        XCTAssertTrue(help.ok, "no help:\n\(help.screen)")
        t.key("Escape")
        XCTAssertTrue(t.wait { !$0.contains("keys — Esc closes") }.ok)

        // 80×24: chart + compact stats, nothing left over from the dashboard.
        t.resize(80, 24)
        let compact = t.wait { $0.contains("Loss (nats/token)") && $0.contains("tok/s") && !$0.contains("Throughput") }
        XCTAssertTrue(compact.ok, "80×24 not redrawn:\n\(compact.screen)")
        let rows = compact.screen.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertFalse(compact.screen.contains("Memory") || compact.screen.contains("Samples") || compact.screen.contains("Adapter"))
        XCTAssertEqual(rows.filter { $0.contains("Loss (nats/token)") }.count, 1)
        XCTAssertTrue(rows.contains { $0.contains("q quit") })

        // 30×8: only the "too small" message.
        t.resize(30, 8)
        let small = t.wait { $0.contains("too small") && !$0.contains("Loss") }
        XCTAssertTrue(small.ok, "30×8 not redrawn:\n\(small.screen)")
        XCTAssertFalse(small.screen.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) }, "chart garbage left")

        // Back to 120×40, quit, decline saving.
        t.resize(120, 40)
        XCTAssertTrue(t.wait { $0.contains("Throughput") }.ok)
        t.type("q")
        let prompt = t.wait { $0.contains("Quit?") && $0.contains("stop the run without saving") && $0.contains("detach") }
        XCTAssertTrue(prompt.ok, "no quit prompt:\n\(prompt.screen)")
        t.type("n")
        let exited = t.wait(60) { $0.range(of: "EXIT=[0-9]", options: .regularExpression) != nil }  // the step finishes first
        XCTAssertTrue(exited.ok, "did not exit:\n\(exited.screen)")
        if let code = expectedExit { XCTAssertTrue(exited.screen.contains("EXIT=\(code)"), exited.screen) }

        // The terminal is sane: echo and canonical mode restored.
        t.type("stty -a | tr ' ;' '\\n\\n' | grep -E '^-?(echo|icanon|isig)$' | tr '\\n' ' '; echo STTY-DONE")
        t.key("Enter")
        let stty = t.wait { $0.components(separatedBy: "STTY-DONE").count >= 3 }
        XCTAssertTrue(stty.ok, stty.screen)
        let line = stty.screen.split(separator: "\n").last { $0.contains("STTY-DONE") && !$0.contains("grep") } ?? ""
        let flags = Set(line.split(separator: " ").map(String.init))
        XCTAssertTrue(flags.isSuperset(of: ["echo", "icanon", "isig"]), "terminal not restored: \(line)")
        XCTAssertTrue(flags.isDisjoint(with: ["-echo", "-icanon", "-isig"]), "terminal not restored: \(line)")
        // Typed text echoes again.
        t.type("echo typed-back")
        XCTAssertTrue(t.wait(5) { $0.contains("$ echo typed-back") }.ok)
        t.key("Enter")
    }

    /// A random model of SmolLM2-135M's shape (no download): steps take seconds, so the pending state of `R` is seen
    /// every time before the engine applies it at the next step boundary.
    func testTrainWithSlowStepsShowsPendingThenApplied() throws {
        let (tmux, exe) = try binary()
        let out = NSTemporaryDirectory() + "loratop-e2e-slow-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try drive("\(exe) train --preset smollm2-135m --data sample-data/logbook.txt --max-steps 1000000 --seq-len 64 "
                  + "--batch-size 2 --no-save --output \(out)", tmux: tmux, requirePending: true, expectedExit: "0")
    }

    /// d detaches within a second and the run goes on; `loratop ls` lists it; `loratop attach` shows the whole curve;
    /// a second viewer in another pane presses R and both viewers show it pending, then applied at the same step.
    func testDetachListAttachAndASecondViewer() throws {
        let (tmux, exe) = try binary()
        let out = NSTemporaryDirectory() + "loratop-e2e-detach-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let t = try Tmux(tmux: tmux, width: 120, height: 40, directory: Self.repository.path)
        t.type("\(exe) train --preset smollm2-135m --data sample-data/logbook.txt --max-steps 1000000 --seq-len 64 "
               + "--batch-size 2 --no-save --output \(out); echo EXIT=$?")
        t.key("Enter")
        XCTAssertTrue(t.wait(60) { $0.contains("Loss (nats/token)") && $0.contains("RUNNING") }.ok, t.screen())
        t.type("d")
        let detached = t.wait(1.0, every: 0.02) { $0.contains("detached from run") && $0.contains("EXIT=0") }
        XCTAssertTrue(detached.ok, "d did not return to the shell within a second:\n\(detached.screen)")
        let entry = try XCTUnwrap(TestRuntime.newestEntry { $0.isLive })
        XCTAssertTrue(kill(entry.run.pid, 0) == 0, "the run went away with its viewer")

        t.type("clear; \(exe) ls"); t.key("Enter")
        let listed = t.wait { $0.contains(entry.run.id) && $0.contains("running") && $0.contains(out) }
        XCTAssertTrue(listed.ok, listed.screen)

        t.type("clear; \(exe) attach"); t.key("Enter")
        let attached = t.wait(30) { $0.contains("Loss (nats/token)") && $0.contains("RUNNING") }
        XCTAssertTrue(attached.ok, attached.screen)
        XCTAssertTrue(attached.screen.contains("rank      8 "), attached.screen)

        let second = t.on(t.split())
        second.type("\(exe) attach \(entry.run.id)"); second.key("Enter")
        XCTAssertTrue(second.wait(30) { $0.contains("Loss (nats") }.ok, second.screen())
        second.type("R")
        let pendingHere = second.wait(10, every: 0.02) { $0.contains("8 → 16 (pending)") }
        let pendingThere = t.wait(10, every: 0.02) { $0.contains("8 → 16 (pending)") }
        XCTAssertTrue(pendingHere.ok, "the sender's pane: \(pendingHere.screen)")
        XCTAssertTrue(pendingThere.ok, "the other viewer did not see it pending: \(pendingThere.screen)")
        let appliedHere = second.wait(60) { $0.contains("r 8→16") && $0.contains("last change, step") }
        let appliedThere = t.wait(60) { $0.contains("r 8→16") && $0.contains("last change, step") }
        XCTAssertTrue(appliedHere.ok && appliedThere.ok, "\(appliedHere.screen)\n\(appliedThere.screen)")
        func changeStep(_ screen: String) -> String? {
            screen.range(of: "last change, step [0-9]+", options: .regularExpression).map { String(screen[$0]) }
        }
        XCTAssertEqual(changeStep(appliedHere.screen), changeStep(appliedThere.screen), "both viewers show the same step")
    }

    /// Start-up errors of the detached run (a bad data file) and bad flags still appear in the terminal, and the
    /// command exits non-zero; no run is left behind.
    func testStartUpErrorsReachTheTerminal() throws {
        let (tmux, exe) = try binary()
        let t = try Tmux(tmux: tmux, width: 120, height: 30, directory: Self.repository.path)
        let out = NSTemporaryDirectory() + "loratop-e2e-bad-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        let bad = t.exitCode(t.start("\(exe) train --preset tiny --data /nonexistent/data.jsonl --output \(out)"))
        XCTAssertTrue(bad.screen.contains("/nonexistent/data.jsonl") && bad.screen.contains("error:"), bad.screen)
        XCTAssertNotNil(bad.code, bad.screen)
        XCTAssertNotEqual(bad.code, 0, bad.screen)
        let flag = t.exitCode(t.start("clear; \(exe) train --preset tiny --data sample-data/logbook.txt --rank 0 --output \(out)"))
        XCTAssertTrue(flag.screen.contains("expected 1…4096, found 0"), flag.screen)
        XCTAssertNotNil(flag.code, flag.screen)
        XCTAssertNotEqual(flag.code, 0, flag.screen)
        XCTAssertTrue(TestRuntime.livePIDs().filter { kill($0, 0) == 0 }.isEmpty, "a run was left behind")
    }

    /// A terminal curses cannot draw on (TERM=dumb, or a type terminfo does not know) runs headless with a line
    /// saying why, instead of a blank or garbled screen; the run trains to its end and exits 0.
    func testDumbOrUnknownTerminalRunsHeadlessWithAReason() throws {
        let (tmux, exe) = try binary()
        let t = try Tmux(tmux: tmux, width: 120, height: 30, directory: Self.repository.path)
        for (term, why) in [("dumb", "TERM=dumb cannot show a full-screen display"),
                            ("no-such-terminal", "terminfo has no entry for TERM=no-such-terminal")] {
            let out = NSTemporaryDirectory() + "loratop-e2e-dumb-\(getpid())-\(term)"
            defer { try? FileManager.default.removeItem(atPath: out) }
            let done = t.exitCode(t.start("clear; TERM=\(term) \(exe) train --preset tiny --data sample-data/logbook.txt "
                                          + "--seq-len 32 --batch-size 2 --max-steps 3 --threads 1 --output \(out)"), within: 60)
            XCTAssertTrue(done.screen.contains(why + ": running headless"), done.screen)
            XCTAssertTrue(done.screen.contains("step 3/3"), done.screen)
            XCTAssertEqual(done.code, 0, done.screen)
        }
        XCTAssertTrue(TestRuntime.livePIDs().filter { kill($0, 0) == 0 }.isEmpty, "a run was left behind")
    }

    /// `--foreground` (the run and its UI in one process): SIGTERM to it saves a checkpoint, restores the terminal and
    /// exits 143, 20 times of 20.
    func testForegroundRunSavesAndExits143OnSIGTERM() throws {
        let (tmux, exe) = try binary()
        let t = try Tmux(tmux: tmux, width: 100, height: 30, directory: Self.repository.path)
        for i in 0..<20 {
            let out = NSTemporaryDirectory() + "loratop-e2e-fg-\(getpid())-\(i)"
            defer { try? FileManager.default.removeItem(atPath: out) }
            let tag = t.start("clear; \(exe) train --foreground --preset tiny --data sample-data/logbook.txt --max-steps 1000000 "
                              + "--seq-len 32 --batch-size 2 --threads 1 --output \(out)")
            XCTAssertTrue(t.wait(30) { $0.contains("Loss (nats/token)") && $0.contains("RUNNING") }.ok, "#\(i): \(t.screen())")
            let entry = try XCTUnwrap(TestRuntime.newestEntry { $0.run.output == out && $0.isLive }, "#\(i)")
            XCTAssertEqual(entry.run.mode, "foreground")
            kill(entry.run.pid, SIGTERM)
            let done = t.exitCode(tag)
            XCTAssertEqual(done.code, 143, "#\(i): \(done.screen)")
            XCTAssertFalse(Checkpoint.list(outputDir: out).isEmpty, "#\(i): no checkpoint")
            XCTAssertFalse(done.screen.contains("Loss (nats/token)"), "#\(i): the dashboard was left on the screen")
        }
    }

    /// The real trainer on the tiny random model at full speed.
    func testTrainInTmuxAt120x40() throws {
        let (tmux, exe) = try binary()
        // logbook.txt (plain text) fits 32-token windows; the chat file's prompts do not. Enough steps to outlast the test.
        let out = NSTemporaryDirectory() + "loratop-e2e-train-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try drive("\(exe) train --preset tiny --data sample-data/logbook.txt --max-steps 1000000 --seq-len 32 --batch-size 2 --output \(out)",
                  tmux: tmux, requirePending: false, expectedExit: "0")
    }
}
