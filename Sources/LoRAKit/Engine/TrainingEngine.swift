import Dispatch
import Foundation

/// How often the engine evaluates, samples and saves, and what it does at the end.
public struct EngineOptions: Sendable {
    /// Evaluate every N steps (0 = only on request and at the end).
    public var evalEvery: Int = 0
    /// Generate samples every N steps (0 = only on request).
    public var sampleEvery: Int = 0
    /// Save a checkpoint every N steps (0 = only on request and at the end).
    public var saveEvery: Int = 0
    /// Save a checkpoint when the run finishes or is stopped with `stop(save: true)`.
    public var saveAtEnd: Bool = true
    /// Evaluate once more when the run finishes.
    public var evalAtEnd: Bool = true
    /// End the loop when the planned steps are done (headless); otherwise wait for commands such as `restart` (TUI).
    public var exitWhenFinished: Bool = true
    /// Start paused.
    public var startPaused: Bool = false

    /// Options with the defaults above.
    public init() {}
}

/// Something that happened in the engine, delivered in order to observers (on the engine's queue).
public enum EngineEvent: Sendable {
    /// A step finished.
    case step(StepRecord)
    /// An evaluation finished.
    case eval(EvalRecord)
    /// A setting change took effect.
    case change(ChangeEvent)
    /// Samples were generated.
    case samples([SampleRecord])
    /// A checkpoint was written to this folder.
    case checkpoint(String)
    /// A note for people (a command that failed, a warning).
    case message(String)
    /// The status changed.
    case status(EngineStatus)
}

/// Runs a `TrainingSession` on a background serial DispatchQueue, takes Commands from any thread (applied at the next
/// step boundary) and publishes an immutable Snapshot after every step, eval, sample and command.
public final class TrainingEngine: @unchecked Sendable {
    private let session: TrainingSession
    private let options: EngineOptions
    private let queue = DispatchQueue(label: "loratop.engine", qos: .userInitiated)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchGroup()

    // Guarded by `lock`: what readers and senders touch.
    private let lock = NSLock()
    private var current = Snapshot()
    private var pending: [Command] = []
    private var observers: [@Sendable (EngineEvent) -> Void] = []
    private var started = false

    // Touched only on `queue`.
    private var history = TrainingHistory()
    private var status: EngineStatus = .starting
    private var paused = false
    private var stopRequest: Bool?
    private var recent: [StepRecord] = []
    private var lastStep: StepRecord?
    private var lastEval: EvalRecord?
    private var samples: [SampleRecord] = []
    private var ghosts: [GhostRun] = []
    private var messages: [String] = []
    private var lastCheckpoint: String?
    private var unsaved = false
    private var runNumber = 1
    private var finishedHandled = false
    private var memory: MemoryReport?

    /// An engine for `session`; call `start()` to begin.
    public init(session: TrainingSession, options: EngineOptions = EngineOptions()) {
        self.session = session
        self.options = options
        paused = options.startPaused
        current = makeSnapshot(version: 0)
    }

