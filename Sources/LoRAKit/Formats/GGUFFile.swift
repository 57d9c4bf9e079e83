/// One tensor's entry in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The GGUF tensor name ("blk.0.attn_q.weight").
    public let name: String
    /// Dimensions in ggml order: `dims[0]` (ne0) varies fastest, so a 2-D weight is `[cols, rows]`.
    public let dims: [Int]
    /// The storage type.
    public let type: GGMLType
    /// Absolute byte offset of the data in the file.
    public let offset: Int
    /// Bytes of data in the file.
    public let byteCount: Int

    /// Number of elements.
    public var count: Int { dims.reduce(1, *) }
}

/// A GGUF file (versions 2 and 3), memory-mapped: header, metadata and tensor infos parsed and validated up front,
/// tensor data left in the mapping until asked for.
public final class GGUFFile: @unchecked Sendable {
    /// The mapping (kept alive by every tensor view).
    public let mapped: MappedFile
    /// The format version (2 or 3).
    public let version: Int
    /// Metadata keys in file order.
    public let metadataKeys: [String]
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Tensor infos in file order.
    public let tensors: [GGUFTensorInfo]
    /// Data alignment (`general.alignment`, default 32).
    public let alignment: Int
    /// Absolute offset of the tensor data section.
    public let dataOffset: Int
    private let index: [String: Int]

    /// Path of the file.
    public var path: String { mapped.path }

    /// Largest nesting of arrays inside arrays accepted in metadata.
    static let maxArrayDepth = 8

