/// Builds a GGUF (version 3) file: metadata of every type in insertion order, tensors as F32, F16 or Q8_0
/// (or raw blocks of any type), data aligned; written atomically. The byte layout matches gguf-py's GGUFWriter
/// for the same content (header, metadata, tensor infos, padding, each tensor padded to the alignment).
public struct GGUFWriter {
    private var keys: [String] = []
    private var values: [String: GGUFValue] = [:]
    private var tensors: [(info: (name: String, dims: [Int], type: GGMLType), data: [UInt8])] = []

    /// Data alignment; set `general.alignment` through `set` to change it (a power of two).
    public var alignment: Int {
        if let a = values["general.alignment"]?.intValue, a > 0, a & (a - 1) == 0 { return a }
        return 32
    }

    /// An empty file description.
    public init() {}

    /// Sets a metadata value; a new key goes last, an existing key keeps its place.
    public mutating func set(_ key: String, _ value: GGUFValue) {
        if values[key] == nil { keys.append(key) }
        values[key] = value
    }

    /// Adds a tensor from raw encoded bytes; `dims` in ggml order (ne0 first). Checks the byte count.
    public mutating func addRaw(name: String, dims: [Int], type: GGMLType, bytes: [UInt8]) throws {
        guard !dims.isEmpty, dims.count <= 4, dims.allSatisfy({ $0 >= 0 }) else {
            throw FormatError(file: "(gguf writer)", field: "tensor \(name)", message: "expected 1…4 non-negative dims, found \(dims)")
        }
        guard !tensors.contains(where: { $0.info.name == name }) else {
            throw FormatError(file: "(gguf writer)", field: "tensor \(name)", message: "duplicate tensor name")
        }
        let rows = dims.dropFirst().reduce(1, *)
        guard let rb = type.rowBytes(dims[0]), rb * rows == bytes.count else {
            throw FormatError(file: "(gguf writer)", field: "tensor \(name)",
                              message: "expected \(type.rowBytes(dims[0]).map { String($0 * rows) } ?? "whole blocks") bytes for \(type.name) \(dims), found \(bytes.count)")
        }
        tensors.append(((name, dims, type), bytes))
    }

    /// Adds fp32 values of HF shape `shape` ((out, in) or (n)) encoded as F32, F16 or Q8_0.
    public mutating func add(name: String, shape: [Int], values: [Float], as type: GGMLType = .f32) throws {
        guard shape.reduce(1, *) == values.count else {
            throw FormatError(file: "(gguf writer)", field: "tensor \(name)", message: "expected \(shape.reduce(1, *)) values for \(shape), found \(values.count)")
        }
        let dims = Array(shape.reversed())
        let bytes: [UInt8]
        switch type {
        case .f32: bytes = values.withUnsafeBytes { Array($0) }
        case .f16: bytes = GGUFEncode.f16(values)
        case .q8_0:
            guard (dims.first ?? 0) % 32 == 0 else {
                throw FormatError(file: "(gguf writer)", field: "tensor \(name)", message: "Q8_0 needs rows of a multiple of 32 values, found \(dims.first ?? 0)",
                                  hint: "store this tensor as F32 or F16")
            }
            bytes = GGUFEncode.q8_0(values)
        default:
            throw FormatError(file: "(gguf writer)", field: "tensor \(name)", message: "cannot encode \(type.name); expected f32, f16 or q8_0")
        }
        try addRaw(name: name, dims: dims, type: type, bytes: bytes)
    }

    /// The complete file bytes.
    public func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(headerBytes().count + tensors.reduce(0) { $0 + $1.data.count + alignment })
        out += headerBytes()
        for t in tensors {
            out += t.data
            out += [UInt8](repeating: 0, count: pad(t.data.count) - t.data.count)
        }
        return out
    }

    /// Writes the file atomically (temp file, fsync, rename).
    public func write(to path: String) throws {
        try AtomicFile.write(to: path) { sink in
            try sink.write(headerBytes())
            for t in tensors {
                try sink.write(t.data)
                try sink.pad(pad(t.data.count) - t.data.count)
            }
        }
    }

    private func pad(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

    /// Header, metadata and tensor infos, padded to the alignment.
    private func headerBytes() -> [UInt8] {
        var b = GGUFBytes()
        b.u32(0x4655_4747)
        b.u32(3)
        b.u64(UInt64(tensors.count))
        b.u64(UInt64(keys.count))
        for k in keys {
            b.string(k)
            if let v = values[k] {
                b.u32(v.type.rawValue)
                b.value(v)
            }
        }
        var offset = 0
        for t in tensors {
            b.string(t.info.name)
            b.u32(UInt32(t.info.dims.count))
            for d in t.info.dims { b.u64(UInt64(d)) }
            b.u32(t.info.type.rawValue)
            b.u64(UInt64(offset))
            offset += pad(t.data.count)
        }
        b.bytes += [UInt8](repeating: 0, count: pad(b.bytes.count) - b.bytes.count)
        return b.bytes
    }
}

/// Little-endian GGUF value encoding.
struct GGUFBytes {
    var bytes: [UInt8] = []
    mutating func int<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func u32(_ v: UInt32) { int(v) }
    mutating func u64(_ v: UInt64) { int(v) }
    mutating func string(_ s: String) {
        u64(UInt64(s.utf8.count))
        bytes += Array(s.utf8)
    }
    mutating func value(_ v: GGUFValue) {
        switch v {
        case let .uint8(x): int(x)
        case let .int8(x): int(x)
        case let .uint16(x): int(x)
        case let .int16(x): int(x)
        case let .uint32(x): int(x)
        case let .int32(x): int(x)
        case let .uint64(x): int(x)
        case let .int64(x): int(x)
        case let .float32(x): int(x.bitPattern)
        case let .float64(x): int(x.bitPattern)
        case let .bool(x): bytes.append(x ? 1 : 0)
        case let .string(s): string(s)
        case let .array(t, items):
            u32(t.rawValue)
            u64(UInt64(items.count))
            for item in items { value(item) }  // a nested array item is encoded exactly like a top-level array value
        }
    }
}

/// fp32 → GGUF encodings, bit-exact with gguf-py (`astype(np.float16)`, `gguf.quants.quantize(..., Q8_0)`).
public enum GGUFEncode {
    /// fp32 → fp16 bytes (round to nearest even).
    public static func f16(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 2)
        out.withUnsafeMutableBytes { o in
            for (i, v) in values.enumerated() { o.storeBytes(of: Float16(v).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
        }
        return out
    }

    /// fp32 → Q8_0 blocks: d = max|x|/127, q = round-half-away(x·(1/d)).
    public static func q8_0(_ values: [Float]) -> [UInt8] {
        let blocks = values.count / 32
        var out = [UInt8](repeating: 0, count: blocks * 34)
        out.withUnsafeMutableBytes { o in
            for b in 0..<blocks {
                var amax: Float = 0
                for j in 0..<32 { amax = max(amax, abs(values[b * 32 + j])) }
                let d = amax / 127
                let id: Float = d == 0 ? 0 : 1 / d
                o.storeBytes(of: Float16(d).bitPattern.littleEndian, toByteOffset: b * 34, as: UInt16.self)
                for j in 0..<32 {
                    let q = (values[b * 32 + j] * id).rounded(.toNearestOrAwayFromZero)
                    o.storeBytes(of: Int8(clamping: Int(q)), toByteOffset: b * 34 + 2 + j, as: Int8.self)
                }
            }
        }
        return out
    }
}
