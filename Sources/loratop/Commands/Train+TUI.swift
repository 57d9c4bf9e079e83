import Foundation
import LoRAKit

extension Train {
    /// Runs the interactive terminal UI on the engine and returns the exit code (0, or 128 + signal).
    func runInteractive(engine: TrainingEngine, session: TrainingRun, options: RunOptions) throws -> Int32 {
        var app = AppOptions()
        app.themesDir = themesDir
        app.themeName = theme
        app.fps = fps ?? 10
        app.forceASCII = ascii
        app.modelName = URL(fileURLWithPath: session.modelPath).lastPathComponent
        app.dataName = URL(fileURLWithPath: options.data).lastPathComponent
        let config = session.model.config
        app.memoryProvider = { [engine] in
            let snap = engine.latest
            guard let report = snap.memory else { return nil }
            var e = EstimateSettings()
            e.rank = snap.settings.rank
            e.alpha = snap.settings.alpha
            e.targets = snap.settings.targets.compactMap { LoRATarget(name: $0) }
            e.batch = options.batchSize
            e.seqLen = options.seqLen
            e.checkpointing = options.checkpointing
            e.quant = options.quant
            e.doubleQuant = options.doubleQuant
            e.blockSize = options.blockSize
            e.threads = options.threads
            return MemoryFigures(report: report, methods: Estimator.estimate(config, e))
        }
        switch try runTerminalApp(engine: engine, options: app) {
        case .signal(let sig): return 128 + sig
        case .finished:
            if case .failed = engine.latest.status { return 1 }
            return 0
        case .quit: return 0
        }
    }
}

/// Puts the terminal back from the signal queue (a second Ctrl-C exits at once).
func restoreTerminal() {
    BackendBox.shared.emergencyShutdown()
}
