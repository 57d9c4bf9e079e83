import ArgumentParser
import CPosix
import Foundation
import LoRAKit
import RunLink
#if canImport(Glibc)
import Glibc
#endif

/// `loratop attach [ID|FOLDER|HOST:ID|ssh://user@host:port/ID]`: watch (and steer) a run from this terminal.
struct Attach: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Attach the terminal UI to a running training run (the newest live one when none is given).",
        discussion: """
        TARGET is a run id (or a unique prefix), a run's output folder, HOST:ID, or ssh://[user@]host[:port]/ID. \
        A remote target runs `ssh HOST loratop attach --stdio ID` and draws here: only protocol messages cross the \
        network. ssh's own configuration applies (jump hosts, keys, ports). d detaches; q asks before stopping the run.
        """)

    @Argument(help: "Run id, output folder, HOST:ID or ssh://[user@]host[:port]/ID (default: the newest live run).")
    var target: String?
    @Flag(name: .customLong("read-only"), help: "Watch only: keys that would change the run are not sent.")
    var readOnly = false
    @Flag(help: "Relay the run's protocol on stdin/stdout instead of drawing (what a remote attach runs over ssh).")
    var stdio = false
    @Option(name: .customLong("ssh"), help: "The ssh program for remote targets [ssh].")
    var sshProgram = "ssh"
    @Option(name: .customLong("remote-loratop"), help: "The loratop command on the remote host, as a shell command [loratop, or $LORATOP_REMOTE].")
    var remoteLoratop = ProcessInfo.processInfo.environment["LORATOP_REMOTE"] ?? "loratop"
    @Option(help: "Theme name.") var theme: String?
    @Option(name: .customLong("themes-dir"), help: "Extra folder of *.theme files, searched first.") var themesDir: String?
    @Option(help: "Frame cap of the UI [10].") var fps: Int?
    @Flag(help: "ASCII glyphs only.") var ascii = false

    func validate() throws {
        if let f = fps, !(1...60).contains(f) { throw ValidationError("--fps: expected 1…60, found \(f)") }
    }

    func run() throws {
        if let remote = RemoteTarget(target), !stdio {
            throw ExitCode(try attachRemote(remote))
        }
        let entry = try RunRegistry().find(target)
        guard entry.isLive else {
            throw LinkError("run \(entry.run.id) has \(entry.progress.status == "lost" ? "died" : "ended") (\(entry.progress.status) at step \(entry.progress.step)/\(entry.progress.totalSteps))",
                            hint: "`loratop resume \(entry.run.output)` continues it")
        }
        if stdio {
            throw ExitCode(try StdioRelay.run(socket: entry.socket))
        }
        let client = try RunClient.connect(path: entry.socket)
        throw ExitCode(try view(client, id: entry.run.id, output: entry.run.output, model: entry.run.model, data: entry.run.data))
    }

    /// Runs the UI on a connected client and prints how it ended.
    func view(_ client: RunClient, id: String, output: String, model: String, data: String) throws -> Int32 {
        try client.attach(readOnly: readOnly, client: "loratop attach")
        let app = AppOptions(themesDir: themesDir, theme: theme, fps: fps, ascii: ascii, model: model, data: data)
        let exit = try runTerminalApp(client: client, options: app, policy: .detachedRun, readOnly: readOnly)
        let last = client.latest.snapshot
        client.close()
        Output.err(Ending.lines(exit, id: id, snapshot: last, output: output, model: model).joined(separator: "\n") + "\n")
        if case .signal(let sig) = exit { return 128 + sig }
        return 0
    }

    /// `ssh HOST loratop attach --stdio ID`, drawn here.
    func attachRemote(_ remote: RemoteTarget) throws -> Int32 {
        let ssh = try SSHProcess.start(program: sshProgram, target: remote,
                                       command: [remoteLoratop, "attach", "--stdio"] + (remote.id.map { [$0] } ?? []))
        defer { ssh.end() }
        let client = RunClient(readFD: ssh.output, writeFD: ssh.input, owns: false)
        let hello: HelloMessage
        do {
            hello = try client.readHello(timeout: 60)  // time for a password or host-key prompt on the terminal
        } catch {
            throw LinkError("\(remote.display): \(error)", hint: "try `\(sshProgram) \(remote.host) \(remoteLoratop) ls` by hand")
        }
        return try view(client, id: hello.run.id + "@" + remote.host, output: hello.run.output, model: hello.run.model,
                        data: hello.run.data)
    }
}

