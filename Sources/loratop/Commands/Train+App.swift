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
        modelName = AppOptions.displayName(model)
        dataName = AppOptions.displayName(data)
    }

    /// How the header names a model or data source: a file by its name, anything else (a hub name such as
    /// `HuggingFaceTB/SmolLM2-135M`, `preset:tiny`, a dataset's name) as given, and nothing as nothing (a run that
    /// does not say what it trains on; `URL(fileURLWithPath: "")` would name the current folder).
    static func displayName(_ source: String) -> String {
        if source.isEmpty { return "" }
        if source.hasPrefix("/") || source.hasPrefix(".") || FileManager.default.fileExists(atPath: source) {
            return URL(fileURLWithPath: source).lastPathComponent
        }
        return source
    }
}
