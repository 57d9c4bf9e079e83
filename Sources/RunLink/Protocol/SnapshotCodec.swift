import Foundation
import LoRAKit

/// Turns a run's Snapshot into the protocol's state message, and state and event messages back into a Snapshot:
/// the server and every viewer use this one mapping, so an attached viewer shows what an in-process one would.
public enum SnapshotCodec {
    /// Curves are cut to at most this many points by default (what a wide screen can show, with room to zoom).
    public static let defaultPoints = 2000
    /// Recent steps averaged for tokens/s and s/step (as the engine does).
    public static let recentWindow = 20

    /// A curve of at most `limit` points that keeps its shape: the first and last points, and the lowest and highest
    /// point of each slice between. Curves within the limit come back unchanged.
    public static func decimate(_ points: [LossPoint], limit: Int) -> [LossPoint] {
        let limit = max(4, limit)
        guard points.count > limit else { return points }
        let slices = (limit - 2) / 2
        var out: [LossPoint] = []
        out.reserveCapacity(limit + 1)
        for i in 0..<slices {
            let lo = i * points.count / slices
            let hi = (i + 1) * points.count / slices
            guard hi > lo else { continue }
            var minI = lo, maxI = lo
            for j in lo..<hi {
                let v = points[j].value
                if v < points[minI].value || points[minI].value.isNaN { minI = j }
                if v > points[maxI].value || points[maxI].value.isNaN { maxI = j }
            }
            out.append(points[min(minI, maxI)])
            if minI != maxI { out.append(points[max(minI, maxI)]) }
        }
        if out.first?.step != points[0].step { out.insert(points[0], at: 0) }
        if let last = points.last, out.last?.step != last.step { out.append(last) }
        return out
    }

    /// The state message for a snapshot, curves decimated to `points`.
    public static func state(_ s: Snapshot, memory: MemoryState?, points: Int = defaultPoints) -> StateMessage {
        let cut = s.trainLoss.count > points || s.learningRates.count > points
        var error: String?
        if case .failed(let why) = s.status { error = why }
        return StateMessage(
            seq: s.eventSequence, status: s.status.label, error: error, step: s.step, totalSteps: s.totalSteps,
            epoch: s.epoch, settings: s.settings,
            train: Curve(decimate(s.trainLoss, limit: points)), eval: Curve(decimate(s.evalLoss, limit: points)),
            learningRates: Curve(decimate(s.learningRates, limit: points)), decimated: cut,
            lastStep: s.lastStep, recentSteps: s.recentSteps, lastEval: s.lastEval, elapsed: s.elapsed,
            changes: s.changes, pending: s.pending.map(\.line), samples: s.samples,
            ghosts: s.ghosts.map { GhostCurves(label: $0.label, train: Curve(decimate($0.train, limit: points)),
                                               eval: Curve(decimate($0.eval, limit: points))) },
            lastCheckpoint: s.lastCheckpoint, messages: s.messages, trainableParameters: s.trainableParameters,
            baseParameters: s.baseParameters, unsaved: s.unsavedProgress, memory: memory, inspection: s.inspection,
            progress: s.progress)
    }

    /// The event message for an engine event numbered `seq`.
    public static func event(_ event: EngineEvent, seq: UInt64) -> EventMessage {
        switch event {
        case .step(let r):
            var m = EventMessage(type: "step", seq: seq)
            m.record = r
            return m
        case .eval(let e):
            var m = EventMessage(type: "eval", seq: seq)
            m.eval = e
            return m
        case .change(let c):
            var m = EventMessage(type: "change", seq: seq)
            m.change = c
            return m
        case .settings(let s, let trainable):
            var m = EventMessage(type: "settings", seq: seq)
            m.settings = s
            m.trainableParameters = trainable
            return m
        case .pending(let commands):
            var m = EventMessage(type: "pending", seq: 0)
            m.pending = commands.map(\.line)
            return m
        case .samples(let s):
            var m = EventMessage(type: "samples", seq: seq)
            m.samples = s
            return m
        case .checkpoint(let path):
            var m = EventMessage(type: "checkpoint", seq: seq)
            m.path = path
            return m
        case .message(let note):
            var m = EventMessage(type: "message", seq: seq)
            m.text = note.text
            m.level = note.level.rawValue
            return m
        case .status(let status):
            var m = EventMessage(type: "status", seq: seq)
            m.status = status.label
            if case .failed(let why) = status { m.error = why }
            return m
        case .inspection(let x):
            var m = EventMessage(type: "inspection", seq: seq)
            m.inspection = x
            return m
        case .progress(let p):
            var m = EventMessage(type: "progress", seq: seq)
            m.progress = p
            return m
        }
    }

    /// The engine status a status word names (unknown words read as running, so a newer server's extra states show).
    public static func status(_ word: String, error: String?) -> EngineStatus {
        switch word {
        case "starting": return .starting
        case "paused": return .paused
        case "evaluating": return .evaluating
        case "sampling": return .sampling
        case "saving": return .saving
        case "finished": return .finished
        case "stopped": return .stopped
        case "failed": return .failed(error ?? "failed")
        default: return .running
        }
    }

