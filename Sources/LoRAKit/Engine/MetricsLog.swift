import Foundation

/// Appends one JSON object per engine event to a `.jsonl` file: steps, evals, change events, checkpoints, status.
/// Each line is written with a single `write` so a crash never leaves half a line behind a good one.
public final class MetricsLog: @unchecked Sendable {
    private let fd: Int32
    /// The file being written.
    public let path: String
    private let lock = NSLock()

    /// Opens (creating or appending to) `path`.
    public init(path: String, append: Bool) throws {
        self.path = path
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC)
        let fd = open(path, flags, 0o644)
        guard fd >= 0 else {
            throw FileError(path: path, message: "cannot open the metrics file for writing: \(String(cString: strerror(errno)))",
                            hint: "check that the folder exists and is writable")
        }
        self.fd = fd
    }

    deinit { close(fd) }

    /// Writes the event as one line (status and message events included).
    public func record(_ event: EngineEvent) {
        guard let line = MetricsLog.line(for: event) else { return }
        append(line)
    }

    /// Writes the run's header line: what is trained and how (`type` "run"), once when the run starts or resumes.
    public func recordRun(model: String, settings s: TrainingSettings, totalSteps: Int) {
        var o = JSONObject()
        o.add("type", "run")
        o.add("model", model)
        o.add("base", s.quantization)
        o.add("compute", s.compute ?? "fp32")
        o.add("rank", s.rank)
        o.add("alpha", Double(s.alpha))
        o.add("targets", s.targets.joined(separator: ","))
        o.add("batch", s.batchSize)
        o.add("seq_len", s.seqLen)
        o.add("grad_accum", s.gradAccum)
        o.add("checkpointing", s.checkpointing)
        o.add("total_steps", totalSteps)
        o.add("time", Date().timeIntervalSince1970)
        append(o.text)
    }

    private func append(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = Array((line + "\n").utf8)
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeMutableBytes { write(fd, $0.baseAddress! + off, $0.count - off) }
            if n <= 0 { if errno == EINTR { continue } else { return } }
            off += n
        }
        bytes.removeAll()
    }

    /// The JSON line for an event (keys in a fixed order; non-finite numbers become null).
    public static func line(for event: EngineEvent) -> String? {
        var o = JSONObject()
        switch event {
        case .step(let s):
            o.add("type", "step")
            o.add("step", s.step)
            o.add("loss", Double(s.loss))
            o.add("lr", Double(s.learningRate))
            o.add("grad_norm", Double(s.gradNorm))
            o.add("tokens", s.tokens)
            o.add("seconds", s.seconds)
            o.add("tokens_per_s", s.tokensPerSecond)
            o.add("epoch", s.epoch)
            if s.updateSkipped { o.add("update_skipped", true) }
        case .eval(let e):
            o.add("type", "eval")
            o.add("step", e.step)
            o.add("loss", Double(e.loss))
            if let em = e.exactMatch { o.add("exact_match", em) }
            o.add("seconds", e.seconds)
        case .change(let c):
            o.add("type", "change")
            o.add("step", c.step)
            o.add("kind", c.kind)
            o.add("from", c.from)
            o.add("to", c.to)
            if let d = c.detail { o.add("detail", d) }
        case .samples(let samples):
            o.add("type", "samples")
            o.add("step", samples.first?.step ?? 0)
            o.add("count", samples.count)
        case .checkpoint(let path):
            o.add("type", "checkpoint")
            o.add("path", path)
        case .message(let note):
            o.add("type", "message")
            o.add("text", note.text)
            o.add("level", note.level.rawValue)
        case .inspection(let x):
            o.add("type", "inspect")
            o.add("step", x.step)
            o.add("rank", x.rank)
            o.add("suggested_rank", x.advice.suggestedRank)
            o.add("growth_wanted", x.advice.growthWanted)
            o.add("seconds", x.seconds)
        case .pending, .settings, .progress:
            return nil  // the queue of unapplied commands and a phase's progress are live state, not history
        case .status(let s):
            o.add("type", "status")
            o.add("status", s.label)
            if case .failed(let why) = s { o.add("error", why) }
        }
        o.add("time", Date().timeIntervalSince1970)
        return o.text
    }
}

/// A file that could not be read or written.
public struct FileError: Error, CustomStringConvertible, Sendable {
    /// The path.
    public let path: String
    /// What went wrong.
    public let message: String
    /// What to try.
    public let hint: String?

    /// An error about `path`.
    public init(path: String, message: String, hint: String? = nil) {
        self.path = path
        self.message = message
        self.hint = hint
    }

    public var description: String { "\(path): \(message)" + (hint.map { " (hint: \($0))" } ?? "") }
}

/// A metrics file read back: the run's curves and change events (for `loratop plot` and resumed runs).
public struct MetricsHistory: Sendable, Equatable {
    /// Training loss per step (the last record wins when a resumed run repeats a step).
    public var train: [LossPoint] = []
    /// Eval loss per evaluation.
    public var eval: [LossPoint] = []
    /// Applied changes.
    public var changes: [ChangeEvent] = []

    /// An empty history.
    public init() {}

    /// Reads a `.jsonl` metrics file; a line that is not a JSON object stops with file:line.
    public static func read(path: String) throws -> MetricsHistory {
        guard let data = try RegularFile.contents(path) else {
            throw FileError(path: path, message: "cannot read the metrics file", hint: "give the --metrics file of a run")
        }
        var h = MetricsHistory()
        var trainByStep: [Int: Float] = [:]
        var lineNumber = 0
        for raw in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if raw.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            guard let obj = try? JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any] else {
                throw FileError(path: "\(path):\(lineNumber)", message: "expected one JSON object per line",
                                hint: "is this a loratop metrics file?")
            }
            let step = (obj["step"] as? NSNumber)?.intValue
            let loss = (obj["loss"] as? NSNumber)?.floatValue ?? (obj["loss"] is NSNull ? Float.nan : nil)
            switch obj["type"] as? String {
            case "step":
                if let s = step, let l = loss { trainByStep[s] = l }
            case "eval":
                if let s = step, let l = loss { h.eval.append(LossPoint(step: s, value: l)) }
            case "change":
                if let s = step, let k = obj["kind"] as? String {
                    h.changes.append(ChangeEvent(step: s, kind: k, from: obj["from"] as? String ?? "",
                                                 to: obj["to"] as? String ?? "", detail: obj["detail"] as? String))
                }
            default:
                continue
            }
        }
        h.train = trainByStep.keys.sorted().map { LossPoint(step: $0, value: trainByStep[$0] ?? .nan) }
        return h
    }
}