/// A run on another machine: HOST:ID or ssh://[user@]host[:port]/ID.
struct RemoteTarget: Equatable {
    /// user@host or host (as ssh takes it).
    var host: String
    var port: Int?
    /// The run id there (nil = its newest live run).
    var id: String?

    /// How it was written.
    var display: String { host + (port.map { ":\($0)" } ?? "") + "/" + (id ?? "") }

    /// Parses a target; nil for a local id or folder.
    init?(_ text: String?) {
        guard let text, !text.isEmpty else { return nil }
        if text.hasPrefix("ssh://") {
            guard let url = URLComponents(string: text), let h = url.host, !h.isEmpty else { return nil }
            host = (url.user.map { $0 + "@" } ?? "") + h
            port = url.port
            let path = url.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            id = path.isEmpty ? nil : path
            return
        }
        guard !FileManager.default.fileExists(atPath: text), let colon = text.firstIndex(of: ":"),
              !text[..<colon].contains("/"), colon != text.startIndex else { return nil }
        host = String(text[..<colon])
        let rest = String(text[text.index(after: colon)...])
        id = rest.isEmpty ? nil : rest
    }
}

/// The ssh child of a remote attach: its stdin and stdout are ours (the protocol), its stderr is the terminal's (so
/// prompts and errors show). Ended by pid when the viewer leaves.
struct SSHProcess {
    let pid: pid_t
    /// We write here (ssh's stdin).
    let input: Int32
    /// We read here (ssh's stdout).
    let output: Int32

    static func start(program: String, target: RemoteTarget, command: [String]) throws -> SSHProcess {
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard cposix_pipe_cloexec(&toChild) == 0, cposix_pipe_cloexec(&fromChild) == 0 else {
            throw LinkError("cannot create pipes for ssh: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        ProcessSignals.childAttributes(&attr, newSession: false)
        // The first word is the remote loratop as the user wrote it (it may be `env VAR=… /path/loratop`).
        let remote = ([command.first ?? "loratop"] + command.dropFirst().map(shellQuoted)).joined(separator: " ")
        let args = [program, "-T", "-o", "ServerAliveInterval=15"] + (target.port.map { ["-p", String($0)] } ?? [])
            + [target.host, "--", remote]
        let argv: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, program, &actions, &attr, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw LinkError("cannot run \(program): \(String(cString: strerror(rc)))", hint: "is OpenSSH's client installed?")
        }
        return SSHProcess(pid: pid, input: toChild[1], output: fromChild[0])
    }

    /// Closes the pipes, ends ssh and reaps it.
    func end() {
        close(input)
        close(output)
        kill(pid, SIGTERM)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}

/// Quotes a word for a POSIX shell (the remote side of ssh runs its command through one).
func shellQuoted(_ word: String) -> String {
    let safe = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:@%+,")
    if !word.isEmpty, word.unicodeScalars.allSatisfy(safe.contains) { return word }
    return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
}

/// `attach --stdio`: copies bytes between stdin/stdout and the run's socket until either side closes.
enum StdioRelay {
    static func run(socket: String) throws -> Int32 {
        let fd = try UnixSocket.connect(path: socket)
        defer { close(fd) }
        var fds = [pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0), pollfd(fd: fd, events: Int16(POLLIN), revents: 0)]
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let r = poll(&fds, 2, -1)
            if r < 0 { if errno == EINTR { continue } else { return 1 } }
            if fds[1].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { return 0 }  // the run closed: done
                if !UnixSocket.writeAll(STDOUT_FILENO, Array(buf[0..<n])) { return 0 }  // the viewer went away
            }
            if fds[0].revents != 0 {
                let n = buf.withUnsafeMutableBytes { read(STDIN_FILENO, $0.baseAddress, $0.count) }
                if n <= 0 {
                    // The viewer is gone (ssh closed): leave, the run goes on.
                    return 0
                }
                if !UnixSocket.writeAll(fd, Array(buf[0..<n])) { return 0 }
            }
        }
    }
}
