import Foundation

/// A problem in a theme file, naming the file and line.
public struct ThemeDiagnostic: Error, Hashable, Sendable, CustomStringConvertible {
    /// How bad it is.
    public enum Severity: String, Sendable { case warning, error }
    /// File path (or a label for text not from a file).
    public var file: String
    /// 1-based line number (0 when it concerns the whole file).
    public var line: Int
    /// What is wrong: what was expected and what was found.
    public var message: String
    /// How to fix it.
    public var hint: String
    /// Warning (file still used) or error (file skipped).
    public var severity: Severity

    /// `file:line: error: message (hint)`.
    public var description: String {
        "\(file):\(line): \(severity.rawValue): \(message)" + (hint.isEmpty ? "" : " (hint: \(hint))")
    }
}

/// Reads btop-syntax theme files: `theme[key]="#RRGGBB"` (also `"#BW"` grey, `"R G B"` decimal, `""` = terminal
/// default); `#` starts a comment; unknown keys are ignored with a warning; later lines win.
public enum ThemeParser {
    /// The result of parsing one file.
    public struct Result: Sendable {
        /// The colours set by the file.
        public var colors: [ThemeKey: Color]
        /// Problems found; any `.error` means the file should not be used.
        public var diagnostics: [ThemeDiagnostic]
        /// True when there are no errors.
        public var isUsable: Bool { !diagnostics.contains { $0.severity == .error } }
    }

    /// Parses theme text; `file` names it in diagnostics.
    public static func parse(_ text: String, file: String) -> Result {
        var colors: [ThemeKey: Color] = [:]
        var diags: [ThemeDiagnostic] = []
        func report(_ line: Int, _ message: String, _ hint: String, _ sev: ThemeDiagnostic.Severity = .error) {
            diags.append(ThemeDiagnostic(file: file, line: line, message: message, hint: hint, severity: sev))
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, raw) in lines.enumerated() {
            let n = index + 1
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard line.hasPrefix("theme["), let close = line.firstIndex(of: "]") else {
                report(n, "expected theme[key]=\"value\", found \(quoted(line))", "comments start with #")
                continue
            }
            let key = String(line[line.index(line.startIndex, offsetBy: 6)..<close]).trimmingCharacters(in: .whitespaces)
            var rest = line[line.index(after: close)...].trimmingCharacters(in: .whitespaces)
            guard rest.hasPrefix("=") else {
                report(n, "expected '=' after theme[\(key)], found \(quoted(rest))", "write theme[\(key)]=\"#RRGGBB\"")
                continue
            }
            rest = String(rest.dropFirst()).trimmingCharacters(in: .whitespaces)
            guard let value = unquote(rest) else {
                report(n, "expected a quoted value for theme[\(key)], found \(quoted(rest))", "write theme[\(key)]=\"#RRGGBB\"")
                continue
            }
            guard let themeKey = ThemeKey(rawValue: key) else {
                report(n, "unknown key \(quoted(key)) ignored", "known keys: see themes/README.md", .warning)
                continue
            }
            switch parseColor(value) {
            case .success(let c): colors[themeKey] = c
            case .failure(let why): report(n, "theme[\(key)]: \(why)", "use \"#RRGGBB\", \"#BW\" (grey), \"R G B\" or \"\"")
            }
        }
        return Result(colors: colors, diagnostics: diags)
    }

    /// A theme value: `#RRGGBB`, `#BW` (two hex digits of grey), `R G B` decimal 0…255, or "" (terminal default).
    public static func parseColor(_ value: String) -> Swift.Result<Color, ColorSyntaxError> {
        let v = value.trimmingCharacters(in: .whitespaces)
        if v.isEmpty { return .success(.default) }
        if v.hasPrefix("#") {
            let hex = String(v.dropFirst())
            guard hex.allSatisfy(\.isHexDigit), let n = UInt32(hex, radix: 16) else {
                return .failure(ColorSyntaxError("expected hex digits after '#', found \(quoted(v))"))
            }
            switch hex.count {
            case 6: return .success(.hex(n))
            case 2: let g = UInt8(n); return .success(.rgb(RGB(g, g, g)))
            default: return .failure(ColorSyntaxError("expected 6 or 2 hex digits, found \(hex.count) in \(quoted(v))"))
            }
        }
        let parts = v.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 3 else {
            return .failure(ColorSyntaxError("expected \"#RRGGBB\", \"#BW\" or three numbers, found \(quoted(v))"))
        }
        var rgb: [UInt8] = []
        for p in parts {
            guard let i = Int(p), (0...255).contains(i) else {
                return .failure(ColorSyntaxError("expected decimal 0…255, found \(quoted(String(p))) in \(quoted(v))"))
            }
            rgb.append(UInt8(i))
        }
        return .success(.rgb(RGB(rgb[0], rgb[1], rgb[2])))
    }

    private static func unquote(_ s: String) -> String? {
        // A trailing comment after the closing quote is allowed.
        guard let q = s.first, q == "\"" || q == "'" else { return nil }
        let body = s.dropFirst()
        guard let end = body.firstIndex(of: q) else { return nil }
        let after = body[body.index(after: end)...].trimmingCharacters(in: .whitespaces)
        guard after.isEmpty || after.hasPrefix("#") else { return nil }
        return String(body[..<end])
    }

    static func quoted(_ s: String) -> String { "\"" + (s.count > 40 ? String(s.prefix(40)) + "…" : s) + "\"" }
}

/// Why a colour value could not be read.
public struct ColorSyntaxError: Error, Hashable, Sendable, CustomStringConvertible {
    /// Expected vs found.
    public var description: String
    /// Makes the error.
    public init(_ d: String) { description = d }
}
