import Foundation

/// The layout of a dataset file. One file holds one format.
public enum DatasetFormat: String, Sendable, Codable, CaseIterable {
    /// A plain-text file, tokenized whole and cut into sequence-length windows.
    case plainText = "plain text"
    /// JSONL `{"text": ...}`: every token trained.
    case text = "{\"text\"}"
    /// JSONL `{"prompt": ..., "completion": ...}`: loss on the completion only.
    case promptCompletion = "{\"prompt\", \"completion\"}"
    /// JSONL `{"messages": [{"role", "content"}, ...]}`: chat template, loss on assistant turns.
    case chat = "{\"messages\"}"
    /// JSONL Alpaca `{"instruction", "input", "output"}`: rendered as a chat, loss on the output.
    case alpaca = "{\"instruction\", \"input\", \"output\"}"
}

/// One example as the file states it, before tokenization.
public enum DatasetRecord: Sendable, Equatable {
    /// Plain text (a whole .txt file, or one `{"text"}` line).
    case text(String)
    /// A prompt and the completion to learn.
    case promptCompletion(prompt: String, completion: String)
    /// A conversation.
    case chat([ChatMessage])
    /// An Alpaca instruction, optional input and the output to learn.
    case alpaca(instruction: String, input: String, output: String)

    /// The conversation a chat-style record stands for (Alpaca: instruction and input as the user turn).
    public var messages: [ChatMessage]? {
        switch self {
        case .chat(let m): return m
        case .alpaca(let instruction, let input, let output):
            let user = input.isEmpty ? instruction : instruction + "\n\n" + input
            return [ChatMessage(role: "user", content: user), ChatMessage(role: "assistant", content: output)]
        case .text, .promptCompletion: return nil
        }
    }
}

/// A dataset file read and checked line by line.
public struct DatasetFile: Sendable {
    /// Path as given.
    public let path: String
    /// The one format of the file.
    public let format: DatasetFormat
    /// Records with their 1-based line numbers.
    public let records: [(line: Int, record: DatasetRecord)]

