import Foundation

extension Train {
    /// How this command line wants the terminal UI to look.
    func appOptions(model: String, data: String) -> AppOptions {
        AppOptions(themesDir: themesDir, theme: theme, fps: fps, ascii: ascii, model: model, data: data)
    }
}

extension AppOptions {
    /// The look a command line asks for, and the run's model and data (shown by name in the header).
    init(themesDir: String?, theme: String?, fps: Int?, ascii: Bool, model: String, data: String) {
        self.init()
        self.themesDir = themesDir
        themeName = theme
        self.fps = fps ?? 10
        forceASCII = ascii
        modelName = URL(fileURLWithPath: model).lastPathComponent
        dataName = URL(fileURLWithPath: data).lastPathComponent
    }
}
