import Foundation
import RunLink
import XCTest

/// A real sshd on 127.0.0.1 (its own config, port and keys), the terminal UI inside `ssh -tt`, and the ssh client
/// killed mid-run — 20 times, because the races this guards against showed only across many starts. Every time the
/// run keeps training with no step lost or repeated, the viewer is gone, and a new ssh session can attach to it.
/// The same for a headless run on the ssh terminal and for `nohup … &`. Skips when OpenSSH is not installed.
final class SSHDropTests: XCTestCase {
    private var dir = ""
    private var sshdPID: pid_t = 0
    private var port = 0
    private var children: [pid_t] = []

    override func setUpWithError() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd"), EndToEndTUITests.which("ssh") != nil,
              EndToEndTUITests.which("ssh-keygen") != nil else {
            throw XCTSkip("OpenSSH is not installed (the setup script installs openssh-server and openssh-client)")
        }
        setenv("XDG_RUNTIME_DIR", TestRuntime.folder, 1)
        dir = NSTemporaryDirectory() + "lt-sshd-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let keygen = try XCTUnwrap(EndToEndTUITests.which("ssh-keygen"))
        for key in ["hostkey", "id"] {
            let r = EndToEndTUITests.run(keygen, ["-q", "-t", "ed25519", "-N", "", "-f", "\(dir)/\(key)"])
            XCTAssertEqual(r.status, 0, r.output)
        }
        try FileManager.default.copyItem(atPath: "\(dir)/id.pub", toPath: "\(dir)/authorized_keys")
        port = try Self.freePort()
        try """
        Port \(port)
        ListenAddress 127.0.0.1
        HostKey \(dir)/hostkey
        PidFile \(dir)/sshd.pid
        AuthorizedKeysFile \(dir)/authorized_keys
        StrictModes no
        PermitRootLogin yes
        PubkeyAuthentication yes
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        UsePAM no
        PrintMotd no
        PrintLastLog no

        """.write(toFile: "\(dir)/sshd_config", atomically: true, encoding: .utf8)
        mkdir("/run/sshd", 0o755)
        sshdPID = try spawn("/usr/sbin/sshd", ["-D", "-e", "-f", "\(dir)/sshd_config"], stdout: "\(dir)/sshd.log")
        let deadline = Date().addingTimeInterval(10)
        while !Self.accepts(port) {
            guard Date() < deadline, kill(sshdPID, 0) == 0 else {
                throw XCTSkip("sshd did not start: \((try? String(contentsOfFile: "\(dir)/sshd.log", encoding: .utf8)) ?? "")")
            }
            usleep(50_000)
        }
    }

    override func tearDown() {
        for p in children where kill(p, 0) == 0 { kill(p, SIGKILL) }
        for p in children { var st: Int32 = 0; waitpid(p, &st, 0) }
        TestRuntime.endLiveRuns()
        if sshdPID > 0 {
            kill(sshdPID, SIGTERM)
            var st: Int32 = 0
            waitpid(sshdPID, &st, 0)
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
        }
        guard ok else { throw XCTSkip("no free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: addr.sin_port))
    }

    static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// Starts a program: stdin from a pipe we keep open (returned), stdout and stderr to a file.
    @discardableResult
    private func spawn(_ exe: String, _ args: [String], stdout: String, stdin: UnsafeMutablePointer<Int32>? = nil) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        posix_spawn_file_actions_adddup2(&actions, fds[0], 0)
        posix_spawn_file_actions_addclose(&actions, fds[1])
        posix_spawn_file_actions_addopen(&actions, 1, stdout, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([exe] + args).map { (s: String) in strdup(s) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, nil, argv, environ)
        close(fds[0])
        if let stdin { stdin.pointee = fds[1] } else { close(fds[1]) }
        guard rc == 0 else { throw XCTSkip("cannot start \(exe)") }
        children.append(pid)
        return pid
    }

    private var sshArgs: [String] {
        ["-i", "\(dir)/id", "-p", "\(port)", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1"]
    }

    /// The remote command: in the repository, with the test's runtime folder, on an xterm.
    private func remote(_ loratopArgs: String, prefix: String = "exec") -> String {
        let exe = EndToEndTUITests.productsDirectory.appendingPathComponent("loratop").path
        return "cd \(EndToEndTUITests.repository.path) && \(prefix) env XDG_RUNTIME_DIR=\(TestRuntime.folder) TERM=xterm-256color "
            + "LANG=C.UTF-8 LC_ALL=C.UTF-8 \(exe) \(loratopArgs)"
    }

    private func trainArgs(_ out: String, extra: String = "") -> String {
        "train --preset tiny --data sample-data/logbook.txt --seq-len 32 --batch-size 2 --max-steps 1000000 --threads 1 "
            + "--output \(out) \(extra)"
    }

    private func metricsSteps(_ out: String) -> [Int] {
        let text = (try? String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line -> Int? in
            guard line.contains("\"type\":\"step\""), let r = line.range(of: "\"step\":") else { return nil }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }
    }

    /// Pids of processes whose command line contains `needle` (and not `unless`).
    static func pids(containing needle: String, unless: String? = nil) -> [pid_t] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { pid_t($0) }.filter { pid in
            guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            let cmd = String(decoding: raw.map { $0 == 0 ? 32 : $0 }, as: UTF8.self)
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), !stat.contains(") Z ") else { return false }
            return cmd.contains(needle) && !(unless.map { cmd.contains($0) } ?? false) && !cmd.contains("ssh ")
        }
    }

    private func wait(_ seconds: Double, _ ok: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while !ok() {
            if Date() > deadline { return false }
            usleep(20_000)
        }
        return true
    }

    /// Drops the connection of a run watched over ssh -tt; checks it goes on; returns its registry entry.
    private func dropAndCheck(_ out: String, command: String, screen: String, expectViewer: Bool) throws -> RegistryEntry {
        let ssh = try XCTUnwrap(EndToEndTUITests.which("ssh"))
        var input: Int32 = -1
        let client = try spawn(ssh, ["-tt"] + sshArgs + [command], stdout: screen, stdin: &input)
        defer { if input >= 0 { close(input) } }
        let normalized = URL(fileURLWithPath: out).standardizedFileURL.path
        let entry = try XCTUnwrap(TestRuntime.newestEntry(timeout: 60) { $0.run.output == normalized && $0.isLive },
                                  "the run did not start: \((try? String(contentsOfFile: screen, encoding: .utf8)) ?? "")")
        XCTAssertTrue(wait(30) { (metricsSteps(out).last ?? 0) >= 3 })
        if expectViewer {
            XCTAssertTrue(wait(30) { ((try? String(contentsOfFile: screen, encoding: .isoLatin1)) ?? "").contains("Loss (nats/token)") },
                          "the UI did not draw through ssh")
        }
        kill(client, SIGKILL)  // the connection drops: sshd hangs up the remote terminal
        var st: Int32 = 0
        waitpid(client, &st, 0)
        let atDrop = metricsSteps(out).last ?? 0
        XCTAssertTrue(wait(10) { Self.pids(containing: "--output \(out)", unless: "--serve-detached").filter { $0 != entry.run.pid }.isEmpty },
                      "a viewer process was left behind")
        XCTAssertTrue(wait(10) { (metricsSteps(out).last ?? 0) >= atDrop + 20 }, "the run stopped advancing after the drop")
        XCTAssertEqual(kill(entry.run.pid, 0), 0, "the run died with the connection")
        let steps = metricsSteps(out)
        XCTAssertEqual(steps, Array(1...(steps.last ?? 1)), "a step was lost or repeated")
        return entry
    }

    func testTwentyDropsOfTheTerminalUI() throws {
        for i in 0..<20 {
            let out = dir + "/run\(i)"
            let entry = try dropAndCheck(out, command: remote(trainArgs(out)), screen: "\(dir)/screen\(i)", expectViewer: true)
            if i == 0 {
                // A new ssh session attaches to it and draws (read through a tmux pane).
                let tmux = try XCTUnwrap(EndToEndTUITests.which("tmux"))
                let t = try EndToEndTUITests.Tmux(tmux: tmux, width: 120, height: 40, directory: dir)
                t.type("ssh -tt " + sshArgs.map(shellWord).joined(separator: " ") + " " + shellWord(remote("attach \(entry.run.id)")))
                t.key("Enter")
                let seen = t.wait(30) { $0.contains("Loss (nats/token)") && $0.contains("RUNNING") }
                XCTAssertTrue(seen.ok, "attach over a new ssh session:\n\(seen.screen)")
                t.type("d")
                XCTAssertTrue(t.wait(10) { $0.contains("detached from run \(entry.run.id)") }.ok)
            }
            XCTAssertEqual(EndToEndTUITests.run(try BinaryRunner.binary().path, ["stop", "--no-save", entry.run.id]).status, 0)
            XCTAssertTrue(wait(10) { kill(entry.run.pid, 0) != 0 })
        }
    }

    /// `loratop attach ssh://root@127.0.0.1:PORT/ID` draws here from the protocol relayed by the remote
    /// `attach --stdio`; keys go back the same way; d detaches and the run goes on.
    func testRemoteAttachOverSSH() throws {
        let out = dir + "/remote"
        let exe = EndToEndTUITests.productsDirectory.appendingPathComponent("loratop").path
        let run = try BinaryRunner(["train", "--preset", "smollm2-135m", "--data", "sample-data/logbook.txt", "--seq-len", "64",
                                    "--batch-size", "2", "--max-steps", "100000", "--no-save", "--output", out, "--headless"])
        defer { if run.process.isRunning { kill(run.process.processIdentifier, SIGKILL) } }
        let normalized = URL(fileURLWithPath: out).standardizedFileURL.path
        let entry = try XCTUnwrap(TestRuntime.newestEntry(timeout: 60) { $0.run.output == normalized && $0.isLive })
        // ssh as a user would have it configured: a wrapper with this sshd's key and options.
        let wrapper = dir + "/ssh-here"
        try ("#!/bin/sh\nexec ssh " + sshArgs.dropLast().map(shellWord).joined(separator: " ") + " \"$@\"\n")
            .write(toFile: wrapper, atomically: true, encoding: .utf8)
        chmod(wrapper, 0o755)
        let tmux = try XCTUnwrap(EndToEndTUITests.which("tmux"))
        let t = try EndToEndTUITests.Tmux(tmux: tmux, width: 120, height: 40, directory: dir)
        t.type("\(exe) attach --ssh \(wrapper) --remote-loratop 'env XDG_RUNTIME_DIR=\(TestRuntime.folder) \(exe)' "
               + "ssh://root@127.0.0.1:\(port)/\(entry.run.id); echo EXIT=$?")
        t.key("Enter")
        let seen = t.wait(60) { $0.contains("Loss (nats/token)") && $0.contains("RUNNING") }
        XCTAssertTrue(seen.ok, "remote attach did not draw:\n\(seen.screen)")
        t.type("R")
        XCTAssertTrue(t.wait(60) { $0.contains("r 8→16") && $0.contains("last change, step") }.ok, t.screen())
        t.type("d")
        let left = t.wait(10) { $0.contains("detached from run \(entry.run.id)@") && $0.contains("EXIT=0") }
        XCTAssertTrue(left.ok, left.screen)
        XCTAssertTrue(run.process.isRunning, "the run went away with the remote viewer")
        XCTAssertTrue(wait(10) { Self.pids(containing: "attach --stdio \(entry.run.id)").isEmpty }, "the remote relay was left behind")
        kill(run.process.processIdentifier, SIGTERM)
        XCTAssertEqual(try run.waitForExit(), 143)
    }

    /// Ctrl-Z under `ssh -tt host cmd` (no shell, so no job control): the viewer says so and keeps drawing; nothing
    /// is stopped that nobody could continue.
    func testCtrlZWithoutJobControlFreezesNothing() throws {
        let out = dir + "/ctrlz"
        let ssh = try XCTUnwrap(EndToEndTUITests.which("ssh"))
        var input: Int32 = -1
        let screen = "\(dir)/ctrlz.screen"
        let client = try spawn(ssh, ["-tt"] + sshArgs + [remote(trainArgs(out))], stdout: screen, stdin: &input)
        defer { if input >= 0 { close(input) } }
        let normalized = URL(fileURLWithPath: out).standardizedFileURL.path
        let entry = try XCTUnwrap(TestRuntime.newestEntry(timeout: 60) { $0.run.output == normalized && $0.isLive })
        XCTAssertTrue(wait(30) { ((try? String(contentsOfFile: screen, encoding: .isoLatin1)) ?? "").contains("Loss (nats/token)") })
        _ = UnixSocket.writeAll(input, [0x1a])  // Ctrl-Z, typed into the remote terminal
        XCTAssertTrue(wait(10) { ((try? String(contentsOfFile: screen, encoding: .isoLatin1)) ?? "").contains("no job control here") },
                      "the viewer did not say why it did not suspend")
        let viewers = Self.pids(containing: "--output \(out)", unless: "--serve-detached").filter { $0 != entry.run.pid }
        XCTAssertEqual(viewers.count, 1)
        for v in viewers {
            let stat = (try? String(contentsOfFile: "/proc/\(v)/stat", encoding: .utf8)) ?? ""
            XCTAssertFalse(stat.contains(") T "), "the viewer was stopped: \(stat)")
        }
        let n = metricsSteps(out).last ?? 0
        XCTAssertTrue(wait(10) { (metricsSteps(out).last ?? 0) > n + 10 }, "the run froze")
        kill(client, SIGKILL)
        var st: Int32 = 0
        waitpid(client, &st, 0)
        XCTAssertEqual(EndToEndTUITests.run(try BinaryRunner.binary().path, ["stop", "--no-save", entry.run.id]).status, 0)
    }

    func testDropOfAHeadlessRunOnTheSSHTerminal() throws {
        let out = dir + "/headless"
        let entry = try dropAndCheck(out, command: remote(trainArgs(out, extra: "--headless")), screen: "\(dir)/headless.out",
                                     expectViewer: false)
        XCTAssertEqual(EndToEndTUITests.run(try BinaryRunner.binary().path, ["stop", entry.run.id]).status, 0)
        XCTAssertTrue(wait(10) { kill(entry.run.pid, 0) != 0 })
    }

    func testNohupInBackgroundOverSSH() throws {
        let out = dir + "/nohup"
        // As typed in an interactive shell that is still there when the connection drops.
        let command = remote(trainArgs(out, extra: "--headless") + " > \(dir)/nohup.out 2>&1 < /dev/null & sleep 100000", prefix: "nohup")
        let entry = try dropAndCheck(out, command: command, screen: "\(dir)/nohup.screen", expectViewer: false)
        XCTAssertEqual(EndToEndTUITests.run(try BinaryRunner.binary().path, ["stop", entry.run.id]).status, 0)
        XCTAssertTrue(wait(10) { kill(entry.run.pid, 0) != 0 })
    }
}

/// A word quoted for the shell.
private func shellWord(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
