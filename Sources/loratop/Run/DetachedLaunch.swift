import CPosix
import Foundation
import LoRAKit
import RunLink
#if canImport(Glibc)
import Glibc
#endif

/// `loratop train` in a terminal: starts the run as a process of its own (a new session with no terminal; stdin from
/// /dev/null, stdout and stderr appended to OUTPUT/run.log), shows its loading notes and start-up errors here (exiting
/// non-zero on them), then attaches the terminal UI to it. Leaving the UI (d, a lost SSH connection) leaves the run.
struct DetachedLaunch {
    let train: Train
    let options: RunOptions

    /// Launches, attaches, and returns this process's exit code.
    func run() throws -> Int32 {
        let output = URL(fileURLWithPath: options.output).standardizedFileURL.path
        try RunHost.checkWritable(output)
        let logPath = output + "/run.log"
        let child = try spawn(logPath: logPath)
        // Ctrl-C (or SIGTERM) while it loads cancels the launch: the run is ended too, not left behind. A hang-up is a
        // detach like any other: the run loads and trains on, and `loratop attach` finds it.
        ProcessSignals.shared.handle { sig in
            if sig == SIGTSTP { return }
            if sig != SIGHUP { kill(child.pid, SIGTERM) }
            _exit(128 + sig)
        }
        let ready: (id: String, socket: String)
        do {
            ready = try waitUntilReady(child, logPath: logPath)
        } catch let e as LaunchFailure {
            ProcessSignals.shared.handle(nil)
            Output.err("loratop: \(e.message)\n")
            return e.code
        }
        ProcessSignals.shared.handle(nil)

        let client = try RunClient.connect(path: ready.socket)
        try client.attach(readOnly: false, client: "tui")
        let exit = try runTerminalApp(client: client, options: train.appOptions(model: options.model, data: options.data),
                                      policy: .detachedRun)
        let last = client.latest.snapshot
        client.close()
        Output.err(Ending.lines(exit, id: ready.id, snapshot: last, output: output, model: options.model).joined(separator: "\n") + "\n")
        // Reap the run if it has already ended (it is our child until we exit).
        var status: Int32 = 0
        _ = waitpid(child.pid, &status, WNOHANG)
        switch exit {
        case .signal(let sig): return 128 + sig
        case .disconnected: return last.status == .finished ? 0 : 1
        case .finished: if case .failed = last.status { return 1 } else { return 0 }
        default: return 0
        }
    }

    struct Child {
        var pid: pid_t
        var readyFD: Int32
    }

    struct LaunchFailure: Error {
        var message: String
        var code: Int32
    }

    /// Spawns `loratop <same arguments> --serve-detached` in a new session.
    private func spawn(logPath: String) throws -> Child {
        let logFD = open(logPath, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard logFD >= 0 else {
            throw FileError(path: logPath, message: "cannot open the run log: \(String(cString: strerror(errno)))", hint: "choose another --output")
        }
        defer { close(logFD) }
        var fds: [Int32] = [0, 0]
        guard cposix_pipe_cloexec(&fds) == 0 else { throw LinkError("cannot create a pipe: \(String(cString: strerror(errno)))") }
        let (readEnd, writeEnd) = (fds[0], fds[1])
        defer { close(writeEnd) }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, logFD, 1)
        posix_spawn_file_actions_adddup2(&actions, logFD, 2)
        posix_spawn_file_actions_adddup2(&actions, writeEnd, 3)
        cposix_spawn_closefrom(&actions, 4)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        ProcessSignals.childAttributes(&attr, newSession: true)

        let exe = Self.executablePath()
        let args = [exe] + Array(CommandLine.arguments.dropFirst()) + ["--serve-detached"]
        var env = ProcessInfo.processInfo.environment
        env["LORATOP_READY_FD"] = "3"
        let stamp = ISO8601DateFormatter().string(from: Date())
        _ = Output.write("\n==== \(stamp) loratop \(args.dropFirst().joined(separator: " "))\n", to: logFD)
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for a in argv { free(a) }
            for e in envp { free(e) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, exe, &actions, &attr, argv, envp)
        guard rc == 0 else {
            close(readEnd)
            throw LinkError("cannot start the run process \(exe): \(String(cString: strerror(rc)))")
        }
        return Child(pid: pid, readyFD: readEnd)
    }

    /// This program's own path (what /proc/self/exe points to).
    static func executablePath() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buf, buf.count - 1)
        if n > 0 { return String(cString: Array(buf[0..<n]) + [0]) }
        return CommandLine.arguments.first ?? "loratop"
    }

    /// Relays the run's notes until it says ready (or fails, or exits).
    private func waitUntilReady(_ child: Child, logPath: String) throws -> (id: String, socket: String) {
        defer { close(child.readyFD) }
        var framer = LineFramer(limit: 1 << 16)
        var chunk = [UInt8](repeating: 0, count: 4096)
        var failure: String?
        while true {
            let n = chunk.withUnsafeMutableBytes { read(child.readyFD, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            for out in framer.feed(chunk[0..<n]) {
                guard case .line(let bytes) = out else { continue }
                let line = String(decoding: bytes, as: UTF8.self)
                if line.hasPrefix("note ") {
                    Output.err("loratop: \(line.dropFirst(5))\n")
                } else if line.hasPrefix("error ") {
                    failure = String(line.dropFirst(6))
                } else if line.hasPrefix("ready ") {
                    let parts = line.split(separator: " ", maxSplits: 2).map(String.init)
                    if parts.count == 3 { return (parts[1], parts[2]) }
                }
            }
        }
        var status: Int32 = 0
        while waitpid(child.pid, &status, 0) < 0 && errno == EINTR {}
        let code: Int32 = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let why = failure.map { "error: \($0)" } ?? "the run process ended (status \(code)) before it was ready"
        throw LaunchFailure(message: why + " (the run's log: \(logPath))", code: code == 0 ? 1 : code)
    }
}

/// What the terminal gets when a viewer ends: where the run and its adapter are, and the commands that go on from there.
enum Ending {
    static func lines(_ exit: AppExit, id: String, snapshot s: Snapshot, output: String, model: String) -> [String] {
        var out: [String] = []
        let adapter = s.lastCheckpoint ?? Checkpoint.list(outputDir: output).last?.path
        switch exit {
        case .detached, .signal:
            out.append("loratop: detached from run \(id) (\(s.status.label), step \(s.step)/\(s.totalSteps)); it goes on.")
            out.append("  watch again:  loratop attach \(id)")
            out.append("  stop it:      loratop stop \(id)")
        case .quit(let saved):
            out.append("loratop: run \(id) stopped at step \(s.step)/\(s.totalSteps)" + (saved ? ", checkpoint saved." : "."))
        case .finished:
            out.append("loratop: run \(id) \(s.status.label) at step \(s.step)/\(s.totalSteps).")
        case .disconnected(let why):
            out.append("loratop: run \(id): \(why) (\(s.status.label), step \(s.step)/\(s.totalSteps)).")
        }
        if let adapter {
            out.append("  adapter:      \(adapter)")
            if exit != .detached {
                out.append("  resume:       loratop resume \(output)")
                out.append("  generate:     loratop generate --model \(model) --adapter \(adapter) --prompt \"…\"")
                out.append("  export:       loratop export --model \(model) --adapter \(adapter) --format peft --out ADAPTER_DIR")
            }
        }
        return out
    }
}