    /// The latest snapshot. O(1); never waits for a step.
    public var latest: Snapshot {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// Registers an observer of every event, called in order on the engine's queue. Register before `start()`.
    public func observe(_ handler: @escaping @Sendable (EngineEvent) -> Void) {
        lock.lock()
        observers.append(handler)
        lock.unlock()
    }

    /// Queues a command; it shows as pending in the very next snapshot and is applied at the next step boundary.
    public func send(_ command: Command) {
        lock.lock()
        pending.append(command)
        current.pending = pending
        current.version += 1
        lock.unlock()
        wake.signal()
    }

    /// Starts the loop on the engine's queue (once).
    public func start() {
        lock.lock()
        let first = !started
        started = true
        lock.unlock()
        guard first else { return }
        done.enter()
        queue.async { [self] in
            run()
            done.leave()
        }
    }

    /// Blocks until the loop has ended.
    public func wait() {
        done.wait()
    }

    /// Waits up to `seconds` for the loop to end; true when it has.
    public func wait(seconds: Double) -> Bool {
        done.wait(timeout: .now() + seconds) == .success
    }

    // MARK: - The loop (engine queue only)

    private func run() {
        setStatus(paused ? .paused : .running)
        while true {
            applyPendingCommands()
            if let save = stopRequest {
                if save && unsaved { saveNow() }
                setStatus(.stopped)
                return
            }
            if case .failed = status { return }
            if paused {
                wake.wait()
                continue
            }
            if session.step >= session.totalSteps {
                if !finishedHandled {
                    finishedHandled = true
                    if options.evalAtEnd && lastEval?.step != session.step { evaluateNow() }
                    if options.saveAtEnd && unsaved { saveNow() }
                    setStatus(.finished)
                }
                if options.exitWhenFinished { return }
                wake.wait()
                continue
            }
            if status != .running { setStatus(.running) }
            do {
                let record = try session.trainStep()
                recordStep(record)
            } catch {
                fail(error)
                return
            }
            let s = session.step
            if options.evalEvery > 0 && s % options.evalEvery == 0 && s < session.totalSteps { evaluateNow() }
            if options.sampleEvery > 0 && s % options.sampleEvery == 0 { sampleNow() }
            if options.saveEvery > 0 && s % options.saveEvery == 0 && s < session.totalSteps { saveNow() }
        }
    }

    private func applyPendingCommands() {
        lock.lock()
        let commands = pending
        lock.unlock()
        guard !commands.isEmpty else { return }
        for command in commands { handle(command) }
        lock.lock()
        pending.removeFirst(min(commands.count, pending.count))
        lock.unlock()
        publish()
    }

    private func handle(_ command: Command) {
        switch command {
        case .pause:
            paused = true
            setStatus(.paused)
        case .resume:
            paused = false
            if status == .paused { setStatus(.running) }
        case .saveCheckpoint:
            saveNow()
        case .evaluateNow:
            evaluateNow()
        case .sampleNow:
            sampleNow()
        case .restart:
            restartNow()
        case .stop(let save):
            stopRequest = save
        case .setRank, .setAlpha, .setLearningRate, .setDropout, .setQuantization:
            do {
                let event = try session.apply(command)
                history.changes.append(event)
                unsaved = true
                note("step \(event.step): \(event.label)" + (event.detail.map { " (\($0))" } ?? ""))
                emit(.change(event))
            } catch {
                note("\(command.label): \(error)")
            }
        }
    }

    private func recordStep(_ r: StepRecord) {
        lastStep = r
        memory = session.memoryReport()
        unsaved = true
        history.trainLoss.append(LossPoint(step: r.step, value: r.loss))
        history.learningRates.append(LossPoint(step: r.step, value: r.learningRate))
        history.elapsed += r.seconds
        recent.append(r)
        if recent.count > 20 { recent.removeFirst(recent.count - 20) }
        emit(.step(r))
        publish()
    }

    private func evaluateNow() {
        let before = status
        setStatus(.evaluating)
        do {
            if let e = try session.evaluate() {
                lastEval = e
                history.evalLoss.append(LossPoint(step: e.step, value: e.loss))
                emit(.eval(e))
            }
        } catch {
            note("eval failed: \(error)")
        }
        setStatus(before == .evaluating ? .running : before)
    }

    private func sampleNow() {
        let before = status
        setStatus(.sampling)
        do {
            let s = try session.sample()
            if !s.isEmpty {
                samples = s
                emit(.samples(s))
            }
        } catch {
            note("sampling failed: \(error)")
        }
        setStatus(before == .sampling ? .running : before)
    }

    private func saveNow() {
        let before = status
        setStatus(.saving)
        do {
            let path = try session.saveCheckpoint(history: history)
            lastCheckpoint = path
            unsaved = false
            note("saved \(path)")
            emit(.checkpoint(path))
        } catch {
            note("save failed: \(error)")
        }
        setStatus(before == .saving ? .running : before)
    }

    private func restartNow() {
        let s = session.settings
        let label = "run \(runNumber): r\(s.rank) α\(formatNumber(s.alpha)) lr \(formatNumber(s.learningRate))"
        do {
            try session.restart()
        } catch {
            note("restart failed: \(error)")
            return
        }
        ghosts.append(GhostRun(label: label, train: history.trainLoss, eval: history.evalLoss))
        runNumber += 1
        history = TrainingHistory()
        recent = []
        lastStep = nil
        lastEval = nil
        samples = []
        finishedHandled = false
        unsaved = false
        if !paused { setStatus(.running) }
        let event = ChangeEvent(step: 0, kind: "restart", from: "run \(runNumber - 1)", to: "run \(runNumber)")
        emit(.change(event))
        note("restarted; \(label) kept as a ghost")
    }

    private func fail(_ error: Error) {
        note("training failed: \(error)")
        setStatus(.failed("\(error)"))
    }

    private func note(_ message: String) {
        messages.append(message)
        if messages.count > 50 { messages.removeFirst(messages.count - 50) }
        emit(.message(message))
        publish()
    }

    private func setStatus(_ s: EngineStatus) {
        guard s != status else { return }
        status = s
        emit(.status(s))
        publish()
    }

    private func emit(_ event: EngineEvent) {
        lock.lock()
        let handlers = observers
        lock.unlock()
        for h in handlers { h(event) }
    }

    private func publish() {
        lock.lock()
        let next = makeSnapshot(version: current.version + 1)
        current = next
        lock.unlock()
    }

    /// Builds a snapshot from the engine's state; call with `lock` held (it reads `pending`).
    private func makeSnapshot(version: UInt64) -> Snapshot {
        var s = Snapshot()
        s.version = version
        s.status = status
        s.step = session.step
        s.totalSteps = session.totalSteps
        s.epoch = session.epoch
        s.settings = session.settings
        s.trainLoss = history.trainLoss
        s.evalLoss = history.evalLoss
        s.learningRates = history.learningRates
        s.lastStep = lastStep
        s.lastEval = lastEval
        let secs = recent.reduce(0) { $0 + $1.seconds }
        let toks = recent.reduce(0) { $0 + $1.tokens }
        s.secondsPerStep = recent.isEmpty ? 0 : secs / Double(recent.count)
        s.tokensPerSecond = secs > 0 ? Double(toks) / secs : 0
        s.elapsed = history.elapsed
        s.eta = recent.isEmpty ? nil : Double(max(0, session.totalSteps - session.step)) * s.secondsPerStep
        s.changes = history.changes
        s.pending = pending
        s.samples = samples
        s.ghosts = ghosts
        s.lastCheckpoint = lastCheckpoint
        s.messages = messages
        s.trainableParameters = session.trainableParameters
        s.baseParameters = session.baseParameters
        s.unsavedProgress = unsaved
        s.memory = memory
        return s
    }

    /// Restores curves and events from a checkpoint before `start()` (exact resume shows the whole history).
    public func restore(history restored: TrainingHistory) {
        queue.sync {
            history = restored
            unsaved = false
            lock.lock()
            current = makeSnapshot(version: current.version + 1)
            lock.unlock()
        }
    }
}
