import Foundation
import LoRAKit

/// The version of the run protocol this build speaks (docs/PROTOCOL.md). A peer with another major version is refused.
public let runProtocolVersion = 1

/// Facts about a run that never change while it lives: what `loratop ls` lists and a hello carries.
public struct RunInfo: Codable, Sendable, Equatable {
    /// Short id, unique among the user's runs (e.g. "k3f9q2").
    public var id: String
    /// The run process.
    public var pid: Int32
    /// Who serves the run: "loratop" (this engine) or "pytorch" (the Trainer callback).
    public var kind: String
    /// How the run was started: "tui" (detached from a terminal UI), "foreground", "headless".
    public var mode: String
    /// The base model (path or name).
    public var model: String
    /// The training data file.
    public var data: String
    /// The output folder (absolute), where checkpoints, metrics.jsonl and run.log are.
    public var output: String
    /// Start time, seconds since 1970.
    public var started: Double
    /// The host name.
    public var host: String

    /// Every field given.
    public init(id: String, pid: Int32, kind: String, mode: String, model: String, data: String, output: String,
                started: Double, host: String) {
        self.id = id
        self.pid = pid
        self.kind = kind
        self.mode = mode
        self.model = model
        self.data = data
        self.output = output
        self.started = started
        self.host = host
    }
}

/// Where a run is, in a few numbers: carried by every hello (so `ls` needs one round trip) and kept in the registry.
public struct RunProgress: Codable, Sendable, Equatable {
    /// The engine's status word: starting, running, paused, evaluating, sampling, saving, finished, stopped, failed
    /// (and, in the registry only, "lost" for a run that died without saying so).
    public var status: String
    /// Optimizer steps completed.
    public var step: Int
    /// Planned optimizer steps.
    public var totalSteps: Int
    /// The last step's training loss.
    public var loss: Float?
    /// Tokens per second over the recent steps.
    public var tokensPerSecond: Double
    /// Estimated seconds to the planned end.
    public var eta: Double?

    /// Every field given.
    public init(status: String, step: Int, totalSteps: Int, loss: Float?, tokensPerSecond: Double, eta: Double?) {
        self.status = status
        self.step = step
        self.totalSteps = totalSteps
        self.loss = loss
        self.tokensPerSecond = tokensPerSecond
        self.eta = eta
    }

    /// The progress a snapshot shows.
    public init(_ s: Snapshot) {
        self.init(status: s.status.label, step: s.step, totalSteps: s.totalSteps, loss: s.lastStep?.loss,
                  tokensPerSecond: s.tokensPerSecond, eta: s.eta)
    }
}

/// The memory panel's figures as the run measures them: accounted parts, the run's resident set, and the what-if
/// comparison of methods. Computed in the run process (a viewer's own memory is not the run's).
public struct MemoryState: Codable, Sendable, Equatable {
    /// One accounted part ("base nf4+dq", "LoRA A/B", …).
    public struct Part: Codable, Sendable, Equatable {
        /// Name people see.
        public var name: String
        /// Bytes.
        public var bytes: Int
        /// Category (base_weights, adapters, gradients, optimizer_state, activations, logits, scratch, other).
        public var kind: MemoryKind
        /// Every field given.
        public init(name: String, bytes: Int, kind: MemoryKind) {
            self.name = name
            self.bytes = bytes
            self.kind = kind
        }
    }

    /// One row of the method comparison.
    public struct Method: Codable, Sendable, Equatable {
        /// Short label, e.g. "QLoRA NF4+DQ".
        public var name: String
        /// Accounted total bytes.
        public var totalBytes: Int
        /// Total divided by full fine-tuning's total.
        public var ratioToFull: Double
        /// Storage bits per parameter of the linear base weights.
        public var linearBitsPerParam: Double
        /// Every field given.
        public init(name: String, totalBytes: Int, ratioToFull: Double, linearBitsPerParam: Double) {
            self.name = name
            self.totalBytes = totalBytes
            self.ratioToFull = ratioToFull
            self.linearBitsPerParam = linearBitsPerParam
        }
    }

    /// Accounted parts, in display order.
    public var parts: [Part]
    /// The run process's resident set.
    public var residentBytes: Int?
    /// Its peak resident set.
    public var peakResidentBytes: Int?
    /// The comparison, biggest first.
    public var methods: [Method]
    /// Every process's own figures when the run has several (torchrun ranks); absent otherwise.
    public var ranks: [RankMemory]?

    /// Every field given.
    public init(parts: [Part], residentBytes: Int?, peakResidentBytes: Int?, methods: [Method]) {
        self.parts = parts
        self.residentBytes = residentBytes
        self.peakResidentBytes = peakResidentBytes
        self.methods = methods
    }