    static func commands(_ lines: [String]) -> [Command] {
        lines.compactMap { try? Command.parse($0) }
    }
}

/// A viewer's copy of the run: starts from a state message and follows the events, keeping a Snapshot that the
/// terminal UI draws exactly as it would draw the engine's own.
public struct SnapshotMirror: Sendable {
    /// The run as the viewer knows it; `version` grows with every message applied.
    public private(set) var snapshot = Snapshot()
    /// The run's memory figures, when it sent them.
    public private(set) var memory: MemoryState?
    /// Events numbered up to this are already in the snapshot.
    public private(set) var seq: UInt64 = 0
    /// Whether a state message has arrived.
    public private(set) var hasState = false
    /// Commands the run cannot do, by kind, with its reasons (from the state message).
    public private(set) var unsupported: [String: String] = [:]
    private var recent: [StepRecord] = []

    /// An empty mirror (waiting for a state message).
    public init() {}

    /// Starts over from a state message.
    public mutating func apply(_ m: StateMessage) {
        var s = Snapshot()
        s.version = snapshot.version + 1
        s.status = SnapshotCodec.status(m.status, error: m.error)
        s.step = m.step
        s.totalSteps = m.totalSteps
        s.epoch = m.epoch
        s.settings = m.settings
        s.trainLoss = m.train.points
        s.evalLoss = m.eval.points
        s.learningRates = m.learningRates.points
        s.lastStep = m.lastStep
        s.lastEval = m.lastEval
        s.elapsed = m.elapsed
        s.changes = m.changes
        s.pending = SnapshotCodec.commands(m.pending)
        s.samples = m.samples
        s.ghosts = m.ghosts.map { GhostRun(label: $0.label, train: $0.train.points, eval: $0.eval.points) }
        s.lastCheckpoint = m.lastCheckpoint
        s.messages = m.messages
        s.trainableParameters = m.trainableParameters
        s.baseParameters = m.baseParameters
        s.unsavedProgress = m.unsaved
        s.inspection = m.inspection
        s.progress = m.progress
        s.eventSequence = m.seq
        recent = Array(m.recentSteps.suffix(SnapshotCodec.recentWindow))
        snapshot = s
        updateRates()
        memory = m.memory
        unsupported = m.unsupported ?? [:]
        seq = m.seq
        hasState = true
    }

    /// Follows one event; events the state already reflects (by number) are skipped. Returns whether it changed anything.
    @discardableResult
    public mutating func apply(_ m: EventMessage) -> Bool {
        if m.seq != 0 {
            guard m.seq > seq else { return false }
            seq = m.seq
        }
        var s = snapshot
        switch m.type {
        case "step":
            guard let r = m.record else { return false }
            s.step = r.step
            s.epoch = r.epoch
            s.lastStep = r
            s.trainLoss.append(LossPoint(step: r.step, value: r.loss))
            s.learningRates.append(LossPoint(step: r.step, value: r.learningRate))
            s.elapsed += r.seconds
            s.unsavedProgress = true
            recent.append(r)
            if recent.count > SnapshotCodec.recentWindow { recent.removeFirst(recent.count - SnapshotCodec.recentWindow) }
        case "eval":
            guard let e = m.eval else { return false }
            s.lastEval = e
            s.evalLoss.append(LossPoint(step: e.step, value: e.loss))
        case "change":
            guard let c = m.change else { return false }
            s.changes.append(c)
            s.unsavedProgress = true
        case "settings":
            guard let settings = m.settings else { return false }
            s.settings = settings
            if let t = m.trainableParameters { s.trainableParameters = t }
        case "pending":
            s.pending = SnapshotCodec.commands(m.pending ?? [])
        case "samples":
            s.samples = m.samples ?? []
        case "checkpoint":
            guard let p = m.path else { return false }
            s.lastCheckpoint = p
            s.unsavedProgress = false
        case "message":
            guard let t = m.text else { return false }
            s.messages.append(t)
            if s.messages.count > 50 { s.messages.removeFirst(s.messages.count - 50) }
        case "status":
            guard let word = m.status else { return false }
            s.status = SnapshotCodec.status(word, error: m.error)
        case "memory":
            memory = m.memory
        case "inspection":
            guard let x = m.inspection else { return false }
            s.inspection = x
        case "progress":
            s.progress = m.progress
        default:
            return false  // unknown types are ignored
        }
        s.version = snapshot.version + 1
        s.eventSequence = seq
        snapshot = s
        updateRates()
        return true
    }

    /// A note of the viewer's own (a refused command, a lost connection), shown like the run's messages.
    public mutating func note(_ text: String) {
        snapshot.messages.append(text)
        if snapshot.messages.count > 50 { snapshot.messages.removeFirst(snapshot.messages.count - 50) }
        snapshot.version += 1
    }

    /// The tokens/s, s/step and ETA the engine would show, from the same window of recent steps.
    private mutating func updateRates() {
        snapshot.setRecentSteps(recent)
    }
}
