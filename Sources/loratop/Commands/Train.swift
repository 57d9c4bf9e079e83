import ArgumentParser
import Foundation
import LoRAKit
import TerminalUI
import LoraTopConfig

/// `loratop train`: fine-tune a LoRA / QLoRA adapter, watched in the terminal UI (or headless).
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a LoRA / QLoRA adapter and watch it live (headless when stdout is not a terminal).",
        discussion: """
        Headless mode prints one line per step, writes a JSONL metrics log, and reads commands from stdin:
        rank 16, alpha 32, lr 1e-4, dropout 0.05, quant nf4, pause, resume, save, eval, sample, restart, stop.
        SIGINT/SIGTERM stop after the current step and save a checkpoint; SIGHUP saves and exits.
        """)

    @Option(help: "Base model: smollm2 (the cached sample), a GGUF file or a Hugging Face folder.")
    var model: String?
    @Option(help: "A random-weight model of a preset shape with the byte-level tokenizer (tiny, small, smollm2-135m); for tests.")
    var preset: String?
    @Option(help: "Training data: .txt or .jsonl (text, prompt/completion, messages, alpaca).")
    var data: String?
    @Option(name: .customLong("eval-data"), help: "Held-out data (default: a fraction of --data, see --val-set-size).")
    var evalData: String?
    @Option(name: .customLong("val-set-size"), help: "Fraction of --data held out when there is no --eval-data [0.05].")
    var valSetSize: Double?
    @Option(help: "A YAML run file (PEFT / axolotl key names); flags override it.")
    var config: String?

    @Option(help: "LoRA rank r [8].") var rank: Int?
    @Option(help: "LoRA alpha [16].") var alpha: Float?
    @Option(help: "Dropout on the LoRA input [0].") var dropout: Float?
    @Option(help: "Adapted projections [q,k,v,o,gate,up,down].") var targets: String?
    @Flag(help: "Scale by alpha/√r (rsLoRA).") var rslora = false

    @Option(help: "Base storage: none, int8, fp4, nf4, source [none].") var quant: String?
    @Flag(name: .customLong("double-quant"), help: "Double-quantize the block scales.") var doubleQuant = false
    @Option(name: .customLong("block-size"), help: "Quantization block size [64].") var blockSize: Int?
    @Flag(help: "Recompute block activations in backward (less memory).") var checkpointing = false
    @Option(help: "Precision of the base's products: auto (bf16 where the CPU has native bf16), fp32, bf16 [auto].")
    var compute: String?

    @Option(help: "Peak learning rate [2e-4].") var lr: Float?
    @Option(help: "constant, linear or cosine [cosine].") var schedule: String?
    @Option(help: "Warm-up steps [10].") var warmup: Int?
    @Option(name: .customLong("batch-size"), help: "Sequences per micro-batch [4].") var batchSize: Int?
    @Option(name: .customLong("grad-accum"), help: "Micro-batches per step [1].") var gradAccum: Int?
    @Option(name: .customLong("seq-len"), help: "Tokens per sequence [128].") var seqLen: Int?
    @Option(name: .customLong("max-steps"), help: "Optimizer steps (default: from --epochs).") var maxSteps: Int?
    @Option(help: "Passes over the data [1].") var epochs: Double?
    @Option(name: .customLong("eval-every"), help: "Evaluate every N steps [end only].") var evalEvery: Int?
    @Option(name: .customLong("save-every"), help: "Save a checkpoint every N steps [end only].") var saveEvery: Int?
    @Option(name: .customLong("sample-every"), help: "Generate samples every N steps [on request].") var sampleEvery: Int?
    @Option(name: .customLong("inspect-every"),
            help: "Compute the update inspection (the Inside panel: sizes, spectra, rank advice) every N steps [while the panel is shown].")
    var inspectEvery: Int?
    @Option(help: "Checkpoints to keep [3].") var keep: Int?
    @Option(help: "Random seed [0].") var seed: UInt64?
    @Option(help: "Compute threads [2].") var threads: Int?
    @Option(help: "Folder for checkpoints [runs/latest].") var output: String?
    @Option(help: "JSONL metrics file [OUTPUT/metrics.jsonl].") var metrics: String?
    @Option(help: "Resume from a checkpoint folder (or an output folder: its newest checkpoint) with every setting it stored; flags given override them.")
    var resume: String?
    @Flag(name: .customLong("no-save"), help: "Do not save a checkpoint when stopped or finished.") var noSave = false
    @Option(help: "Save a checkpoint after a step when this many minutes have passed since the last save (0 = off).")
    var autosave: Double = 10

    @Flag(help: "No terminal UI: progress lines on stdout, commands on stdin.") var headless = false
    @Flag(help: "Train in this process with the terminal UI (no detach; the run ends with the terminal's process).")
    var foreground = false
    @Flag(name: .customLong("serve-detached"), help: .hidden) var serveDetached = false
    @Option(help: "Theme name.") var theme: String?
    @Option(name: .customLong("themes-dir"), help: "Extra folder of *.theme files, searched first.") var themesDir: String?
    @Option(help: "Frame cap of the UI [10].") var fps: Int?
    @Flag(help: "ASCII glyphs only.") var ascii = false

    /// The run options: defaults, then the run file, then the flags. A resumed run starts from the checkpoint's settings.
    func runOptions() throws -> (RunOptions, RunConfig) {
        let file = try config.map { try RunConfig.load(path: $0) } ?? RunConfig()
        if let dir = resume ?? file.resumeFromCheckpoint {
            let (o, changes) = try resumedOptions(from: dir, file: file)
            changes.forEach { note("resume: " + $0) }
            return (o, file)
        }
        var o = RunOptions()
        func pick<T>(_ flag: T?, _ key: T?, _ fallback: T) -> T { flag ?? key ?? fallback }
        if let p = preset {
            guard TrainingRun.presetConfig(p) != nil else { throw ValidationError("--preset: unknown preset `\(p)`; expected tiny, small or smollm2-135m") }
            o.model = "preset:" + p
        } else {
            o.model = pick(model, file.baseModel, "smollm2")
        }
        o.data = pick(data, file.datasets, "")
        o.evalData = evalData ?? file.evalDataset
        o.valSetSize = pick(valSetSize, file.valSetSize, o.valSetSize)
        o.lora.rank = pick(rank, file.loraR, 8)
        o.lora.alpha = pick(alpha, file.loraAlpha.map(Float.init), 16)
        o.lora.dropout = pick(dropout, file.loraDropout.map(Float.init), 0)
        if let t = targets {
            o.lora.targets = try LoRATarget.parseList(t)
        } else if let t = file.loraTargetModules {
            o.lora.targets = try LoRATarget.parseList(t.joined(separator: ","))
        }
        o.lora.useRSLoRA = rslora || (file.useRslora ?? false)
        let q = quant ?? file.effectiveQuant ?? "none"
        guard let kind = QuantKind(parsing: q) else { throw ValidationError("--quant: expected none, int8, fp4, nf4 or source, found `\(q)`") }
        o.quant = kind
        o.doubleQuant = doubleQuant || (file.bnb4bitUseDoubleQuant ?? false)
        o.blockSize = pick(blockSize, file.quantBlockSize, 64)
        o.checkpointing = checkpointing || (file.gradientCheckpointing ?? false)
        o.compute = try Self.computePrecision(compute ?? file.compute ?? "auto")
        o.optimizer.learningRate = pick(lr, file.learningRate.map(Float.init), 2e-4)
        let sched = pick(schedule, file.lrScheduler, "cosine")
        guard let kindSched = LRScheduleKind(rawValue: sched) else {
            throw ValidationError("--schedule: expected constant, linear or cosine, found `\(sched)`")
        }
        o.optimizer.schedule.kind = kindSched
        o.optimizer.schedule.warmupSteps = pick(warmup, file.warmupSteps, 10)
        if let wd = file.weightDecay { o.optimizer.weightDecay = Float(wd) }
        if let c = file.maxGradNorm { o.optimizer.maxGradNorm = Float(c) }
        o.batchSize = pick(batchSize, file.microBatchSize, 4)
        o.gradAccum = pick(gradAccum, file.gradientAccumulationSteps, 1)
        o.seqLen = pick(seqLen, file.sequenceLen, 128)
        o.maxSteps = maxSteps ?? file.maxSteps
        o.epochs = pick(epochs, file.numEpochs, 1)
        o.evalEvery = pick(evalEvery, file.evalSteps, 0)
        o.saveEvery = pick(saveEvery, file.saveSteps, 0)
        o.sampleEvery = pick(sampleEvery, file.sampleSteps, 0)
        o.inspectEvery = inspectEvery ?? file.inspectSteps
        o.keep = pick(keep, file.saveTotalLimit, 3)
        o.seed = pick(seed, file.seed.map(UInt64.init), 0)
        o.threads = pick(threads, file.threads, 2)
        o.output = pick(output, file.outputDir, "runs/latest")
        return (o, file)
    }

    func validate() throws {
        if let f = fps, !(1...60).contains(f) { throw ValidationError("--fps: expected 1…60, found \(f)") }
        if model != nil && preset != nil { throw ValidationError("give either --model or --preset, not both") }
        if let n = inspectEvery, n < 0 { throw ValidationError("--inspect-every: expected 0 (only while the Inside panel is shown) or more, found \(n)") }
        if !(autosave >= 0 && autosave.isFinite) { throw ValidationError("--autosave: expected minutes ≥ 0 (0 = off), found \(autosave)") }
    }

    func run() throws {
        let (options, file) = try runOptions()
        do {
            try options.validate()
        } catch let e as RunOptionsError {
            throw fromConfigFile(flag: e.flag, e.message) ?? ValidationError(e.description)
        } catch let e as LoRAConfigError {
            throw fromConfigFile(flag: RunConfig.flag(ofLoRAField: e.field), e.message) ?? ValidationError(e.description)
        }
        let isTTY = isatty(STDOUT_FILENO) == 1 && isatty(STDIN_FILENO) == 1
        let unusable = isTTY && !headless && !serveDetached
            ? NCursesBackend.unusableTerminal(ProcessInfo.processInfo.environment["TERM"]) : nil
        let mode: RunHost.Mode
        if serveDetached {
            mode = .detached
        } else if headless || !isTTY || unusable != nil {
            if let why = unusable {
                note("\(why): running headless (a line per step; commands such as `lr 1e-4` or `stop` on stdin)")
            }
            mode = .headless
        } else if foreground {
            mode = .foreground
        } else {
            // The terminal UI is a viewer: the run becomes a process of its own (its own session, output in run.log)
            // and this process attaches to it.
            throw ExitCode(try DetachedLaunch(train: self, options: options).run())
        }
        let host = try RunHost(train: self, options: options, file: file, mode: mode)
        throw ExitCode(try host.run())
    }

    /// A bad value that came from the `--config` file (its flag is not on the command line) as the file's error:
    /// "run.yaml: micro_batch_size: expected 1…4096, found 65536", without the command line's usage text.
    func fromConfigFile(flag: String, _ message: String) -> Error? {
        guard let path = config, let key = RunConfig.key(ofFlag: flag) else { return nil }
        let given = CommandLine.arguments.contains { $0 == flag || $0.hasPrefix(flag + "=") }
        guard !given else { return nil }
        return FileError(path: path, message: "\(key): " + message, hint: "fix the value in the file, or give \(flag) to override it")
    }

    /// The engine options of this command line.
    func engineOptions(_ options: RunOptions, mode: RunHost.Mode) -> EngineOptions {
        var e = EngineOptions()
        e.evalEvery = options.evalEvery
        e.saveEvery = options.saveEvery
        e.autosaveSeconds = autosave * 60
        e.sampleEvery = options.sampleEvery
        e.inspectEvery = max(0, options.inspectEvery ?? 0)
        e.saveAtEnd = !noSave
        // A run with an interactive viewer waits when it is done (for `n`, a new run); it ends when no viewer is left.
        e.exitWhenFinished = mode == .headless
        // Diverging with nobody to see it stops the run (failed, exit 1); with a viewer it pauses for a lower lr or alpha.
        e.stopOnDivergence = mode == .headless
        return e
    }

    /// Parses a `--compute` / `compute:` value.
    static func computePrecision(_ text: String) throws -> ComputePrecision {
        guard let p = ComputePrecision(parsing: text) else {
            throw ValidationError("--compute: expected auto, fp32 or bf16, found `\(text)`")
        }
        return p
    }

    func note(_ s: String) {
        Output.err("loratop: \(s)\n")
    }
}

extension TrainingRun {
    /// One line about what is being trained.
    func describe() -> String {
        let s = settings
        let pct = Double(trainableParameters) / Double(max(1, baseParameters)) * 100
        return "\(modelPath): \(model.config.layers) layers, " + String(format: "%.1fM", Double(baseParameters) / 1e6) + " params, base \(s.quantization), "
            + "compute \(s.compute ?? "fp32")\(compute.note.map { " (\($0))" } ?? ""); "
            + "LoRA r\(s.rank) α\(formatNumber(s.alpha)) on \(s.targets.joined(separator: ",")): \(trainableParameters) trainable "
            + String(format: "(%.2f%%)", pct) + "; \(train.examples.count) train / \(eval.examples.count) eval examples"
            + (train.stats.truncated > 0 ? ", \(train.stats.truncated) truncated to \(options.seqLen + 1) tokens" : "")
            + "; \(totalSteps) steps of \(options.batchSize)×\(options.seqLen)" + (options.gradAccum > 1 ? "×\(options.gradAccum)" : "")
    }
}