    /// A run's memory report (with its measured resident set) and the estimator's rows.
    public init(report: MemoryReport, methods: [MethodEstimate]) {
        parts = report.components.map { Part(name: $0.name, bytes: $0.bytes, kind: $0.kind) }
        residentBytes = report.process?.residentBytes
        peakResidentBytes = report.process?.peakResidentBytes
        self.methods = methods.map {
            Method(name: $0.method, totalBytes: $0.total, ratioToFull: $0.ratioToFull, linearBitsPerParam: $0.linearBitsPerParam)
        }
    }
}

/// One process's memory in a run of several (a torchrun rank): its resident set, or its GPU's allocated bytes.
public struct RankMemory: Codable, Sendable, Equatable {
    /// The rank.
    public var rank: Int
    /// "cpu" or "cuda:N".
    public var device: String
    /// The process's resident set.
    public var residentBytes: Int?
    /// On a GPU: the bytes `torch.cuda` has allocated now.
    public var allocatedBytes: Int?
    /// The peak: of the GPU's allocated bytes on a GPU, of the resident set otherwise.
    public var peakBytes: Int?

    public init(rank: Int, device: String, residentBytes: Int? = nil, allocatedBytes: Int? = nil, peakBytes: Int? = nil) {
        self.rank = rank
        self.device = device
        self.residentBytes = residentBytes
        self.allocatedBytes = allocatedBytes
        self.peakBytes = peakBytes
    }
}

/// A curve as two parallel arrays (compact on the wire): `steps[i]` has `values[i]`.
public struct Curve: Codable, Sendable, Equatable {
    /// Optimizer steps, increasing.
    public var steps: [Int]
    /// The values.
    public var values: [Float]

    /// Points as a curve.
    public init(_ points: [LossPoint]) {
        steps = points.map(\.step)
        values = points.map(\.value)
    }

    /// The curve as points (a length mismatch from a bad peer is cut to the shorter array).
    public var points: [LossPoint] { zip(steps, values).map { LossPoint(step: $0, value: $1) } }
}

/// A ghost run kept for comparison after a restart.
public struct GhostCurves: Codable, Sendable, Equatable {
    /// "run 1: r8 α16 lr 2e-4".
    public var label: String
    /// Its training loss.
    public var train: Curve
    /// Its eval loss.
    public var eval: Curve
}

// MARK: - Messages

/// Reads only a message's type, to pick the decoder.
struct MessageType: Decodable {
    let type: String
}

/// Server → client, first message on every connection.
public struct HelloMessage: Codable, Sendable, Equatable {
    /// "hello".
    public var type = "hello"
    /// The protocol version the server speaks.
    public var `protocol`: Int
    /// Server software, e.g. "loratop 0.4".
    public var server: String
    /// The run.
    public var run: RunInfo
    /// Where it is now.
    public var progress: RunProgress
}

/// Client → server: start receiving the full state and then every event.
public struct AttachMessage: Codable, Sendable, Equatable {
    /// "attach".
    public var type = "attach"
    /// A read-only viewer cannot send commands.
    public var readOnly: Bool
    /// Curves longer than this many points are decimated in the state message (default 2000, at most 100,000).
    public var points: Int?
    /// Who is attaching, for the run's log ("loratop attach", "tui").
    public var client: String?
}

/// Client → server: one line of the headless command language.
public struct CommandMessage: Codable, Sendable, Equatable {
    /// "command".
    public var type = "command"
    /// Chosen by the client; the ack carries it back.
    public var id: String
    /// e.g. "lr 1e-4", "rank 16", "pause", "stop", "stop nosave".
    public var line: String
}

/// Server → client: the answer to one command (accepted and queued, or refused with why).
public struct AckMessage: Codable, Sendable, Equatable {
    /// "ack".
    public var type = "ack"
    /// The command's id.
    public var id: String
    /// Whether the command was accepted (it then shows in `pending` and takes effect at the next step boundary).
    public var ok: Bool
    /// The command as the server understood it (`lr 0.0001`), when accepted.
    public var command: String?
    /// Why it was refused.
    public var error: String?
}

/// Client → server: are you there? Server → client: `pong` with the same id.
public struct PingMessage: Codable, Sendable, Equatable {
    /// "ping" or "pong".
    public var type: String
    /// Echoed.
    public var id: String
}

/// Server → client: the connection is being closed because of what the client sent (or who it is).
public struct ErrorMessage: Codable, Sendable, Equatable {
    /// "error".
    public var type = "error"
    /// Machine-readable: too_large, malformed, version, refused, read_only, overloaded.
    public var code: String
    /// For people.
    public var message: String
}

