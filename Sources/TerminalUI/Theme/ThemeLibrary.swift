import Foundation

/// Theme files found in a list of directories, by name. Earlier directories win when two hold the same name; files
/// with errors are skipped and reported in `problems`. "default" always exists (built in) even without a file.
public struct ThemeLibrary: Sendable {
    /// The directories searched, in order.
    public let searchPaths: [URL]
    /// Theme files by name (first found wins).
    public private(set) var files: [String: URL]
    /// Warnings and errors from every file read; files with errors are not listed.
    public private(set) var problems: [ThemeDiagnostic]
    private var themes: [String: Theme]

    /// Scans `searchPaths` for `*.theme` files and parses them.
    public init(searchPaths: [URL]) {
        self.searchPaths = searchPaths
        files = [:]; problems = []; themes = [:]
        let fm = FileManager.default
        for dir in searchPaths {
            guard let names = try? fm.contentsOfDirectory(atPath: dir.path) else { continue }
            for file in names.sorted() where file.hasSuffix(".theme") {
                let name = String(file.dropLast(".theme".count))
                guard files[name] == nil else { continue }
                let url = dir.appendingPathComponent(file)
                var st = stat()
                guard stat(url.path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                    // a FIFO named like a theme would block the read forever
                    problems.append(ThemeDiagnostic(file: url.path, line: 0, message: "not a regular file",
                                                    hint: "a theme is a text file", severity: .error))
                    continue
                }
                guard let data = fm.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
                    problems.append(ThemeDiagnostic(file: url.path, line: 0, message: "cannot read the file as UTF-8 text",
                                                    hint: "check permissions and encoding", severity: .error))
                    continue
                }
                let result = ThemeParser.parse(text, file: url.path)
                problems += result.diagnostics
                guard result.isUsable else { continue }
                files[name] = url
                themes[name] = Theme(name: name, overrides: result.colors)
            }
        }
    }

    /// Names of the usable themes (always including "default"), sorted.
    public var names: [String] { Array(Set(themes.keys).union(["default"])).sorted() }

    /// The theme with a name, or a `ThemeNotFound` error listing the available names (or, when a file of that name
    /// exists but has errors, saying so with them).
    public func theme(named name: String) throws -> Theme {
        if let t = themes[name] { return t }
        if name == "default" { return .builtinDefault }
        let broken = problems.filter { $0.severity == .error && URL(fileURLWithPath: $0.file).lastPathComponent == name + ".theme" }
        throw ThemeNotFound(name: name, available: names, searched: searchPaths.map(\.path), errors: broken.map(\.description))
    }

    /// The standard search order: an explicit `--themes-dir`, `$XDG_CONFIG_HOME/<app>/themes` (or
    /// `~/.config/<app>/themes`), `<binary dir>/../share/<app>/themes`, then any extra directories (e.g. the repository's
    /// `themes/`).
    public static func standardSearchPaths(app: String = "loratop", themesDir: String? = nil,
                                           environment: [String: String] = ProcessInfo.processInfo.environment,
                                           executablePath: String? = CommandLine.arguments.first,
                                           extra: [String] = []) -> [URL] {
        var out: [URL] = []
        if let d = themesDir, !d.isEmpty { out.append(URL(fileURLWithPath: d, isDirectory: true)) }
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty {
            out.append(URL(fileURLWithPath: xdg).appendingPathComponent(app).appendingPathComponent("themes"))
        } else if let home = environment["HOME"], !home.isEmpty {
            out.append(URL(fileURLWithPath: home).appendingPathComponent(".config").appendingPathComponent(app)
                .appendingPathComponent("themes"))
        }
        if let exe = executablePath, !exe.isEmpty {
            let bin = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
            out.append(bin.deletingLastPathComponent().appendingPathComponent("share").appendingPathComponent(app)
                .appendingPathComponent("themes").standardizedFileURL)
        }
        out += extra.map { URL(fileURLWithPath: $0, isDirectory: true) }
        return out
    }
}

/// A theme name that no search path provides.
public struct ThemeNotFound: Error, Hashable, Sendable, CustomStringConvertible {
    /// The name asked for.
    public var name: String
    /// Names that exist.
    public var available: [String]
    /// Directories searched.
    public var searched: [String]
    /// The errors of a file of that name that could not be used (empty when there is no such file).
    public var errors: [String] = []
    /// Message with the available names and where they were looked for; for a file with errors, the errors.
    public var description: String {
        if !errors.isEmpty {
            return "theme \"\(name)\" cannot be used: " + errors.joined(separator: "; ")
                + " (hint: fix the file, or choose one of \(available.joined(separator: ", ")))"
        }
        return "no theme named \"\(name)\"; available: \(available.joined(separator: ", ")) "
            + "(searched: \(searched.joined(separator: ", "))) (hint: put \(name).theme in one of those directories or pass --themes-dir)"
    }
}
