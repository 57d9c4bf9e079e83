import Foundation
import LoRAKit
import RunLink
#if canImport(Glibc)
import Glibc
import LoraTopConfig
#endif

/// The process that trains: it loads the run, serves it on its socket (every run does, whatever its mode), writes the
/// metrics log, and ends with the conventional exit code. Modes differ only in who watches:
/// - headless: progress lines on stdout, commands on stdin; a lost terminal (SIGHUP) leaves the run training unseen;
/// - detached: started by the terminal UI in a session of its own, stdout and stderr in `run.log`; it stays up after
///   the planned steps while an interactive viewer is attached (for `n`, a new run) and ends when none is left;
/// - foreground: the terminal UI in this same process, attached through a socket pair.
final class RunHost {
    /// Who watches the run.
    enum Mode: String {
        case headless, detached, foreground
    }

    let mode: Mode
    let options: RunOptions
    let session: TrainingRun
    let engine: TrainingEngine
    let server: RunServer
    let info: RunInfo
    private let train: Train
    private let log: MetricsLog
    private let stopCode = StopCode()

    /// Loads the run (notes to stderr, and to the launcher's terminal in detached mode) and starts serving it.
    init(train: Train, options: RunOptions, file: RunConfig, mode: Mode, ready: ReadyChannel? = ReadyChannel.fromEnvironment()) throws {
        self.train = train
        self.mode = mode
        self.options = options
        let announce: (String) -> Void = { line in
            train.note(line)
            ready?.note(line)
        }
        do {
            let output = URL(fileURLWithPath: options.output).standardizedFileURL.path
            try RunHost.checkWritable(output)
            let metricsPath = train.metrics ?? file.metricsFile ?? options.output + "/metrics.jsonl"
            try WritablePath.checkFile(metricsPath, hint: "choose another --metrics")
            let leftovers = Checkpoint.removeLeftovers(outputDir: output)
            if !leftovers.isEmpty {
                announce("removed \(leftovers.count) unfinished checkpoint folder\(leftovers.count == 1 ? "" : "s") of an interrupted save in \(output)")
            }
            announce("loading \(options.model) and \(options.data)…")
            let resumeDir = train.resume ?? file.resumeFromCheckpoint
            session = try TrainingRun(options: options, resume: resumeDir)
            announce(session.describe())
            engine = TrainingEngine(session: session, options: train.engineOptions(options, mode: mode))
            if let h = session.resumedHistory { engine.restore(history: h) }
            log = try MetricsLog(path: metricsPath, append: resumeDir != nil)
            log.recordRun(model: session.modelPath, settings: session.settings, totalSteps: session.totalSteps)
            engine.observe { [log] in log.record($0) }

            let registry = try RunRegistry()
            info = RunInfo(id: registry.newID(), pid: getpid(), kind: "loratop", mode: mode == .detached ? "tui" : mode.rawValue,
                           model: session.modelPath, data: URL(fileURLWithPath: options.data).standardizedFileURL.path,
                           output: output, started: Date().timeIntervalSince1970,
                           host: ProcessInfo.processInfo.hostName)
            var serverOptions = RunServer.Options()
            serverOptions.server = "loratop \(loratopVersion)"
            let config = session.model.config
            server = RunServer(engine: engine, info: info, registry: registry, options: serverOptions,
                               memory: RunHost.memoryProvider(engine: engine, config: config, options: options))
            try server.start()
        } catch {
            ready?.fail("\(error)")
            throw error
        }
        if mode != .foreground {
            announce("run \(info.id) serves on \(server.socketPath ?? "?"); `loratop attach \(info.id)` watches it")
        }
        ready?.ready(id: info.id, socket: server.socketPath ?? "")
    }

    /// Fails early, in a sentence, when the output folder cannot be created or written.
    static func checkWritable(_ folder: String) throws {
        try WritablePath.prepareFolder(folder, hint: "choose another --output")
    }

    /// The run's memory figures for viewers: the engine's accounting and resident set, and the method comparison.
    static func memoryProvider(engine: TrainingEngine, config: ModelConfig, options: RunOptions) -> @Sendable () -> MemoryState? {
        { [engine] in
            let snap = engine.latest
            guard let report = snap.memory else { return nil }
            var e = EstimateSettings()
            e.rank = snap.settings.rank
            e.alpha = snap.settings.alpha
            e.targets = snap.settings.targets.compactMap { LoRATarget(name: $0) }
            e.batch = options.batchSize
            e.seqLen = options.seqLen
            e.checkpointing = options.checkpointing
            // the base as it is stored now (`b` re-stores it while the run goes on), not as it was at the start
            let storage = RunHost.storage(label: snap.settings.quantization)
            e.quant = storage?.kind ?? options.quant
            e.doubleQuant = storage?.doubleQuant ?? options.doubleQuant
            e.blockSize = options.blockSize
            e.threads = options.threads
            e.computeBF16 = snap.settings.compute == "bf16"
            return MemoryState(report: report, methods: Estimator.estimate(config, e))
        }
    }

