/// A JSON reader that keeps strings exactly as written: Foundation's JSONSerialization merges object keys that are
/// canonically equivalent ("ñ" written precomposed and as n + U+0303) and drops a leading U+FEFF, which loses pieces of
/// SentencePiece vocabularies (both kinds occur in them). Objects are ordered (key, value) lists, never dictionaries;
/// strings are built scalar by scalar. Nesting is bounded so hostile input cannot exhaust the stack.
enum ExactJSON {
    /// A parsed value.
    indirect enum Value {
        case object([(key: String, value: Value)])
        case array([Value])
        case string(String)
        case number(Double)
        case bool(Bool)
        case null

        /// The value of the first `key` of an object.
        subscript(key: String) -> Value? {
            guard case .object(let pairs) = self else { return nil }
            return pairs.first { $0.key.unicodeScalars.elementsEqual(key.unicodeScalars) }?.value
        }

        var string: String? { if case .string(let s) = self { return s } else { return nil } }
        var number: Double? { if case .number(let d) = self { return d } else { return nil } }
        var array: [Value]? { if case .array(let a) = self { return a } else { return nil } }
        var pairs: [(key: String, value: Value)]? { if case .object(let p) = self { return p } else { return nil } }
    }

    /// Why a text is not JSON, with the byte offset.
    struct ParseError: Error {
        let offset: Int
        let message: String
    }

    static let maxDepth = 128

    /// Parses a whole document (whitespace around it allowed, nothing after it).
    static func parse(_ bytes: [UInt8]) throws -> Value {
        var p = Parser(b: bytes)
        p.skipSpace()
        let v = try p.value(depth: 0)
        p.skipSpace()
        guard p.i == bytes.count else { throw ParseError(offset: p.i, message: "text after the JSON value") }
        return v
    }

    private struct Parser {
        let b: [UInt8]
        var i = 0

        mutating func skipSpace() {
            while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
        }

        func fail(_ m: String) -> ParseError { ParseError(offset: i, message: m) }

        mutating func value(depth: Int) throws -> Value {
            guard depth < ExactJSON.maxDepth else { throw fail("nested deeper than \(ExactJSON.maxDepth)") }
            guard i < b.count else { throw fail("unexpected end") }
            switch b[i] {
            case UInt8(ascii: "{"):
                i += 1
                var pairs: [(key: String, value: Value)] = []
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(pairs) }
                while true {
                    skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
                    let k = try string()
                    skipSpace()
                    guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    pairs.append((k, try value(depth: depth + 1)))
                    skipSpace()
                    guard i < b.count else { throw fail("unexpected end in an object") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard b[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}'") }
                    i += 1
                    return .object(pairs)
                }
            case UInt8(ascii: "["):
                i += 1
                var items: [Value] = []
                skipSpace()
                if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
                while true {
                    skipSpace()
                    items.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < b.count else { throw fail("unexpected end in an array") }
                    if b[i] == UInt8(ascii: ",") { i += 1; continue }
                    guard b[i] == UInt8(ascii: "]") else { throw fail("expected ',' or ']'") }
                    i += 1
                    return .array(items)
                }
            case UInt8(ascii: "\""):
                return .string(try string())
            case UInt8(ascii: "t"): try word("true"); return .bool(true)
            case UInt8(ascii: "f"): try word("false"); return .bool(false)
            case UInt8(ascii: "n"): try word("null"); return .null
            default:
                return .number(try number())
            }
        }

        mutating func word(_ w: String) throws {
            let u = Array(w.utf8)
            guard i + u.count <= b.count, Array(b[i..<(i + u.count)]) == u else { throw fail("unexpected character") }
            i += u.count
        }

        mutating func number() throws -> Double {
            let start = i
            while i < b.count, b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: ".")
                    || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") || (b[i] >= 0x30 && b[i] <= 0x39) { i += 1 }
            guard i > start, i - start <= 64, let d = Double(String(decoding: b[start..<i], as: UTF8.self)) else {
                i = start
                throw fail("expected a value")
            }
            return d
        }

        /// A string literal at `i` (on its opening quote), escapes decoded, scalars kept as written.
        mutating func string() throws -> String {
            i += 1
            var s = String.UnicodeScalarView()
            while true {
                guard i < b.count else { throw fail("unterminated string") }
                let c = b[i]
                if c == UInt8(ascii: "\"") { i += 1; return String(s) }
                if c == UInt8(ascii: "\\") {
                    i += 1
                    guard i < b.count else { throw fail("unterminated escape") }
                    let e = b[i]
                    i += 1
                    switch e {
                    case UInt8(ascii: "\""): s.append("\"")
                    case UInt8(ascii: "\\"): s.append("\\")
                    case UInt8(ascii: "/"): s.append("/")
                    case UInt8(ascii: "b"): s.append("\u{08}")
                    case UInt8(ascii: "f"): s.append("\u{0C}")
                    case UInt8(ascii: "n"): s.append("\n")
                    case UInt8(ascii: "r"): s.append("\r")
                    case UInt8(ascii: "t"): s.append("\t")
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800..<0xDC00).contains(code), i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                            let save = i
                            i += 2
                            let low = try hex4()
                            if (0xDC00..<0xE000).contains(low) { code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00) } else { i = save }
                        }
                        s.append(Unicode.Scalar(code) ?? "\u{FFFD}")
                    default: throw fail("unknown escape")
                    }
                    continue
                }
                // one UTF-8 scalar
                var it = b[i...].makeIterator()
                var used = 0
                var utf8 = UTF8()
                switch utf8.decode(&it) {
                case .scalarValue(let v): s.append(v); used = UTF8.width(v)
                case .emptyInput: throw fail("unterminated string")
                case .error: s.append("\u{FFFD}"); used = 1
                }
                i += used
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                throw fail("bad \\u escape")
            }
            i += 4
            return v
        }
    }
}