/// Server → client: the whole state of the run, sent on attach and whenever a viewer must start over (a restart, or
/// a viewer that fell too far behind).
public struct StateMessage: Codable, Sendable, Equatable {
    /// "state".
    public var type = "state"
    /// Events numbered up to this are reflected here; later events follow with higher numbers.
    public var seq: UInt64
    /// Status word (see RunProgress.status).
    public var status: String
    /// Why the run failed, when status is failed.
    public var error: String?
    /// Optimizer steps completed.
    public var step: Int
    /// Planned optimizer steps.
    public var totalSteps: Int
    /// Fractional epoch reached.
    public var epoch: Double
    /// Current settings.
    public var settings: TrainingSettings
    /// Training loss per step (decimated when `decimated`).
    public var train: Curve
    /// Eval loss per evaluation.
    public var eval: Curve
    /// Learning rate per step (decimated when `decimated`).
    public var learningRates: Curve
    /// Whether long curves were cut down to the per-slice low and high points.
    public var decimated: Bool
    /// The last step, and the recent steps that tokens/s is averaged over (oldest first, at most 20).
    public var lastStep: StepRecord?
    /// The recent steps.
    public var recentSteps: [StepRecord]
    /// The last evaluation.
    public var lastEval: EvalRecord?
    /// Seconds spent stepping (pauses excluded).
    public var elapsed: Double
    /// Applied changes, oldest first.
    public var changes: [ChangeEvent]
    /// Commands sent but not applied, as command lines.
    public var pending: [String]
    /// The latest samples.
    public var samples: [SampleRecord]
    /// Earlier runs kept after restarts.
    public var ghosts: [GhostCurves]
    /// The last checkpoint written.
    public var lastCheckpoint: String?
    /// Recent messages, newest last.
    public var messages: [String]
    /// Trainable adapter parameters.
    public var trainableParameters: Int
    /// Base parameters.
    public var baseParameters: Int
    /// Whether there is progress since the last checkpoint.
    public var unsaved: Bool
    /// Memory, when measured.
    public var memory: MemoryState?
    /// The latest update inspection, when one was computed (optional: older servers and the PyTorch one omit it).
    public var inspection: UpdateInspection?
    /// Commands this run cannot do, by kind (`rank`, `quant`, `restart`, …), with the reason it gives when refusing
    /// one; a viewer greys what they would change. Absent or empty: every command is supported.
    public var unsupported: [String: String]?
    /// The long phase under way (eval, sampling, saving, re-quantizing) and how far it has got; absent between phases
    /// (and from older servers).
    public var progress: PhaseProgress?
}

/// Server → client: one event. Which fields are set depends on `type` (docs/PROTOCOL.md lists them).
public struct EventMessage: Codable, Sendable, Equatable {
    /// step, eval, change, settings, pending, samples, checkpoint, message, status, memory, inspection, progress.
    public var type: String
    /// The event's number (0 for pending and memory, which carry whole values and are never skipped).
    public var seq: UInt64
    /// step: the step's record.
    public var record: StepRecord?
    /// eval: the evaluation.
    public var eval: EvalRecord?
    /// change: what changed.
    public var change: ChangeEvent?
    /// settings: the settings after a change.
    public var settings: TrainingSettings?
    /// settings: trainable parameters after a change.
    public var trainableParameters: Int?
    /// pending: the commands queued now, as lines (the whole queue; empty when everything was applied).
    public var pending: [String]?
    /// samples: the new samples.
    public var samples: [SampleRecord]?
    /// checkpoint: the folder written.
    public var path: String?
    /// message: a note for people.
    public var text: String?
    /// message: info, warning or error (absent from older runs: info).
    public var level: String?
    /// status: the new status word.
    public var status: String?
    /// status: why it failed.
    public var error: String?
    /// memory: the new figures.
    public var memory: MemoryState?
    /// inspection: the update explained (per-module sizes, spectra, effective ranks, rank advice).
    public var inspection: UpdateInspection?
    /// progress: the long phase under way and how far it has got; absent when the phase has ended.
    public var progress: PhaseProgress?

    /// An event of `type` numbered `seq`; set the fields it carries.
    public init(type: String, seq: UInt64) {
        self.type = type
        self.seq = seq
    }
}

// MARK: - Coding

/// JSON coding as the protocol writes it: snake_case keys, non-finite numbers as the strings "NaN", "Infinity",
/// "-Infinity", no pretty printing (one message = one line).
public enum WireCoding {
    /// An encoder for protocol messages.
    public static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        e.outputFormatting = [.withoutEscapingSlashes]
        return e
    }

    /// A decoder for protocol messages.
    public static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        d.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return d
    }

    /// One message as a line: its JSON and a newline.
    public static func line<T: Encodable>(_ message: T, encoder: JSONEncoder = WireCoding.encoder()) throws -> [UInt8] {
        var bytes = Array(try encoder.encode(message))
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    /// The `type` of a message line, or nil when the line is not a JSON object with a string `type`.
    public static func type(of line: [UInt8], decoder: JSONDecoder = WireCoding.decoder()) -> String? {
        (try? decoder.decode(MessageType.self, from: Data(line)))?.type
    }
}
