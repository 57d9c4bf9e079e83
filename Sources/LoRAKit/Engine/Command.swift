/// A request to the training engine. Commands are queued from any thread and applied at the next step boundary.
public enum Command: Sendable, Equatable {
    /// Change the LoRA rank of every adapted module (keeps what was learned).
    case setRank(Int)
    /// Change LoRA alpha (scaling = alpha/r, or alpha/√r with rsLoRA).
    case setAlpha(Float)
    /// Change the peak learning rate; the schedule continues from the current step.
    case setLearningRate(Float)
    /// Change the dropout probability on the LoRA input.
    case setDropout(Float)
    /// Re-quantize the frozen base from the source weights: "none", "int8", "fp4", "nf4" or "source".
    case setQuantization(String)
    /// Stop stepping until `resume`.
    case pause
    /// Continue after `pause`.
    case resume
    /// Write a checkpoint now.
    case saveCheckpoint
    /// Run an evaluation now.
    case evaluateNow
    /// Generate samples now.
    case sampleNow
    /// Compute the update inspection (sizes, spectra, effective ranks, rank advice) at the next step boundary.
    case inspect
    /// Restart training from the same base and data with the current settings; the old curve stays as a ghost.
    case restart
    /// Stop the run; `save` writes a final checkpoint first.
    case stop(save: Bool)

    /// A short label for status lines and logs, e.g. "rank 16".
    public var label: String {
        switch self {
        case .setRank(let r): return "rank \(r)"
        case .setAlpha(let a): return "alpha \(formatNumber(a))"
        case .setLearningRate(let lr): return "lr \(formatNumber(lr))"
        case .setDropout(let p): return "dropout \(formatNumber(p))"
        case .setQuantization(let q): return "quant \(q)"
        case .pause: return "pause"
        case .resume: return "resume"
        case .saveCheckpoint: return "save"
        case .evaluateNow: return "eval"
        case .sampleNow: return "sample"
        case .inspect: return "inspect"
        case .restart: return "restart"
        case .stop(let save): return save ? "stop" : "stop (no save)"
        }
    }

    /// The command as a line of the headless command language, which `parse` reads back to the same command:
    /// `rank 16`, `alpha 32`, `lr 0.0001`, `quant nf4`, `stop nosave`, ... (numbers in full precision).
    public var line: String {
        switch self {
        case .setRank(let r): return "rank \(r)"
        case .setAlpha(let a): return "alpha \(a)"
        case .setLearningRate(let lr): return "lr \(lr)"
        case .setDropout(let p): return "dropout \(p)"
        case .setQuantization(let q): return "quant \(q)"
        case .pause: return "pause"
        case .resume: return "resume"
        case .saveCheckpoint: return "save"
        case .evaluateNow: return "eval"
        case .sampleNow: return "sample"
        case .inspect: return "inspect"
        case .restart: return "restart"
        case .stop(let save): return save ? "stop" : "stop nosave"
        }
    }

    /// Whether this command changes a training setting (and so becomes a change event when applied).
    public var isSettingChange: Bool {
        switch self {
        case .setRank, .setAlpha, .setLearningRate, .setDropout, .setQuantization: return true
        default: return false
        }
    }

    /// Parses one line of the headless command language: `rank 16`, `alpha 32`, `lr 1e-4`, `dropout 0.1`,
    /// `quant nf4`, `pause`, `resume`, `save`, `eval`, `sample`, `inspect`, `restart`, `stop`, `stop nosave`.
    public static func parse(_ line: String) throws -> Command {
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first?.lowercased() else { throw CommandParseError(line: line, message: "empty command") }
        func number() throws -> Double {
            guard words.count == 2 else {
                throw CommandParseError(line: line, message: "`\(verb)` takes one number, e.g. `\(verb) \(example(verb))`")
            }
            guard let v = Double(words[1]), v.isFinite else {
                throw CommandParseError(line: line, message: "expected a number after `\(verb)`, found `\(words[1])`")
            }
            return v
        }
        func noArgs(_ c: Command) throws -> Command {
            guard words.count == 1 else { throw CommandParseError(line: line, message: "`\(verb)` takes no arguments") }
            return c
        }
        switch verb {
        case "rank", "r":
            let v = try number()
            guard v >= 1, v <= 4096, v == v.rounded() else {
                throw CommandParseError(line: line, message: "rank must be a whole number from 1 to 4096, found \(words[1])")
            }
            return .setRank(Int(v))
        case "alpha":
            let v = try number()
            guard LiveLimits.alpha.contains(Float(v)) else {
                throw CommandParseError(line: line, message: "alpha must be from \(LiveLimits.describe(LiveLimits.alpha)), found \(words[1])")
            }
            return .setAlpha(Float(v))
        case "lr", "learning-rate", "learning_rate":
            let v = try number()
            guard LiveLimits.learningRate.contains(Float(v)) else {
                throw CommandParseError(line: line, message: "lr must be from \(LiveLimits.describe(LiveLimits.learningRate)), found \(words[1])")
            }
            return .setLearningRate(Float(v))
        case "dropout":
            let v = try number()
            guard v >= 0, v < 1 else { throw CommandParseError(line: line, message: "dropout must be in [0, 1), found \(words[1])") }
            return .setDropout(Float(v))
        case "quant", "quantization":
            guard words.count == 2 else {
                throw CommandParseError(line: line, message: "`quant` takes one of none, int8, fp4, nf4, source")
            }
            let q = words[1].lowercased()
            guard ["none", "int8", "fp4", "nf4", "source"].contains(q) else {
                throw CommandParseError(line: line, message: "unknown quantization `\(words[1])`; expected none, int8, fp4, nf4 or source")
            }
            return .setQuantization(q)
        case "pause": return try noArgs(.pause)
        case "resume", "continue": return try noArgs(.resume)
        case "save": return try noArgs(.saveCheckpoint)
        case "eval", "evaluate": return try noArgs(.evaluateNow)
        case "sample": return try noArgs(.sampleNow)
        case "inspect": return try noArgs(.inspect)
        case "restart": return try noArgs(.restart)
        case "stop", "quit":
            if words.count == 2, ["nosave", "--no-save", "no-save"].contains(words[1].lowercased()) { return .stop(save: false) }
            return try noArgs(.stop(save: true))
        default:
            throw CommandParseError(
                line: line,
                message: "unknown command `\(verb)`; expected rank, alpha, lr, dropout, quant, pause, resume, save, eval, sample, inspect, restart or stop")
        }
    }

    private static func example(_ verb: String) -> String {
        switch verb {
        case "rank", "r": return "16"
        case "alpha": return "32"
        case "dropout": return "0.05"
        default: return "1e-4"
        }
    }
}

/// A command line that could not be understood.
public struct CommandParseError: Error, CustomStringConvertible, Sendable {
    /// The line as typed.
    public let line: String
    /// What was wrong and what was expected.
    public let message: String
    public var description: String { "command `\(line)`: \(message)" }
}

/// Formats a number compactly: 0.0002 → "2e-04", 16 → "16", 0.05 → "0.05".
public func formatNumber(_ v: Float) -> String {
    if v == v.rounded(), abs(v) < 1e6 { return String(Int(v)) }
    let a = abs(v)
    if a >= 0.01 && a < 1e4 {
        var s = String(format: "%.4f", Double(v))
        while s.hasSuffix("0") { s.removeLast() }
        if s.hasSuffix(".") { s.removeLast() }
        return s
    }
    return String(format: "%.0e", Double(v))
}

#if canImport(Foundation)
import Foundation
#endif
