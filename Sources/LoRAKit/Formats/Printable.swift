/// Text from a file made fit for a message: control characters and invalid bytes escaped, and cut to a length a
/// person reads (a damaged GGUF named a tensor with 7,462 bytes of binary, NULs included).
public enum Printable {
    /// `text` with every control character (C0, DEL, C1) and U+FFFD (what invalid UTF-8 became) written as an escape
    /// (`\0`, `\n`, `\x1b`, `\u{85}`), cut to `limit` characters with "…" and the length it had.
    public static func escaped(_ text: String, limit: Int = 80) -> String {
        var out = ""
        var shown = 0
        var total = 0
        for scalar in text.unicodeScalars {
            total += 1
            guard shown < limit else { continue }
            shown += 1
            switch scalar.value {
            case 0: out += "\\0"
            case 0x0A: out += "\\n"
            case 0x0D: out += "\\r"
            case 0x09: out += "\\t"
            case 0x00...0x1F, 0x7F: out += "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            case 0x80...0x9F, 0xFFFD, 0x2028, 0x2029: out += "\\u{" + String(scalar.value, radix: 16) + "}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return total > limit ? out + "… (\(total) characters)" : out
    }
}
