import LoRAKit

extension Train {
    /// Runs the interactive terminal UI on the engine and returns the exit code.
    func runInteractive(engine: TrainingEngine, options: RunOptions) throws -> Int32 {
        throw ValidationErrorTUI()
    }
}

/// Until the terminal app lands, interactive mode asks for --headless.
struct ValidationErrorTUI: Error, CustomStringConvertible {
    var description: String { "the interactive UI is not in this build yet; use --headless" }
}

/// Puts the terminal back (the app installs its own handler once it runs).
func restoreTerminal() {}