    /// Throws a clear error when `path` is missing, a folder or unreadable (checked before anything slow, such as
    /// loading the model, so a typo in `--data` is reported at once).
    public static func checkReadable(_ path: String) throws {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
            throw DatasetError(file: path, line: nil, message: "no such file",
                               hint: "check the path given to --data / --eval-data")
        }
        if isFolder.boolValue {
            throw DatasetError(file: path, line: nil, message: "is a folder; expected a .txt or .jsonl file",
                               hint: "give one file of the folder, or join its files into one")
        }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw DatasetError(file: path, line: nil, message: "cannot be read (permission denied)",
                               hint: "check the file's permissions")
        }
    }

    /// Reads `url`: `.txt`/`.md` are plain text, `.jsonl`/`.json` are JSONL; other names are sniffed
    /// (a first non-blank character `{` means JSONL). Stops at the first bad line.
    public init(url: URL) throws {
        path = url.path
        try Self.checkReadable(path)
        let data: Data
        do {
            guard let d = try RegularFile.contents(path) else { throw FileError(path: path, message: "no such file") }
            data = d
        } catch let e as FileError {
            throw DatasetError(file: path, line: nil, message: e.message, hint: "check the path given to --data / --eval-data")
        }
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }  // a UTF-8 byte-order mark
        guard bytes.contains(where: { !Self.isBlank($0) }) else {
            throw DatasetError(file: path, line: nil, message: "the file is empty (expected at least one example, found \(data.count) bytes)",
                               hint: "write one JSON object per line, or plain text in a .txt file")
        }
        let ext = url.pathExtension.lowercased()
        let jsonl: Bool
        switch ext {
        case "jsonl", "json", "ndjson": jsonl = true
        case "txt", "text", "md": jsonl = false
        default: jsonl = bytes.first(where: { !Self.isBlank($0) }) == UInt8(ascii: "{")
        }
        if jsonl {
            (format, records) = try Self.readJSONL(bytes, path: path)
        } else {
            format = .plainText
            records = [(1, .text(try Self.utf8(bytes[...], path: path, firstLine: 1)))]
        }
    }

    private static func isBlank(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }

    /// `bytes` as a String, or an error naming the line and column of the first invalid byte.
    static func utf8(_ bytes: ArraySlice<UInt8>, path: String, firstLine: Int) throws -> String {
        if let s = String(validating: bytes, as: UTF8.self) { return s }
        // Find the first invalid byte for the message.
        var decoder = UTF8()
        var it = bytes.makeIterator()
        var offset = 0
        var line = firstLine
        var lineStart = 0
        while true {
            switch decoder.decode(&it) {
            case .scalarValue(let s):
                offset += UTF8.width(s)
                if s == "\n" {
                    line += 1
                    lineStart = offset
                }
                continue
            case .emptyInput:
                return String(decoding: bytes, as: UTF8.self)
            case .error:
                let b = bytes[bytes.startIndex + offset]
                throw DatasetError(file: path, line: line,
                                   message: "not valid UTF-8 (expected UTF-8 text, found byte 0x\(String(b, radix: 16, uppercase: true)) at column \(offset - lineStart + 1))",
                                   hint: "convert the file to UTF-8, e.g. iconv -f latin1 -t utf-8")
            }
        }
    }

    private static func readJSONL(_ bytes: [UInt8], path: String) throws -> (DatasetFormat, [(line: Int, record: DatasetRecord)]) {
        var records = [(line: Int, record: DatasetRecord)]()
        var format: DatasetFormat?
        var firstLine = 0
        var lineNo = 0
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count && bytes[end] != 0x0A { end += 1 }
            lineNo += 1
            var slice = bytes[start..<end]
            if slice.last == 0x0D { slice = slice.dropLast() }
            start = end + 1
            if slice.allSatisfy(isBlank) {
                if end >= bytes.count { break }
                continue
            }
            let text = try utf8(slice, path: path, firstLine: lineNo)
            let (f, record) = try parseLine(text, path: path, line: lineNo)
            if let known = format, known != f {
                throw DatasetError(file: path, line: lineNo,
                                   message: "mixed formats (expected \(known.rawValue) like line \(firstLine), found \(f.rawValue))",
                                   hint: "one file holds one format; split the file, or convert every line to one format")
            }
            if format == nil {
                format = f
                firstLine = lineNo
            }
            records.append((lineNo, record))
            if end >= bytes.count { break }
        }
        guard let found = format else {
            throw DatasetError(file: path, line: nil, message: "no examples (expected JSON lines, found only blank lines)",
                               hint: "write one JSON object per line")
        }
        return (found, records)
    }

    private static func describe(_ v: Any) -> String {
        switch v {
        case is String: return "a string"
        case is [Any]: return "an array"
        case is [String: Any]: return "an object"
        case is NSNull: return "null"
        default: return "a number or boolean"
        }
    }

    /// One JSONL line: its format and record.
    static func parseLine(_ text: String, path: String, line: Int) throws -> (DatasetFormat, DatasetRecord) {
        let shapes = "{\"text\"}, {\"prompt\",\"completion\"}, {\"messages\"} or {\"instruction\",\"input\",\"output\"}"
        func fail(_ message: String, _ hint: String) -> DatasetError {
            DatasetError(file: path, line: line, message: message, hint: hint)
        }
        let excerpt = text.count > 40 ? String(text.prefix(40)) + "…" : text
        guard let any = try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) else {
            throw fail("not JSON (expected a JSON object, found `\(excerpt)`)",
                       "each line must be one complete JSON object; a .txt file is read as plain text")
        }
        guard let obj = any as? [String: Any] else {
            throw fail("not a JSON object (expected \(shapes), found \(describe(any)))", "wrap each example in {…}")
        }
        func string(_ key: String, optional: Bool = false) throws -> String {
            guard let v = obj[key] else {
                if optional { return "" }
                throw fail("missing key \"\(key)\" (found keys \(obj.keys.sorted()))", "every line of this format needs \"\(key)\"")
            }
            guard let s = v as? String else {
                throw fail("\"\(key)\" is not a string (expected a string, found \(describe(v)))", "quote the value")
            }
            return s
        }
        if obj["messages"] != nil {
            guard let list = obj["messages"] as? [Any] else {
                throw fail("\"messages\" is not an array (expected [{\"role\", \"content\"}, …], found \(describe(obj["messages"] as Any)))",
                           "write messages as a list of {\"role\": …, \"content\": …}")
            }
            var messages = [ChatMessage]()
            for (i, item) in list.enumerated() {
                guard let m = item as? [String: Any] else {
                    throw fail("messages[\(i)] is not an object (expected {\"role\", \"content\"}, found \(describe(item)))", "each message is an object")
                }
                guard let role = m["role"] as? String else {
                    throw fail("messages[\(i)].role is missing or not a string (found keys \(m.keys.sorted()))", "roles are system, user or assistant")
                }
                guard ["system", "user", "assistant"].contains(role) else {
                    throw fail("messages[\(i)].role is unknown (expected system, user or assistant, found \"\(role)\")", "rename the role")
                }
                guard let content = m["content"] as? String else {
                    throw fail("messages[\(i)].content is missing or not a string (found \(m["content"].map(describe) ?? "no content"))",
                               "content must be a string")
                }
                messages.append(ChatMessage(role: role, content: content))
            }
            guard messages.contains(where: { $0.role == "assistant" }) else {
                throw fail("no assistant message (expected at least one, found roles \(messages.map(\.role)))",
                           "only assistant turns are trained; a conversation without one teaches nothing")
            }
            return (.chat, .chat(messages))
        }
        if obj["prompt"] != nil || obj["completion"] != nil {
            return (.promptCompletion, .promptCompletion(prompt: try string("prompt"), completion: try string("completion")))
        }
        if obj["instruction"] != nil || obj["output"] != nil {
            return (.alpaca, .alpaca(instruction: try string("instruction"), input: try string("input", optional: true), output: try string("output")))
        }
        if obj["text"] != nil {
            return (.text, .text(try string("text")))
        }
        throw fail("unknown example shape (expected \(shapes), found keys \(obj.keys.sorted()))",
                   "rename the keys to one of the supported formats")
    }
}
