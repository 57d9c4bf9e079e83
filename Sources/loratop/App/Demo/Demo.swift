import ArgumentParser
import Foundation
import LoRAKit

/// `loratop demo`: the interactive UI on a simulated run (no model file needed) for trying keys, themes and terminals.
struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run the interactive UI on a simulated training run (no model; losses are synthetic).",
        discussion: "Memory figures are real estimates for SmolLM2-135M's shape; losses, samples and checkpoints are simulated."
    )

    @Option(name: .customLong("max-steps"), help: "Planned steps.")
    var maxSteps: Int = 2000

    @Option(name: .customLong("step-ms"), help: "Wall time of one simulated step in milliseconds.")
    var stepMilliseconds: Int = 50

    @Option(help: "LoRA rank r.")
    var rank: Int = 8

    @Option(help: "LoRA alpha.")
    var alpha: Float = 16

    @Option(help: "Peak learning rate.")
    var lr: Float = 2e-4

    @Option(help: "Base storage: none, int8, fp4, nf4, source.")
    var quant: String = "nf4"

    @Option(name: .customLong("batch-size"), help: "Sequences per step.")
    var batchSize: Int = 4

    @Option(name: .customLong("seq-len"), help: "Tokens per sequence.")
    var seqLen: Int = 128

    @Option(name: .customLong("eval-every"), help: "Evaluate every N steps (0 = only on request).")
    var evalEvery: Int = 100

    @Option(help: "Seed of the simulated noise.")
    var seed: UInt64 = 0

    @Option(help: "Theme name.")
    var theme: String?

    @Option(name: .customLong("themes-dir"), help: "Extra folder of .theme files, searched first.")
    var themesDir: String?

    @Option(help: "Frame cap (frames per second).")
    var fps: Int = 10

    @Flag(help: "Draw with ASCII only.")
    var ascii = false

    func validate() throws {
        if maxSteps < 1 { throw ValidationError("--max-steps: expected at least 1, found \(maxSteps)") }
        if stepMilliseconds < 0 { throw ValidationError("--step-ms: expected 0 or more, found \(stepMilliseconds)") }
        if rank < 1 || rank > 4096 { throw ValidationError("--rank: expected 1…4096, found \(rank)") }
        if fps < 1 || fps > 120 { throw ValidationError("--fps: expected 1…120, found \(fps)") }
        if QuantKind(parsing: quant) == nil {
            throw ValidationError("--quant: expected none, int8, fp4, nf4 or source, found '\(quant)'")
        }
    }

    func run() throws {
        var settings = TrainingSettings()
        settings.rank = rank
        settings.alpha = alpha
        settings.learningRate = lr
        settings.quantization = quant
        settings.batchSize = batchSize
        settings.seqLen = seqLen
        let config = ModelConfig()
        let session = SimulatedSession(settings: settings, totalSteps: maxSteps, stepSeconds: Double(stepMilliseconds) / 1000,
                                       config: config, seed: seed)
        var engineOptions = EngineOptions()
        engineOptions.evalEvery = evalEvery
        engineOptions.exitWhenFinished = false
        let engine = TrainingEngine(session: session, options: engineOptions)
        var options = AppOptions()
        options.themesDir = themesDir
        options.themeName = theme
        options.fps = fps
        options.forceASCII = ascii
        options.modelName = "simulated (SmolLM2-135M shape)"
        options.dataName = "simulated"
        options.memoryProvider = { Demo.memory(engine.latest.settings, config: config) }
        let exit = try runTerminalApp(engine: engine, options: options)
        switch exit {
        case .signal(let sig): throw ExitCode(128 + sig)
        default: print("demo ended: \(exit)")
        }
    }

    /// Estimator figures for the current settings: the run's own row by component, and every method's total.
    static func memory(_ s: TrainingSettings, config: ModelConfig) -> MemoryFigures {
        var e = EstimateSettings()
        e.rank = s.rank
        e.alpha = s.alpha
        e.batch = s.batchSize
        e.seqLen = s.seqLen
        e.targets = s.targets.compactMap { LoRATarget(name: $0) }
        let kind = QuantKind(parsing: String(s.quantization.prefix { $0 != "+" })) ?? .nf4
        e.quant = kind
        let rows = Estimator.estimate(config, e)
        let mine: MethodEstimate?
        switch kind {
        case .none: mine = rows.first { $0.method.hasPrefix("LoRA, fp32") }
        case .nf4, .source: mine = rows.first { $0.method == "QLoRA NF4" }
        case .int8, .fp4: mine = rows.first { $0.method.contains(kind.rawValue) }
        }
        let report = mine?.report ?? MemoryReport(components: [])
        return MemoryFigures(report: MemoryReport(components: report.components, measure: true), methods: rows)
    }
}