    /// Maps and parses `path`, validating every count, offset and size against the file before allocating.
    public convenience init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    /// Parses an already mapped file.
    public init(mapped file: MappedFile) throws {
        mapped = file
        let path = file.path
        var c = ByteCursor(file)
        c.context = "magic"
        guard file.size >= 4, let base = file.base else {
            throw FormatError(file: path, field: "magic", message: "expected a GGUF file of at least 24 bytes, found \(file.size) bytes",
                              hint: "the file is empty or truncated")
        }
        let magic = base.loadUnaligned(as: UInt32.self)
        guard magic == UInt32(littleEndian: 0x4655_4747) else {
            let found = (0..<4).map { base.load(fromByteOffset: $0, as: UInt8.self) }
            throw FormatError(file: path, field: "magic", message: "expected \"GGUF\", found bytes \(found)",
                              hint: "this is not a GGUF file (a safetensors file or a HF folder is loaded by path too)")
        }
        c.offset = 4
        c.context = "version"
        let v = try c.read(UInt32.self)
        guard v == 2 || v == 3 else {
            let hint = v.byteSwapped == 2 || v.byteSwapped == 3 ? "big-endian GGUF files are not supported"
                : "loratop reads GGUF versions 2 and 3"
            throw FormatError(file: path, field: "version", message: "expected 2 or 3, found \(v)", hint: hint)
        }
        version = Int(v)
        c.context = "tensor_count"
        let tensorCount = try c.readCount("tensor count", minBytes: 24)
        c.context = "kv_count"
        let kvCount = try c.readCount("metadata count", minBytes: 13)

        var keys = [String]()
        var meta = [String: GGUFValue]()
        keys.reserveCapacity(kvCount)
        for i in 0..<kvCount {
            c.context = "metadata key #\(i)"
            let key = try c.readString("key")
            c.context = "metadata \"\(key)\""
            guard meta[key] == nil else {
                throw FormatError(file: path, field: c.context, message: "duplicate key", hint: "the file is corrupt")
            }
            let tag = try c.read(UInt32.self)
            let value = try Self.readValue(&c, tag: tag, depth: 0)
            keys.append(key)
            meta[key] = value
        }
        metadataKeys = keys
        metadata = meta

        var align = 32
        if let a = meta["general.alignment"] {
            guard let n = a.intValue, n > 0, n <= 1 << 20, n & (n - 1) == 0 else {
                throw FormatError(file: path, field: "general.alignment", message: "expected a power of two up to 1 MiB, found \(a)",
                                  hint: "the file is corrupt")
            }
            align = n
        }
        alignment = align

        struct Raw { let name: String; let dims: [Int]; let type: GGMLType; let offset: UInt64 }
        var raws = [Raw]()
        raws.reserveCapacity(tensorCount)
        var seen = Set<String>()
        for i in 0..<tensorCount {
            c.context = "tensor info #\(i)"
            let name = try c.readString("name")
            c.context = "tensor \(name)"
            guard seen.insert(name).inserted else {
                throw FormatError(file: path, field: c.context, message: "duplicate tensor name", hint: "the file is corrupt")
            }
            let nd = try c.read(UInt32.self)
            guard nd >= 1 && nd <= 4 else {
                throw FormatError(file: path, field: c.context, message: "expected 1…4 dimensions, found \(nd)", hint: "the file is corrupt")
            }
            var dims = [Int]()
            for _ in 0..<nd {
                let d = try c.read(UInt64.self)
                guard d <= UInt64(Int32.max) else {
                    throw FormatError(file: path, field: c.context, message: "dimension \(d) is out of range (max \(Int32.max))",
                                      hint: "the file is corrupt")
                }
                dims.append(Int(d))
            }
            let rawType = try c.read(UInt32.self)
            guard let type = GGMLType(rawValue: rawType) else {
                throw FormatError(file: path, field: c.context, message: "unknown ggml type \(rawType)",
                                  hint: "the file may need a newer reader; re-quantize it to Q8_0, Q4_K or F16")
            }
            let off = try c.read(UInt64.self)
            raws.append(Raw(name: name, dims: dims, type: type, offset: off))
        }
        let (padded, o1) = c.offset.addingReportingOverflow(align - 1)
        let start = o1 ? Int.max : padded / align * align
        dataOffset = start

        var infos = [GGUFTensorInfo]()
        infos.reserveCapacity(raws.count)
        var idx = [String: Int]()
        for r in raws {
            let field = "tensor \(r.name)"
            var count = 1
            for d in r.dims {
                let (m, o) = count.multipliedReportingOverflow(by: d)
                guard !o else {
                    throw FormatError(file: path, field: field, message: "dimensions \(r.dims) overflow", hint: "the file is corrupt")
                }
                count = m
            }
            guard let rowBytes = r.type.rowBytes(r.dims[0]) else {
                throw FormatError(file: path, field: field,
                                  message: "expected ne0 (\(r.dims[0])) to be a multiple of \(r.type.blockValues) for \(r.type.name)",
                                  hint: "the file is corrupt")
            }
            let rows = r.dims.isEmpty ? 0 : count / max(r.dims[0], 1)
            let (bytes, o2) = rowBytes.multipliedReportingOverflow(by: r.dims[0] == 0 ? 0 : rows)
            guard !o2, r.offset <= UInt64(Int.max) else {
                throw FormatError(file: path, field: field, message: "size overflows", hint: "the file is corrupt")
            }
            let rel = Int(r.offset)
            guard rel % align == 0 else {
                throw FormatError(file: path, field: field, message: "expected an offset aligned to \(align), found \(rel)",
                                  hint: "the file is corrupt")
            }
            let (abs, o3) = start.addingReportingOverflow(rel)
            let (end, o4) = abs.addingReportingOverflow(bytes)
            guard !o3, !o4, end <= file.size else {
                throw FormatError(file: path, field: field,
                                  message: "data [\(rel), +\(bytes)) after the data section at \(start) ends past the end of the file (\(file.size) bytes)",
                                  hint: "the file is truncated; download it again")
            }
            idx[r.name] = infos.count
            infos.append(GGUFTensorInfo(name: r.name, dims: r.dims, type: r.type, offset: abs, byteCount: bytes))
        }
        tensors = infos
        index = idx
    }

    static func readValue(_ c: inout ByteCursor, tag: UInt32, depth: Int) throws -> GGUFValue {
        guard let t = GGUFValueType(rawValue: tag) else {
            throw FormatError(file: c.file.path, field: c.context, message: "unknown value type \(tag)", hint: "the file is corrupt")
        }
        switch t {
        case .uint8: return .uint8(try c.read(UInt8.self))
        case .int8: return .int8(try c.read(Int8.self))
        case .uint16: return .uint16(try c.read(UInt16.self))
        case .int16: return .int16(try c.read(Int16.self))
        case .uint32: return .uint32(try c.read(UInt32.self))
        case .int32: return .int32(try c.read(Int32.self))
        case .uint64: return .uint64(try c.read(UInt64.self))
        case .int64: return .int64(try c.read(Int64.self))
        case .float32: return .float32(try c.readFloat())
        case .float64: return .float64(try c.readDouble())
        case .bool:
            let b = try c.read(UInt8.self)
            guard b <= 1 else {
                throw FormatError(file: c.file.path, field: c.context, message: "expected a bool 0 or 1, found \(b)", hint: "the file is corrupt")
            }
            return .bool(b == 1)
        case .string: return .string(try c.readString("string"))
        case .array:
            guard depth < maxArrayDepth else {
                throw FormatError(file: c.file.path, field: c.context, message: "arrays nested deeper than \(maxArrayDepth)",
                                  hint: "the file is corrupt")
            }
            let et = try c.read(UInt32.self)
            guard let elem = GGUFValueType(rawValue: et) else {
                throw FormatError(file: c.file.path, field: c.context, message: "unknown array item type \(et)", hint: "the file is corrupt")
            }
            let n = try c.readCount("array length", minBytes: elem.minEncodedBytes)
            var items = [GGUFValue]()
            items.reserveCapacity(n)
            for _ in 0..<n { items.append(try readValue(&c, tag: et, depth: depth + 1)) }
            return .array(elem, items)
        }
    }

