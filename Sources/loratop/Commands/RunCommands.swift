import ArgumentParser
import Foundation
import LoRAKit
import RunLink
#if canImport(Glibc)
import Glibc
#endif

/// `loratop ls`: live and recently ended runs.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ls",
        abstract: "List your live and recently ended runs (id, state, step, loss, tokens/s, model, folder).")

    @Flag(help: "One JSON array: each run's facts, progress, socket and end time.") var json = false

    func run() throws {
        let registry = try RunRegistry()
        var entries = registry.entries()
        // Live runs answer with fresh figures.
        for i in entries.indices where entries[i].isLive {
            if let c = try? RunClient.connect(path: entries[i].socket, timeout: 2), let h = c.hello {
                entries[i].progress = h.progress
                c.close()
            }
        }
        if json {
            let enc = JSONEncoder()
            enc.keyEncodingStrategy = .convertToSnakeCase
            enc.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
            Output.out(String(decoding: try enc.encode(entries), as: UTF8.self))
            return
        }
        guard !entries.isEmpty else {
            Output.out("no runs (start one with `loratop train`; runs are listed from \(registry.folder))")
            return
        }
        var rows = [["ID", "STATE", "STEP", "LOSS", "TOK/S", "STARTED", "MODEL", "FOLDER"]]
        let time = DateFormatter()
        time.dateFormat = "MM-dd HH:mm"
        for e in entries {
            let p = e.progress
            rows.append([e.run.id, p.status, "\(p.step)/\(p.totalSteps)", p.loss.map { fixed($0, 4) } ?? "-",
                         p.tokensPerSecond > 0 && e.isLive ? String(format: "%.1f", p.tokensPerSecond) : "-",
                         time.string(from: Date(timeIntervalSince1970: e.run.started)),
                         URL(fileURLWithPath: e.run.model).lastPathComponent, e.run.output])
        }
        let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
        for r in rows {
            Output.out(zip(r, widths).enumerated().map { i, cell in
                i == r.count - 1 ? cell.0 : cell.0.padding(toLength: cell.1, withPad: " ", startingAt: 0)
            }.joined(separator: "  "))
        }
    }
}

