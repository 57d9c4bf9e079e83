import Foundation

extension Train {
    /// How this command line wants the terminal UI to look.
    func appOptions(model: String, data: String) -> AppOptions {
        var app = AppOptions()
        app.themesDir = themesDir
        app.themeName = theme
        app.fps = fps ?? 10
        app.forceASCII = ascii
        app.modelName = URL(fileURLWithPath: model).lastPathComponent
        app.dataName = URL(fileURLWithPath: data).lastPathComponent
        return app
    }
}

/// Puts the terminal back from the signal thread (a second Ctrl-C exits at once).
func restoreTerminal() {
    BackendBox.shared.emergencyShutdown()
}
