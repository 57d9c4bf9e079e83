/// Builds a safetensors file (F32, F16, BF16) with a `__metadata__` dict, written atomically.
/// Layout as the reference writer: header JSON padded with spaces to 8 bytes, tensors ordered by
/// element size (largest first) then name.
public struct SafetensorsWriter {
    private var metadata: [(String, String)] = []
    private var tensors: [(name: String, dtype: SafetensorsDType, shape: [Int], data: [UInt8])] = []

    /// An empty file with optional metadata (PEFT writes ["format": "pt"]).
    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata.sorted { $0.key < $1.key }
    }

    /// Adds fp32 values of `shape` stored as `dtype` (F32, F16 or BF16, rounded to nearest even).
    public mutating func add(name: String, shape: [Int], values: [Float], dtype: SafetensorsDType = .f32) throws {
        guard shape.reduce(1, *) == values.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatError(file: "(safetensors writer)", field: "tensor \(name)",
                              message: "expected \(shape.reduce(1, *)) values for shape \(shape), found \(values.count)")
        }
        guard name != "__metadata__", !tensors.contains(where: { $0.name == name }) else {
            throw FormatError(file: "(safetensors writer)", field: "tensor \(name)", message: "duplicate or reserved name")
        }
        let bytes: [UInt8]
        switch dtype {
        case .f32: bytes = values.withUnsafeBytes { Array($0) }
        case .f16: bytes = GGUFEncode.f16(values)
        case .bf16: bytes = Self.bf16(values)
        default:
            throw FormatError(file: "(safetensors writer)", field: "tensor \(name)", message: "cannot write \(dtype.rawValue); expected F32, F16 or BF16")
        }
        tensors.append((name, dtype, shape, bytes))
    }

    /// fp32 → bf16 bytes, round to nearest even, NaN kept quiet (as PyTorch and gguf-py).
    static func bf16(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count * 2)
        out.withUnsafeMutableBytes { o in
            for (i, v) in values.enumerated() {
                let n = v.bitPattern
                let h: UInt16 = v.isNaN ? UInt16(truncatingIfNeeded: (n >> 16) | 64)
                    : UInt16(truncatingIfNeeded: (UInt64(n) + UInt64(0x7FFF + ((n >> 16) & 1))) >> 16)
                o.storeBytes(of: h.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
            }
        }
        return out
    }

    private var ordered: [(name: String, dtype: SafetensorsDType, shape: [Int], data: [UInt8])] {
        tensors.sorted { ($0.dtype.size, $1.name) > ($1.dtype.size, $0.name) }
    }

    /// The header (length prefix + padded JSON).
    private func header() -> [UInt8] {
        var json = "{"
        var parts = [String]()
        if !metadata.isEmpty {
            parts.append("\"__metadata__\":{" + metadata.map { "\(Self.quote($0.0)):\(Self.quote($0.1))" }.joined(separator: ",") + "}")
        }
        var offset = 0
        for t in ordered {
            parts.append("\(Self.quote(t.name)):{\"dtype\":\"\(t.dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + t.data.count)]}")
            offset += t.data.count
        }
        json += parts.joined(separator: ",") + "}"
        var bytes = Array(json.utf8)
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        var out = [UInt8]()
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out += $0 }
        return out + bytes
    }

    /// The complete file bytes.
    public func encoded() -> [UInt8] {
        var out = header()
        for t in ordered { out += t.data }
        return out
    }

    /// Writes the file atomically (temp file, fsync, rename).
    public func write(to path: String) throws {
        try AtomicFile.write(to: path) { sink in
            try sink.write(header())
            for t in ordered { try sink.write(t.data) }
        }
    }

    /// A JSON string literal.
    static func quote(_ s: String) -> String { JSONObject.quote(s) }
}
