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
    /// Compute the update inspection every N steps (0 = only on request: the `inspect` command, sent by a visible
    /// Inside panel).
    public var inspectEvery: Int = 0
    /// Save a checkpoint when the run finishes or is stopped with `stop(save: true)`.
    public var saveAtEnd: Bool = true
    /// Evaluate once more when the run finishes.
    public var evalAtEnd: Bool = true
    /// End the loop when the planned steps are done (headless); otherwise wait for commands such as `restart` (TUI).
    public var exitWhenFinished: Bool = true
    /// Start paused.
    public var startPaused: Bool = false
    /// Save a checkpoint after a step when this many seconds have passed since the last save (or the start) and there
    /// is unsaved progress (0 = off): a crash or a kill loses at most about this much work.
    public var autosaveSeconds: Double = 600
    /// Steps in a row with a non-finite loss or gradient norm (each skips its update) after which the run is
    /// paused, or stopped as failed with `stopOnDivergence` (0 = never).
    public var divergenceLimit: Int = 3
    /// Stop (failed, exit non-zero) instead of pausing when the divergence limit is reached: a run nobody watches.
    public var stopOnDivergence: Bool = false
    /// Monotonic time in nanoseconds, for autosave (tests replace it with a fake clock).
    var clock: @Sendable () -> UInt64 = { DispatchTime.now().uptimeNanoseconds }

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
    /// A note for people (a command that failed, a warning), with how much it matters.
    case message(EngineNote)
    /// The status changed.
    case status(EngineStatus)
    /// The queue of commands sent but not yet applied changed (sent from any thread, or emptied at a step boundary).
    case pending([Command])
    /// The settings after a change took effect, with the adapter's trainable parameter count.
    case settings(TrainingSettings, trainableParameters: Int)
    /// An update inspection was computed.
    case inspection(UpdateInspection)
    /// A long phase began or moved on (at most about five times a second), or ended (nil).
    case progress(PhaseProgress?)
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
    private var observers: [@Sendable (UInt64, EngineEvent) -> Void] = []
    /// Events emitted on the engine's queue so far; a snapshot records how many it reflects (`eventSequence`).
    private var eventCount: UInt64 = 0
    private var started = false
    private var exitWhenDone: Bool
    /// Serializes event delivery: the engine's queue and senders (pending events) never interleave inside an observer.
    private let emitLock = NSLock()

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
    /// `options.clock()` at the last save or the start of the loop (autosave measures from it).
    private var lastSave: UInt64 = 0
    private var runNumber = 1
    private var finishedHandled = false
    private var memory: MemoryReport?
    /// Steps in a row whose update was skipped (non-finite loss or gradient norm).
    private var nonFiniteInARow = 0
    private var inspection: UpdateInspection?
    /// Whether the adapter changed (a step, a setting) since `inspection` was computed.
    private var inspectionStale = true
    /// The long phase under way: its name, `options.clock()` when it began, and how far it has got.
    private var phase: (name: String, start: UInt64, done: Int, total: Int)?
    /// `options.clock()` when progress was last published (progress inside a phase is published at most every 200 ms).
    private var lastProgress: UInt64 = 0

    /// An engine for `session`; call `start()` to begin.
    public init(session: TrainingSession, options: EngineOptions = EngineOptions()) {
        self.session = session
        self.options = options
        exitWhenDone = options.exitWhenFinished
        paused = options.startPaused
        current = makeSnapshot(version: 0)
        session.reportProgress { [weak self] done, total in self?.progressed(done: done, total: total) }
    }

    /// The latest snapshot. O(1); never waits for a step.
    public var latest: Snapshot {
        lock.lock()
        defer { lock.unlock() }
        return current
    }

    /// Registers an observer of every event, called in order on the engine's queue. Register before `start()`.
    public func observe(_ handler: @escaping @Sendable (EngineEvent) -> Void) {
        observe(sequenced: { _, event in handler(event) })
    }

    /// Registers an observer that also gets each event's sequence number: 1, 2, 3, … for events of the engine's queue,
    /// 0 for `.pending` (which carries the whole queue and may come from any thread). A snapshot whose
    /// `eventSequence` is k reflects every event numbered 1…k, so a viewer that starts from it skips those.
    public func observe(sequenced handler: @escaping @Sendable (UInt64, EngineEvent) -> Void) {
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
        emitPending()
        wake.signal()
    }

    /// Whether the loop ends when the planned steps are done (after the final eval and save), as headless runs do, or
    /// waits for commands such as `restart`. A run started from a terminal UI waits while an interactive viewer is
    /// attached and ends when none is left (at once, when it is already done).
    public func exitWhenFinished(_ exit: Bool = true) {
        lock.lock()
        exitWhenDone = exit
        lock.unlock()
        wake.signal()
    }

    private var shouldExitWhenFinished: Bool {
        lock.lock()
        defer { lock.unlock() }
        return exitWhenDone
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
        lastSave = options.clock()
        memory = session.memoryReport()  // the first frame (a fresh run's or a resumed one's) has the figures
        setStatus(paused ? .paused : .running)
        while true {
            applyPendingCommands()
            if let save = stopRequest {
                if save && unsaved, let why = saveNow(then: .stopped) {
                    setStatus(.failed(lostWork(why)))
                    return
                }
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
                    // Each phase hands over to the next and the last to `finished`: the statuses never say running again.
                    let save = options.saveAtEnd && unsaved
                    if options.evalAtEnd && lastEval?.step != session.step { evaluateNow(then: save ? .saving : .finished) }
                    if save, let why = saveNow(then: .finished) {
                        setStatus(.failed(lostWork(why)))
                        return
                    }
                    setStatus(.finished)
                }
                if shouldExitWhenFinished { return }
                wake.wait()
                continue
            }
            if status != .running { setStatus(.running) }
            do {
                let record = try session.trainStep()
                recordStep(record)
                if checkDivergence(record) {
                    if case .failed = status { return }
                    continue
                }
            } catch {
                fail(error)
                return
            }
            let s = session.step
            if options.evalEvery > 0 && s % options.evalEvery == 0 && s < session.totalSteps { evaluateNow() }
            if options.sampleEvery > 0 && s % options.sampleEvery == 0 { sampleNow() }
            if options.inspectEvery > 0 && s % options.inspectEvery == 0 { inspectNow() }
            if options.saveEvery > 0 && s % options.saveEvery == 0 && s < session.totalSteps { saveNow() }
            if options.autosaveSeconds > 0 && unsaved && s < session.totalSteps
                && Double(options.clock() &- lastSave) >= options.autosaveSeconds * 1e9 { saveNow() }
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
        emitPending()
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
        case .inspect:
            inspectNow()
        case .restart:
            restartNow()
        case .stop(let save):
            stopRequest = save
        case .setRank, .setAlpha, .setLearningRate, .setDropout, .setQuantization:
            if case .setQuantization = command { beginPhase("requantizing") }
            defer { endPhase() }
            do {
                let event = try session.apply(command)
                inspectionStale = true
                history.changes.append(event)
                unsaved = true
                memory = session.memoryReport()  // a new rank or storage changes the figures now, not a step later
                emit(.change(event))
                emit(.settings(session.settings, trainableParameters: session.trainableParameters))
                note(event.note)
            } catch {
                note("\(command.label): \(error)", .warning)
            }
        }
    }

    /// Counts steps whose update was skipped for a non-finite loss or gradient norm, says so each time, and pauses
    /// (or fails) the run when `divergenceLimit` come in a row. True when the loop should not go on stepping.
    private func checkDivergence(_ r: StepRecord) -> Bool {
        guard r.updateSkipped else {
            nonFiniteInARow = 0
            return false
        }
        nonFiniteInARow += 1
        let what = r.loss.isFinite ? "gradient norm \(r.gradNorm)" : "loss \(r.loss)"
        let limit = options.divergenceLimit
        note("step \(r.step): \(what): update skipped, weights unchanged" + (limit > 0 ? " (\(nonFiniteInARow) of \(limit) in a row)" : ""),
             .warning)
        guard limit > 0, nonFiniteInARow >= limit else { return false }
        let why = "diverged: \(nonFiniteInARow) steps in a row with a non-finite loss or gradient norm (last: step \(r.step), "
            + "\(what)); the weights are those of step \(r.step - nonFiniteInARow)"
        if options.stopOnDivergence {
            setStatus(.failed(why + "; lower the learning rate or alpha and resume from the last checkpoint"))
            return true
        }
        note(why + "; paused: lower lr or alpha (l, a), then resume (space)", .warning)
        paused = true
        setStatus(.paused)
        nonFiniteInARow = 0
        return true
    }

    private func recordStep(_ r: StepRecord) {
        lastStep = r
        inspectionStale = true
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

    /// Evaluates on the held-out set; the status is `then` afterwards (by default the one before, running after a
    /// phase).
    private func evaluateNow(then after: EngineStatus? = nil) {
        let before = status
        beginPhase("evaluating")
        defer { endPhase() }
        setStatus(.evaluating)
        do {
            if let e = try session.evaluate() {
                lastEval = e
                history.evalLoss.append(LossPoint(step: e.step, value: e.loss))
                emit(.eval(e))
            } else {
                note("eval: this run has no held-out data (give --eval-data, or a --val-set-size above 0)", .warning)
            }
        } catch {
            note("eval: failed: \(error)", .warning)  // "eval:" is the command's label: `loratop send --wait` reads it so
        }
        setStatus(after ?? (before == .evaluating ? .running : before))
    }

    private func sampleNow() {
        let before = status
        beginPhase("sampling")
        defer { endPhase() }
        setStatus(.sampling)
        do {
            let s = try session.sample()
            if !s.isEmpty {
                samples = s
                emit(.samples(s))
            } else {
                note("sample: there are no prompts to sample (the held-out data has no prompt/completion, chat or "
                     + "alpaca records)", .warning)
            }
        } catch {
            note("sample: failed: \(error)", .warning)
        }
        setStatus(before == .sampling ? .running : before)
    }

    /// Computes the inspection unless the adapter is unchanged since the last one (two viewers asking at one boundary,
    /// or `--inspect-every` and a viewer, cost one computation).
    private func inspectNow() {
        guard inspectionStale || inspection == nil else { return }
        do {
            guard let x = try session.inspect() else { return }
            inspection = x
            inspectionStale = false
            emit(.inspection(x))
            publish()
        } catch {
            note("inspect failed: \(error)", .warning)
        }
    }

    /// What a run whose final save failed says as it ends.
    private func lostWork(_ why: String) -> String {
        "the final checkpoint was not saved (\(why)); the steps after "
            + (lastCheckpoint.map { "the last checkpoint, \($0)," } ?? "the start") + " are lost"
    }

    /// Saves a checkpoint; the status is `then` afterwards (by default the one before). Returns why it failed, or
    /// nil when it was written.
    @discardableResult
    private func saveNow(then after: EngineStatus? = nil) -> String? {
        lastSave = options.clock()    // a failed save is retried by autosave one interval later, not after every step
        let before = status
        beginPhase("saving")
        defer { endPhase() }
        setStatus(.saving)
        do {
            let path = try session.saveCheckpoint(history: history)
            lastCheckpoint = path
            unsaved = false
            emit(.checkpoint(path))
            note("saved \(path)")
        } catch {
            note("save: failed: \(error)", .error)
            if after == nil { setStatus(before == .saving ? .running : before) }  // else the caller says how it ends
            return "\(error)"
        }
        setStatus(after ?? (before == .saving ? .running : before))
        return nil
    }

    private func restartNow() {
        let s = session.settings
        let label = "run \(runNumber): r\(s.rank) α\(formatNumber(s.alpha)) lr \(formatNumber(s.learningRate))"
        do {
            try session.restart()
        } catch {
            note("restart failed: \(error)", .warning)
            return
        }
        ghosts.append(GhostRun(label: label, train: history.trainLoss, eval: history.evalLoss))
        runNumber += 1
        history = TrainingHistory()
        recent = []
        lastStep = nil
        lastEval = nil
        samples = []
        inspection = nil
        inspectionStale = true
        finishedHandled = false
        unsaved = false
        if !paused { setStatus(.running) }
        let event = ChangeEvent(step: 0, kind: "restart", from: "run \(runNumber - 1)", to: "run \(runNumber)")
        publish()  // viewers that start over from the latest snapshot on a restart see the new run in it
        emit(.change(event))
        note("restarted; \(label) kept as a ghost")
    }

    /// Starts a long phase: viewers show it with its time from now on (published with the next status or at once).
    private func beginPhase(_ name: String) {
        let now = options.clock()
        phase = (name, now, 0, 0)
        lastProgress = now
        emit(.progress(progressNow()))
        publish()
    }

    /// The session's progress inside the phase; published when 200 ms have passed since the last, or at the end.
    private func progressed(done: Int, total: Int) {
        guard var p = phase else { return }
        p.done = done
        p.total = total
        phase = p
        let now = options.clock()
        guard now &- lastProgress >= 200_000_000 || (total > 0 && done >= total) else { return }
        lastProgress = now
        emit(.progress(progressNow()))
        publish()
    }

    private func endPhase() {
        guard phase != nil else { return }
        phase = nil
        emit(.progress(nil))
        publish()
    }

    private func progressNow() -> PhaseProgress? {
        phase.map { PhaseProgress(phase: $0.name, done: $0.done, total: $0.total,
                                  seconds: Double(options.clock() &- $0.start) / 1e9) }
    }

    private func fail(_ error: Error) {
        note("training failed: \(error)")
        setStatus(.failed("\(error)"))
    }

    /// A note for the status row, the log and every observer. A failed run's own reason goes in its status, not here
    /// at error level (it would be said twice).
    private func note(_ message: String, _ level: EngineNote.Level = .info) {
        messages.append(message)
        if messages.count > 50 { messages.removeFirst(messages.count - 50) }
        emit(.message(EngineNote(message, level)))
        publish()
    }

    private func setStatus(_ s: EngineStatus) {
        guard s != status else { return }
        status = s
        emit(.status(s))
        publish()
    }

    private func emit(_ event: EngineEvent) {
        emitLock.lock()
        defer { emitLock.unlock() }
        lock.lock()
        eventCount += 1
        let seq = eventCount
        let handlers = observers
        lock.unlock()
        for h in handlers { h(seq, event) }
    }

    /// Emits the pending queue as it is when the event is delivered (read under the emit lock, so the last pending event
    /// any observer sees is always the current queue, whichever thread changed it).
    private func emitPending() {
        emitLock.lock()
        defer { emitLock.unlock() }
        lock.lock()
        let handlers = observers
        let queued = pending
        lock.unlock()
        for h in handlers { h(0, .pending(queued)) }
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
        s.elapsed = history.elapsed
        s.setRecentSteps(recent)
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
        s.inspection = inspection
        s.progress = progressNow()
        s.eventSequence = eventCount
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