/// `loratop send ID "lr 1e-4"`: one line of the headless command language to a live run.
struct Send: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a command to a live run and print its answer (exit status 0 when accepted).",
        discussion: "Commands: rank 16, alpha 32, lr 1e-4, dropout 0.05, quant nf4, pause, resume, save, eval, sample, restart, stop, stop nosave.")

    @Argument(help: "Run id (or prefix) or output folder.") var target: String
    @Argument(help: "The command, e.g. lr 1e-4 (quoted or as separate words).") var command: [String]
    @Flag(help: "Wait until the command has taken effect at a step boundary, and print what it did.") var wait = false
    @Option(help: "With --wait: give up after this many seconds [600].") var timeout: Double = 600

    func run() throws {
        let entry = try RunRegistry().find(target)
        let line = command.joined(separator: " ")
        guard wait else { throw ExitCode(try Send.deliver(line, to: entry)) }
        throw ExitCode(try Send.deliverAndWait(line, to: entry, timeout: timeout))
    }

    /// Sends a line as an attached viewer and waits for its effect: the change it makes, the checkpoint or evaluation
    /// it asks for, the status it sets, or the run's note that it failed.
    static func deliverAndWait(_ line: String, to entry: RegistryEntry, timeout: Double) throws -> Int32 {
        guard entry.isLive else { throw LinkError("run \(entry.run.id) is not running (\(entry.progress.status))") }
        let command = try Command.parse(line)
        let client = try RunClient.connect(path: entry.socket)
        defer { client.close() }
        try client.attach(readOnly: false, points: 10, client: "loratop send --wait")
        let deadline = Date().addingTimeInterval(timeout)
        while !client.hasState && Date() < deadline { usleep(5000) }
        let before = client.latest.snapshot
        let id = client.send(command)
        guard let ack = client.waitForAck(id, timeout: 10) else { throw LinkError("run \(entry.run.id) did not answer") }
        guard ack.ok else {
            Output.err("loratop: run \(entry.run.id) refused `\(line)`: \(ack.error ?? "no reason given")\n")
            return 1
        }
        while Date() < deadline {
            let now = client.latest.snapshot
            if let failure = now.messages.dropFirst(before.messages.count).first(where: { $0.hasPrefix(command.label + ":") }) {
                Output.err("loratop: run \(entry.run.id): \(failure)\n")
                return 1
            }
            if let done = Send.effect(of: command, before: before, now: now, closed: client.closeReason != nil) {
                Output.out("run \(entry.run.id): \(done)")
                return 0
            }
            usleep(10_000)
        }
        throw LinkError("`\(line)` was accepted but had not taken effect after \(Int(timeout)) s", hint: "is the run paused?")
    }

    /// What a command did, once the snapshots show it.
    static func effect(of command: Command, before: Snapshot, now: Snapshot, closed: Bool) -> String? {
        switch command {
        case .setRank, .setAlpha, .setLearningRate, .setDropout, .setQuantization, .restart:
            guard let c = now.changes.dropFirst(before.changes.count).first else { return nil }
            return "applied at step \(c.step): \(c.text)"
        case .saveCheckpoint:
            guard let p = now.lastCheckpoint, p != before.lastCheckpoint else { return nil }
            return "saved \(p)"
        case .evaluateNow:
            guard let e = now.lastEval, e != before.lastEval else { return nil }
            return "eval at step \(e.step): loss \(fixed(e.loss, 4))"
        case .sampleNow:
            return now.samples != before.samples ? "\(now.samples.count) samples at step \(now.step)" : nil
        case .inspect:
            guard let x = now.inspection, x != before.inspection else { return nil }
            return "inspected at step \(x.step): \(x.advice.summary)"
        case .pause:
            return now.status == .paused ? "paused at step \(now.step)" : nil
        case .resume:
            return now.status != .paused && now.status != .starting ? "resumed at step \(now.step)" : nil
        case .stop:
            return now.status.isTerminal || closed ? "\(now.status.label) at step \(now.step)" : nil
        }
    }

    /// Sends a line, prints the ack or the error, returns the exit status.
    static func deliver(_ line: String, to entry: RegistryEntry) throws -> Int32 {
        guard entry.isLive else {
            throw LinkError("run \(entry.run.id) is not running (\(entry.progress.status))")
        }
        let client = try RunClient.connect(path: entry.socket)
        defer { client.close() }
        let ack = try client.request(line)
        if ack.ok {
            Output.out("run \(entry.run.id): accepted `\(ack.command ?? line)` (applies at the next step boundary)")
            return 0
        }
        Output.err("loratop: run \(entry.run.id) refused `\(line)`: \(ack.error ?? "no reason given")\n")
        return 1
    }
}

/// `loratop stop ID [--no-save]`: stop a run after its current step (saving first, unless told not to).
struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop a live run after its current step, saving a checkpoint first (unless --no-save); waits until it has ended.")

    @Argument(help: "Run id (or prefix) or output folder.") var target: String
    @Flag(name: .customLong("no-save"), help: "Do not save a final checkpoint.") var noSave = false
    @Flag(name: .customLong("no-wait"), help: "Return once the run has accepted the stop.") var noWait = false

    func run() throws {
        let entry = try RunRegistry().find(target)
        let code = try Send.deliver(noSave ? "stop nosave" : "stop", to: entry)
        guard code == 0, !noWait else { throw ExitCode(code) }
        // Ended when its process is gone, or when its entry says so (a run inside a notebook ends and the process lives on).
        let registry = try? RunRegistry()
        while RunRegistry.processExists(entry.run.pid) && (registry?.entry(id: entry.run.id)?.isLive ?? false) { usleep(100_000) }
        let final = registry?.entry(id: entry.run.id)
        Output.out("run \(entry.run.id) ended: \(final?.progress.status ?? "stopped") at step \(final?.progress.step ?? 0)")
    }
}

/// `loratop logs ID [-f]`: the run's log (its progress lines, notes and errors).
struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a run's log (OUTPUT/run.log); -f follows it while the run lives.")

    @Argument(help: "Run id (or prefix) or output folder (default: the newest live run).") var target: String?
    @Flag(name: .shortAndLong, help: "Keep printing new lines until the run ends.") var follow = false

    func run() throws {
        let entry = try RunRegistry().find(target)
        let path = entry.run.output + "/run.log"
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else {
            throw FileError(path: path, message: "cannot read the run's log: \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                if !UnixSocket.writeAll(STDOUT_FILENO, Array(buf[0..<n])) { return }
                continue
            }
            guard follow, entry.isLive, RunRegistry.processExists(entry.run.pid) else { return }
            usleep(200_000)
        }
    }
}
