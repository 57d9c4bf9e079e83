import Foundation
import LoRAKit
import Yams

/// A run configuration file (`--config run.yaml`). Keys use the names people know from PEFT and axolotl where they
/// exist; every key is optional, flags given on the command line override the file, and an unknown key is an error
/// that names the nearest known key.
public struct RunConfig: Codable, Equatable, Sendable {
    /// An empty file: every setting from flags or defaults.
    public init() {}

    /// Base model: `smollm2`, a GGUF file or a Hugging Face folder.
    public var baseModel: String?
    /// Training data file (.txt or .jsonl).
    public var datasets: String?
    /// Separate evaluation data file.
    public var evalDataset: String?
    /// Fraction of the training data held out for evaluation when there is no eval file.
    public var valSetSize: Double?
    /// LoRA rank.
    public var loraR: Int?
    /// LoRA alpha.
    public var loraAlpha: Double?
    /// Dropout on the LoRA input.
    public var loraDropout: Double?
    /// Adapted modules: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (or q, k, v, ...).
    public var loraTargetModules: [String]?
    /// Scale by alpha/√r (rsLoRA).
    public var useRslora: Bool?
    /// Base storage: none, int8, fp4, nf4, source.
    public var quant: String?
    /// axolotl/bitsandbytes style: a 4-bit base (nf4 unless bnb_4bit_quant_type says fp4).
    public var loadIn4bit: Bool?
    /// axolotl/bitsandbytes style: an 8-bit base.
    public var loadIn8bit: Bool?
    /// nf4 or fp4, with load_in_4bit.
    public var bnb4bitQuantType: String?
    /// Double quantization of the block scales.
    public var bnb4bitUseDoubleQuant: Bool?
    /// Quantization block size.
    public var quantBlockSize: Int?
    /// Recompute block activations in backward.
    public var gradientCheckpointing: Bool?
    /// Precision of the base's products: auto, fp32, bf16.
    public var compute: String?
    /// Peak learning rate.
    public var learningRate: Double?
    /// constant, linear or cosine.
    public var lrScheduler: String?
    /// Linear warm-up steps.
    public var warmupSteps: Int?
    /// AdamW decoupled weight decay.
    public var weightDecay: Double?
    /// Global gradient-norm clip (0 = off).
    public var maxGradNorm: Double?
    /// Sequences per micro-batch.
    public var microBatchSize: Int?
    /// Micro-batches per optimizer step.
    public var gradientAccumulationSteps: Int?
    /// Tokens per sequence.
    public var sequenceLen: Int?
    /// Optimizer steps to run (overrides num_epochs).
    public var maxSteps: Int?
    /// Passes over the training data.
    public var numEpochs: Double?
    /// Evaluate every N steps.
    public var evalSteps: Int?
    /// Save a checkpoint every N steps.
    public var saveSteps: Int?
    /// Generate samples every N steps.
    public var sampleSteps: Int?
    /// Compute the update inspection (the Inside panel's figures) every N steps.
    public var inspectSteps: Int?
    /// Checkpoints to keep.
    public var saveTotalLimit: Int?
    /// Random seed.
    public var seed: Int?
    /// Compute threads.
    public var threads: Int?
    /// Folder for checkpoints and the final adapter.
    public var outputDir: String?
    /// JSONL metrics file.
    public var metricsFile: String?
    /// Checkpoint folder to resume from.
    public var resumeFromCheckpoint: String?
    /// Theme name.
    public var theme: String?
    /// Frame cap of the terminal UI.
    public var fps: Int?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case baseModel = "base_model"
        case datasets
        case evalDataset = "eval_dataset"
        case valSetSize = "val_set_size"
        case loraR = "lora_r"
        case loraAlpha = "lora_alpha"
        case loraDropout = "lora_dropout"
        case loraTargetModules = "lora_target_modules"
        case useRslora = "use_rslora"
        case quant
        case loadIn4bit = "load_in_4bit"
        case loadIn8bit = "load_in_8bit"
        case bnb4bitQuantType = "bnb_4bit_quant_type"
        case bnb4bitUseDoubleQuant = "bnb_4bit_use_double_quant"
        case quantBlockSize = "quant_block_size"
        case gradientCheckpointing = "gradient_checkpointing"
        case compute
        case learningRate = "learning_rate"
        case lrScheduler = "lr_scheduler"
        case warmupSteps = "warmup_steps"
        case weightDecay = "weight_decay"
        case maxGradNorm = "max_grad_norm"
        case microBatchSize = "micro_batch_size"
        case gradientAccumulationSteps = "gradient_accumulation_steps"
        case sequenceLen = "sequence_len"
        case maxSteps = "max_steps"
        case numEpochs = "num_epochs"
        case evalSteps = "eval_steps"
        case saveSteps = "save_steps"
        case sampleSteps = "sample_steps"
        case inspectSteps = "inspect_steps"
        case saveTotalLimit = "save_total_limit"
        case seed
        case threads
        case outputDir = "output_dir"
        case metricsFile = "metrics_file"
        case resumeFromCheckpoint = "resume_from_checkpoint"
        case theme
        case fps
    }

    /// Other spellings accepted for a key (PEFT/axolotl variants) → the canonical key.
    public static let aliases: [String: String] = [
        "model": "base_model", "dataset": "datasets", "data": "datasets", "r": "lora_r",
        "peft_use_rslora": "use_rslora", "target_modules": "lora_target_modules", "lr": "learning_rate",
        "batch_size": "micro_batch_size", "seq_len": "sequence_len", "epochs": "num_epochs",
        "warmup": "warmup_steps", "output": "output_dir", "metrics": "metrics_file",
    ]

    /// The run-file key a command-line flag sets (what a range error about a value from the file names).
    public static let keysOfFlags: [String: String] = [
        "--data": "datasets", "--val-set-size": "val_set_size", "--rank": "lora_r", "--alpha": "lora_alpha",
        "--dropout": "lora_dropout", "--targets": "lora_target_modules", "--batch-size": "micro_batch_size",
        "--grad-accum": "gradient_accumulation_steps", "--seq-len": "sequence_len", "--max-steps": "max_steps",
        "--epochs": "num_epochs", "--threads": "threads", "--keep": "save_total_limit", "--lr": "learning_rate",
        "--block-size": "quant_block_size",
    ]

    public static func key(ofFlag flag: String) -> String? { keysOfFlags[flag] }

    /// The flag of a `LoRAConfigError` field (`r`, `lora_alpha`, ...).
    public static func flag(ofLoRAField field: String) -> String {
        ["r": "--rank", "lora_alpha": "--alpha", "lora_dropout": "--dropout", "target_modules": "--targets"][field] ?? field
    }

    /// Every key the file may use.
    public static var knownKeys: [String] { CodingKeys.allCases.map(\.rawValue) + aliases.keys.sorted() }

    /// Reads and validates a YAML run file.
    public static func load(path: String) throws -> RunConfig {
        guard let data = try RegularFile.contents(path) else {
            throw ConfigError(path: path, line: nil, message: "cannot read the file", hint: "check the path given to --config")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigError(path: path, line: nil, message: "the file is not UTF-8 text", hint: nil)
        }
        return try parse(text, path: path)
    }

    /// Parses YAML text; `path` is used in messages.
    public static func parse(_ text: String, path: String) throws -> RunConfig {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch let e as YamlError {
            throw ConfigError(path: path, line: nil, message: "not valid YAML: \(e)", hint: nil)
        }
        guard let root = node else { return RunConfig() }
        guard case .mapping(let mapping) = root else {
            throw ConfigError(path: path, line: root.mark.map { $0.line }, message: "expected a mapping of `key: value` lines",
                              hint: "see README.md for an example run.yaml")
        }
        var canonical = Node.Mapping([])
        for (keyNode, value) in mapping {
            let line = keyNode.mark.map { $0.line }
            guard let key = keyNode.string else {
                throw ConfigError(path: path, line: line, message: "a key is not a plain string", hint: nil)
            }
            let name = aliases[key] ?? key
            guard CodingKeys(rawValue: name) != nil else {
                let near = Nearest.match(to: key, in: knownKeys)
                throw ConfigError(path: path, line: line, message: "unknown key `\(key)`",
                                  hint: near.map { "did you mean `\($0)`?" })
            }
            if canonical[Node(name)] != nil {
                throw ConfigError(path: path, line: line, message: "`\(key)` is given twice", hint: "keep one of them")
            }
            canonical[Node(name)] = normalise(name, value)
        }
        do {
            var config = try YAMLDecoder().decode(RunConfig.self, from: Node.mapping(canonical))
            config.loraTargetModules = config.loraTargetModules.map { $0.map(RunConfig.shortModuleName) }
            try config.validate(path: path)
            return config
        } catch let e as DecodingError {
            throw ConfigError(path: path, line: e.line(in: mapping), message: e.plainMessage, hint: nil)
        }
    }

    /// `datasets` may be a string, a list of strings or axolotl's list of `{path: ...}`: keep the first path.
    private static func normalise(_ key: String, _ value: Node) -> Node {
        guard key == "datasets", case .sequence(let seq) = value, let first = seq.first else { return value }
        if case .mapping(let m) = first, let p = m["path"] { return p }
        return first
    }

    /// q_proj → q, mlp.up_proj → up; short names pass through.
    public static func shortModuleName(_ name: String) -> String {
        var n = name
        if let dot = n.lastIndex(of: ".") { n = String(n[n.index(after: dot)...]) }
        if n.hasSuffix("_proj") { n.removeLast(5) }
        return n
    }

    /// Range checks with the key named.
    public func validate(path: String) throws {
        func fail(_ key: String, _ message: String) -> ConfigError {
            ConfigError(path: path, line: nil, message: "`\(key)`: \(message)", hint: nil)
        }
        if let r = loraR, !(1...4096).contains(r) { throw fail("lora_r", "expected 1…4096, found \(r)") }
        if let a = loraAlpha, !(a > 0) { throw fail("lora_alpha", "expected a positive number, found \(a)") }
        if let p = loraDropout, !(0..<1).contains(p) { throw fail("lora_dropout", "expected 0 ≤ p < 1, found \(p)") }
        if let t = loraTargetModules {
            let known = ["q", "k", "v", "o", "gate", "up", "down"]
            for m in t where !known.contains(m) {
                throw fail("lora_target_modules", "unknown module `\(m)`; expected some of q, k, v, o, gate, up, down")
            }
        }
        if let q = quant, !["none", "int8", "fp4", "nf4", "source"].contains(q) {
            throw fail("quant", "expected none, int8, fp4, nf4 or source, found `\(q)`")
        }
        if let c = compute, ComputePrecision(parsing: c) == nil { throw fail("compute", "expected auto, fp32 or bf16, found `\(c)`") }
        if let q = bnb4bitQuantType, !["nf4", "fp4"].contains(q) { throw fail("bnb_4bit_quant_type", "expected nf4 or fp4, found `\(q)`") }
        if let s = lrScheduler, !["constant", "linear", "cosine"].contains(s) {
            throw fail("lr_scheduler", "expected constant, linear or cosine, found `\(s)`")
        }
        if let lr = learningRate, !(lr > 0 && lr < 10) { throw fail("learning_rate", "expected 0 < lr < 10, found \(lr)") }
        for (key, value) in [("micro_batch_size", microBatchSize), ("gradient_accumulation_steps", gradientAccumulationSteps),
                             ("sequence_len", sequenceLen), ("max_steps", maxSteps), ("threads", threads), ("fps", fps),
                             ("save_total_limit", saveTotalLimit), ("quant_block_size", quantBlockSize)] {
            if let v = value, v < 1 { throw fail(key, "expected a positive whole number, found \(v)") }
        }
        for (key, value) in [("warmup_steps", warmupSteps), ("eval_steps", evalSteps), ("save_steps", saveSteps),
                             ("sample_steps", sampleSteps), ("inspect_steps", inspectSteps), ("seed", seed)] {
            if let v = value, v < 0 { throw fail(key, "expected zero or more, found \(v)") }
        }
        if let v = valSetSize, !(0..<1).contains(v) { throw fail("val_set_size", "expected a fraction 0 ≤ x < 1, found \(v)") }
        if let e = numEpochs, !(e > 0) { throw fail("num_epochs", "expected a positive number, found \(e)") }
    }

    /// The file as YAML text (keys in declaration order).
    public func yaml() throws -> String {
        try YAMLEncoder().encode(self)
    }

    /// The quantization the file asks for, from `quant` or the bitsandbytes-style keys.
    public var effectiveQuant: String? {
        if let q = quant { return q }
        if loadIn4bit == true { return bnb4bitQuantType ?? "nf4" }
        if loadIn8bit == true { return "int8" }
        return nil
    }
}