    // MARK: tensors

    /// The info of a tensor, or nil.
    public func tensor(_ name: String) -> GGUFTensorInfo? { index[name].map { tensors[$0] } }

    /// The raw bytes of a tensor inside the mapping (valid while this file lives).
    public func rawBytes(_ info: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: mapped.base.map { $0 + info.offset }, count: info.byteCount)
    }

    /// A 2-D tensor (or a higher one flattened to rows = ne1·ne2·ne3) as a FrozenMatrix over the mapping.
    public func matrix(_ name: String) throws -> GGUFMatrix {
        guard let info = tensor(name) else {
            throw FormatError(file: path, field: "tensor \(name)", message: "not found", hint: "list the tensors with gguf-dump")
        }
        return try GGUFMatrix(file: self, info: info)
    }

    /// Any tensor dequantized to fp32 (norms, biases, small tensors).
    public func floats(_ name: String) throws -> [Float] {
        try matrix(name).dequantizedArray()
    }

    // MARK: typed metadata

    /// A string value, or nil when absent or not a string.
    public func string(_ key: String) -> String? { metadata[key]?.stringValue }
    /// An integer value of any width, or nil.
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }
    /// A float32/float64 value as Float, or nil.
    public func float(_ key: String) -> Float? { metadata[key]?.doubleValue.map { Float($0) } }
    /// A bool value, or nil.
    public func bool(_ key: String) -> Bool? { metadata[key]?.boolValue }
    /// An array of strings (`tokenizer.ggml.tokens`, `.merges`), or nil.
    public func strings(_ key: String) -> [String]? {
        guard case let .array(.string, items)? = metadata[key] else { return nil }
        return items.map { $0.stringValue ?? "" }
    }
    /// An array of bools (Gemma's `attention.sliding_window_pattern` as flags), or nil.
    public func bools(_ key: String) -> [Bool]? {
        guard case let .array(.bool, items)? = metadata[key] else { return nil }
        return items.map { $0.boolValue ?? false }
    }
    /// An array of integers of any width (`tokenizer.ggml.token_type`), or nil.
    public func ints(_ key: String) -> [Int]? {
        guard let items = metadata[key]?.arrayValue else { return nil }
        var out = [Int]()
        out.reserveCapacity(items.count)
        for item in items {
            guard let v = item.intValue else { return nil }
            out.append(v)
        }
        return out
    }
    /// An array of float32/float64 (`tokenizer.ggml.scores`), or nil.
    public func floats(key: String) -> [Float]? {
        guard let items = metadata[key]?.arrayValue else { return nil }
        var out = [Float]()
        out.reserveCapacity(items.count)
        for item in items {
            guard case let .float32(v) = item else {
                guard let d = item.doubleValue else { return nil }
                out.append(Float(d))
                continue
            }
            out.append(v)
        }
        return out
    }

    /// A required integer, or an error naming the key.
    public func requireInt(_ key: String) throws -> Int {
        guard let v = int(key) else { throw missing(key, "an integer") }
        return v
    }
    /// A required float, or an error naming the key.
    public func requireFloat(_ key: String) throws -> Float {
        guard let v = float(key) else { throw missing(key, "a number") }
        return v
    }
    /// A required string, or an error naming the key.
    public func requireString(_ key: String) throws -> String {
        guard let v = string(key) else { throw missing(key, "a string") }
        return v
    }

    private func missing(_ key: String, _ what: String) -> FormatError {
        let found = metadata[key].map { "a value of type \($0.type)" } ?? "no such key"
        return FormatError(file: path, field: "metadata \"\(key)\"", message: "expected \(what), found \(found)",
                           hint: "the file was not written by a llama.cpp converter for this architecture")
    }
}
