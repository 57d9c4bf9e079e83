import TerminalUI

/// What the locale lets loratop print. With a UTF-8 locale text goes out as it is; with any other (`LANG=C`, POSIX,
/// Latin-1) every line for stdout and stderr is spelled in ASCII first, so start-up lines, progress, errors and help
/// never show mojibake: `α 16→32` becomes `alpha 16->32`, `4×128` becomes `4x128`.
enum TerminalText {
    /// True when the locale's codeset (after `setlocale(LC_ALL, "")`) is UTF-8.
    static let localeIsUTF8: Bool = GlyphSet.detect().isUnicode

    /// `text` as the terminal can show it: itself under UTF-8, else `ascii(text)` (`json`: `asciiJSON(text)`).
    static func forTerminal(_ text: String, json: Bool = false) -> String {
        if localeIsUTF8 || text.utf8.allSatisfy({ $0 < 0x80 }) { return text }
        return json ? asciiJSON(text) : ascii(text)
    }

    /// Plain ASCII for text: the symbols loratop prints spelled out, other characters by the ASCII letters of their
    /// compatibility decomposition (accents dropped, ₁ as 1), anything else `?`.
    static func ascii(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                out.unicodeScalars.append(scalar)
            } else if let spelled = spellings[scalar] {
                out += spelled
            } else if case let plain = String(scalar).decomposedStringWithCompatibilityMapping.unicodeScalars.filter(\.isASCII),
                      !plain.isEmpty {
                out.unicodeScalars.append(contentsOf: plain)  // é → e, ₁ → 1, ﬁ → fi
            } else {
                out += "?"
            }
        }
        return out
    }

    /// JSON with every non-ASCII character as a `\uXXXX` escape (a pair for those beyond the BMP): the same document,
    /// in ASCII. Valid because JSON has non-ASCII characters only inside strings.
    static func asciiJSON(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            if scalar.isASCII {
                out.unicodeScalars.append(scalar)
                continue
            }
            for unit in String(scalar).utf16 { out += "\\u" + String(unit, radix: 16).leftPadded(to: 4, with: "0") }
        }
        return out
    }

    private static let spellings: [Unicode.Scalar: String] = [
        "α": "alpha", "β": "beta", "σ": "sigma", "θ": "theta", "κ": "kappa", "Δ": "delta", "Σ": "sum", "µ": "u", "μ": "u",
        "×": "x", "·": ".", "÷": "/", "−": "-", "–": "-", "—": "--", "±": "+/-", "√": "sqrt ", "∂": "d", "‖": "||",
        "≤": "<=", "≥": ">=", "≈": "~", "≠": "!=", "→": "->", "←": "<-", "↑": "^", "↓": "v", "⇥": "->|",
        "…": "...", "⏎": "/", "½": "1/2", "²": "^2", "³": "^3", "ᵀ": "^T", "ⁿ": "^n", "⊙": "*", "°": " deg",
        "‘": "'", "’": "'", "“": "\"", "”": "\"", "•": "*", "█": "#", "░": ".", "─": "-", "│": "|",
    ]
}
