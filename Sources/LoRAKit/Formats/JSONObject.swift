import Foundation

/// A tiny ordered JSON object writer (keys in insertion order, numbers without locale, NaN/Inf as null).
public struct JSONObject {
    private var parts: [String] = []

    /// An empty object.
    public init() {}

    /// Adds a string field.
    public mutating func add(_ key: String, _ value: String) { parts.append("\(Self.quote(key)):\(Self.quote(value))") }
    /// Adds an integer field.
    public mutating func add(_ key: String, _ value: Int) { parts.append("\(Self.quote(key)):\(value)") }
    /// Adds a number field (null when not finite).
    public mutating func add(_ key: String, _ value: Double) {
        parts.append("\(Self.quote(key)):" + (value.isFinite ? "\(value)" : "null"))
    }
    /// Adds a boolean field.
    public mutating func add(_ key: String, _ value: Bool) { parts.append("\(Self.quote(key)):\(value)") }

    /// The object as one line of JSON.
    public var text: String { "{" + parts.joined(separator: ",") + "}" }

    /// `s` as a JSON string literal (quotes, backslashes and control characters escaped).
    public static func quote(_ s: String) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 { out += String(format: "\\u%04x", u.value) } else { out.unicodeScalars.append(u) }
            }
        }
        return out + "\""
    }
}
