import Foundation

/// One tensor of an export whose values are made only when the writer reaches it, so a whole model is written
/// while at most one tensor's fp32 values (plus its encoding) is in memory.
struct PlannedTensor {
    /// The tensor name in the output file.
    let name: String
    /// HF shape: (out, in) for matrices, (n) for vectors.
    let shape: [Int]
    /// Makes the fp32 values (row-major `shape`).
    let produce: () throws -> [Float]

    var count: Int { shape.reduce(1, *) }
}

/// Streaming writers for exports: the header is computed from the plan (names, shapes, types), then each
/// tensor is produced, encoded, written and dropped. Files are written atomically.
enum ExportStream {
    /// Encodes fp32 values as a GGUF tensor type (F32, F16 or Q8_0).
    static func ggufBytes(_ values: [Float], type: GGMLType, name: String) throws -> [UInt8] {
        switch type {
        case .f32: return values.withUnsafeBytes { Array($0) }
        case .f16: return GGUFEncode.f16(values)
        case .q8_0: return GGUFEncode.q8_0(values)
        default:
            throw FormatError(file: "(gguf export)", field: "tensor \(name)", message: "cannot encode \(type.name); expected f32, f16 or q8_0")
        }
    }

    /// Writes a GGUF v3 file: `metadata` in order, then `tensors` with `typeOf(tensor)` storage.
    static func writeGGUF(
        to path: String, metadata: [(String, GGUFValue)], tensors: [PlannedTensor], typeOf: (PlannedTensor) -> GGMLType
    ) throws {
        var alignment = 32
        if let a = metadata.first(where: { $0.0 == "general.alignment" })?.1.intValue, a > 0, a & (a - 1) == 0 { alignment = a }
        func pad(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }
        var types: [GGMLType] = []
        var sizes: [Int] = []
        for t in tensors {
            let type = typeOf(t)
            let dims = Array(t.shape.reversed())
            guard let rb = type.rowBytes(dims[0]) else {
                throw FormatError(file: path, field: "tensor \(t.name)",
                                  message: "\(type.name) needs rows of a multiple of \(type.blockValues) values, found \(dims[0])",
                                  hint: "export with --dtype f32 or f16")
            }
            types.append(type)
            sizes.append(rb * dims.dropFirst().reduce(1, *))
        }
        var b = GGUFBytes()
        b.u32(0x4655_4747)
        b.u32(3)
        b.u64(UInt64(tensors.count))
        b.u64(UInt64(metadata.count))
        for (k, v) in metadata {
            b.string(k)
            b.u32(v.type.rawValue)
            b.value(v)
        }
        var offset = 0
        for (i, t) in tensors.enumerated() {
            b.string(t.name)
            b.u32(UInt32(t.shape.count))
            for d in t.shape.reversed() { b.u64(UInt64(d)) }
            b.u32(types[i].rawValue)
            b.u64(UInt64(offset))
            offset += pad(sizes[i])
        }
        b.bytes += [UInt8](repeating: 0, count: pad(b.bytes.count) - b.bytes.count)
        try AtomicFile.write(to: path) { sink in
            try sink.write(b.bytes)
            for (i, t) in tensors.enumerated() {
                let values = try t.produce()
                guard values.count == t.count else {
                    throw FormatError(file: path, field: "tensor \(t.name)", message: "expected \(t.count) values for \(t.shape), found \(values.count)")
                }
                let bytes = try ggufBytes(values, type: types[i], name: t.name)
                try sink.write(bytes)
                try sink.pad(pad(bytes.count) - bytes.count)
            }
        }
    }

    /// Writes a safetensors file with `__metadata__`, tensors in plan order, every tensor as `dtype`.
    static func writeSafetensors(
        to path: String, metadata: [String: String], tensors: [PlannedTensor], dtype: SafetensorsDType
    ) throws {
        guard dtype == .f32 || dtype == .f16 || dtype == .bf16 else {
            throw FormatError(file: path, field: "dtype", message: "cannot write \(dtype.rawValue); expected F32, F16 or BF16")
        }
        var parts: [String] = []
        if !metadata.isEmpty {
            let kv = metadata.sorted { $0.key < $1.key }
                .map { "\(SafetensorsWriter.quote($0.key)):\(SafetensorsWriter.quote($0.value))" }
            parts.append("\"__metadata__\":{" + kv.joined(separator: ",") + "}")
        }
        var offset = 0
        for t in tensors {
            let n = t.count * dtype.size
            parts.append("\(SafetensorsWriter.quote(t.name)):{\"dtype\":\"\(dtype.rawValue)\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + n)]}")
            offset += n
        }
        var json = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var header = [UInt8]()
        withUnsafeBytes(of: UInt64(json.count).littleEndian) { header += $0 }
        header += json
        try AtomicFile.write(to: path) { sink in
            try sink.write(header)
            for t in tensors {
                let values = try t.produce()
                guard values.count == t.count else {
                    throw FormatError(file: path, field: "tensor \(t.name)", message: "expected \(t.count) values for \(t.shape), found \(values.count)")
                }
                switch dtype {
                case .f16: try sink.write(GGUFEncode.f16(values))
                case .bf16: try sink.write(SafetensorsWriter.bf16(values))
                default: try values.withUnsafeBytes { try sink.write($0) }
                }
            }
        }
    }
}