/// A problem in a run configuration file.
public struct ConfigError: Error, CustomStringConvertible, Sendable {
    /// The run file.
    public let path: String
    /// The line of the key, when known.
    public let line: Int?
    /// What is wrong.
    public let message: String
    /// What to do about it.
    public let hint: String?

    /// An error about `path` (at `line`), with an optional hint.
    public init(path: String, line: Int?, message: String, hint: String?) {
        self.path = path
        self.line = line
        self.message = message
        self.hint = hint
    }

    public var description: String {
        "\(path)\(line.map { ":\($0)" } ?? ""): \(message)" + (hint.map { " (\($0))" } ?? "")
    }
}

extension DecodingError {
    /// A message without Swift type names.
    var plainMessage: String {
        switch self {
        case .typeMismatch(let type, let ctx):
            return "`\(ctx.codingPath.map(\.stringValue).joined(separator: "."))`: expected \(Self.friendly(type))"
        case .valueNotFound(let type, let ctx):
            return "`\(ctx.codingPath.map(\.stringValue).joined(separator: "."))`: expected \(Self.friendly(type)), found nothing"
        case .keyNotFound(let key, _):
            return "missing `\(key.stringValue)`"
        case .dataCorrupted(let ctx):
            let key = ctx.codingPath.map(\.stringValue).joined(separator: ".")
            return (key.isEmpty ? "" : "`\(key)`: ") + ctx.debugDescription
        @unknown default:
            return "\(self)"
        }
    }

    /// The line of the offending key, when it can be found.
    func line(in mapping: Node.Mapping) -> Int? {
        let ctx: Context
        switch self {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): ctx = c
        case .keyNotFound(_, let c): ctx = c
        @unknown default: return nil
        }
        guard let first = ctx.codingPath.first?.stringValue else { return nil }
        for (k, _) in mapping {
            if let s = k.string, (RunConfig.aliases[s] ?? s) == first { return k.mark.map { $0.line } }
        }
        return nil
    }

    private static func friendly(_ type: Any.Type) -> String {
        switch "\(type)" {
        case "Int", "Optional<Int>": return "a whole number"
        case "Double", "Optional<Double>": return "a number"
        case "Bool", "Optional<Bool>": return "true or false"
        case "String", "Optional<String>": return "text"
        case "Array<String>", "Optional<Array<String>>": return "a list of names"
        default: return "\(type)"
        }
    }
}