    /// The storage a settings label names: "nf4+dq" → (nf4, true), "int8" → (int8, false), "bf16" or "f32" → (none,
    /// false), "source (q4_1)" → (source, false); nil for anything else.
    static func storage(label: String) -> (kind: QuantKind, doubleQuant: Bool)? {
        let word = label.split(whereSeparator: { $0 == " " || $0 == "+" }).first.map(String.init) ?? ""
        if word == "bf16" { return (.none, false) }
        guard let kind = QuantKind(parsing: word) else { return nil }
        return (kind, label.contains("+dq"))
    }

    /// Trains to the end in this mode; returns the exit code (0, 1 on failure, 128 + n after a signal).
    func run() throws -> Int32 {
        installSignalPolicy()
        defer {
            server.shutdown()
            ProcessSignals.shared.handle(nil)
        }
        switch mode {
        case .headless:
            // Progress lines go to the terminal and to OUTPUT/run.log (what `loratop logs` shows).
            let logFD = open(info.output + "/run.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            defer { if logFD >= 0 { close(logFD) } }
            let printer = HeadlessPrinter(totalSteps: session.totalSteps, fds: [STDOUT_FILENO] + (logFD >= 0 ? [logFD] : []))
            engine.observe { printer.handle($0) }
            StdinCommands.start(engine: engine)
            engine.start()
            engine.wait()
        case .detached:
            let printer = HeadlessPrinter(totalSteps: session.totalSteps)
            engine.observe { printer.handle($0) }
            // Up after the planned steps only while an interactive viewer is attached. The launcher attaches at once;
            // if nobody has within 10 s (its terminal went away while loading), the run ends when it is done.
            let engine = self.engine, server = self.server
            server.onViewerCountChange { n in engine.exitWhenFinished(n == 0) }
            DispatchQueue.global().asyncAfter(deadline: .now() + 10) {
                if server.interactiveViewerCount == 0 { engine.exitWhenFinished(true) }
            }
            engine.start()
            engine.wait()
        case .foreground:
            let logFD = open(info.output + "/run.log", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
            defer { if logFD >= 0 { close(logFD) } }
            if logFD >= 0 {
                let printer = HeadlessPrinter(totalSteps: session.totalSteps, fds: [logFD])
                engine.observe { printer.handle($0) }
            }
            engine.start()
            let fd = try server.connectInProcess()
            let client = RunClient(readFD: fd, writeFD: fd)
            _ = try client.readHello()
            try client.attach(readOnly: false, client: "foreground")
            let exit = try runTerminalApp(client: client, options: train.appOptions(model: session.modelPath, data: options.data),
                                          policy: .foregroundRun)
            client.close()
            if exit == .detached {
                // The terminal went away (or the viewer left): the run goes on unseen and ends after its planned steps.
                engine.exitWhenFinished()
            }
            installSignalPolicy()
            engine.wait()
            if case .signal(let sig) = exit { stopCode.set(128 + sig) }
        }
        if let m = engine.latest.memory, mode != .foreground {
            Output.out("memory: " + m.summaryLines().joined(separator: "; "))
        }
        if mode == .headless {
            // A viewer prints this when it ends; a headless run has no viewer, so the run says where it left off.
            let last = engine.latest
            let exit: AppExit = last.status == .stopped ? .quit(saved: !last.unsavedProgress) : .finished
            Output.err(Ending.lines(exit, id: info.id, snapshot: last, output: info.output, model: session.modelPath)
                .joined(separator: "\n") + "\n")
        }
        if let code = stopCode.value { return code }
        if case .failed = engine.latest.status { return 1 }
        return 0
    }

    /// SIGINT and SIGTERM stop the run after the current step, saving first (a second one exits at once, exit code
    /// 128 + n either way). SIGHUP: the terminal is gone; the run keeps training (headless lines stop; `loratop attach`
    /// shows it). SIGTSTP suspends only where a shell can resume the run.
    private func installSignalPolicy() {
        let engine = self.engine
        let stopCode = self.stopCode
        let save = !train.noSave
        let id = info.id
        let mode = self.mode
        ProcessSignals.shared.handle { sig in
            switch sig {
            case SIGINT, SIGTERM:
                if stopCode.set(128 + sig) {
                    engine.send(.stop(save: save))
                } else {
                    BackendBox.shared.emergencyShutdown()
                    _exit(128 + sig)
                }
            case SIGHUP:
                Output.write("loratop: the terminal hung up; run \(id) goes on (loratop attach \(id))\n", to: STDERR_FILENO)
            case SIGTSTP:
                if mode == .headless { ProcessSignals.defaultAction(sig) }
            default:
                break
            }
        }
    }
}

/// The exit code set by the first stop signal.
final class StopCode: @unchecked Sendable {
    private let lock = NSLock()
    private var code: Int32?

    /// Sets the code; true the first time.
    @discardableResult
    func set(_ c: Int32) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard code == nil else { return false }
        code = c
        return true
    }

    /// The code, once set.
    var value: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return code
    }
}

/// This build's version, for hellos and `--version`.
let loratopVersion = "0.4.0"
