import Foundation

/// A safetensors element type.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case f64 = "F64", f32 = "F32", f16 = "F16", bf16 = "BF16"
    case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"
    case u16 = "U16", u32 = "U32", u64 = "U64", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool, .f8e4m3, .f8e5m2: 1
        }
    }

    /// Whether loratop reads this type as fp32.
    public var isFloatWeight: Bool { self == .f32 || self == .f16 || self == .bf16 }
}

/// One tensor's entry in a safetensors header.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    /// The tensor name.
    public let name: String
    /// Element type.
    public let dtype: SafetensorsDType
    /// Shape, row-major (PyTorch order).
    public let shape: [Int]
    /// Absolute byte offset in the file.
    public let offset: Int
    /// Bytes of data.
    public let byteCount: Int

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }
}

/// A safetensors file, memory-mapped, header parsed and validated (sizes, offsets, overlaps) before any use.
public final class SafetensorsFile: @unchecked Sendable {
    /// The mapping (kept alive by every tensor view).
    public let mapped: MappedFile
    /// The `__metadata__` strings.
    public let metadata: [String: String]
    /// Tensors in data order.
    public let tensors: [SafetensorsTensorInfo]
    private let index: [String: Int]

    /// Path of the file.
    public var path: String { mapped.path }

    /// Largest header accepted (the reference implementation's limit).
    public static let maxHeaderBytes = 100 * 1024 * 1024

    /// Maps and parses `path`.
    public convenience init(path: String) throws {
        try self.init(mapped: MappedFile(path: path))
    }

    /// Parses an already mapped file.
    public init(mapped file: MappedFile) throws {
        mapped = file
        let path = file.path
        var c = ByteCursor(file)
        c.context = "header length"
        guard file.size >= 8 else {
            throw FormatError(file: path, field: "header length", message: "expected at least 8 bytes, found \(file.size)",
                              hint: "the file is empty or truncated")
        }
        let n = try c.read(UInt64.self)
        guard n <= UInt64(Self.maxHeaderBytes), Int(n) <= file.size - 8 else {
            throw FormatError(file: path, field: "header length",
                              message: "expected at most \(min(Self.maxHeaderBytes, file.size - 8)) bytes, found \(n)",
                              hint: "this is not a safetensors file, or it is truncated")
        }
        let headerData = Data(file.bytes(8..<(8 + Int(n))))
        guard let json = try? JSONSerialization.jsonObject(with: headerData), let dict = json as? [String: Any] else {
            throw FormatError(file: path, field: "header", message: "expected a JSON object of \(n) bytes, found invalid JSON",
                              hint: "the file is corrupt or not a safetensors file")
        }
        let dataStart = 8 + Int(n)
        let dataSize = file.size - dataStart
        var meta = [String: String]()
        var infos = [SafetensorsTensorInfo]()
        for (name, any) in dict {
            let field = "tensor \(name)"
            if name == "__metadata__" {
                guard let m = any as? [String: Any] else {
                    throw FormatError(file: path, field: "__metadata__", message: "expected an object of strings", hint: "the header is corrupt")
                }
                for (k, v) in m {
                    guard let s = v as? String else {
                        throw FormatError(file: path, field: "__metadata__.\(k)", message: "expected a string, found \(type(of: v))")
                    }
                    meta[k] = s
                }
                continue
            }
            guard let t = any as? [String: Any], let ds = t["dtype"] as? String,
                  let shapeAny = t["shape"] as? [Any], let offs = t["data_offsets"] as? [Any], offs.count == 2 else {
                throw FormatError(file: path, field: field, message: "expected {dtype, shape, data_offsets: [begin, end]}",
                                  hint: "the header is corrupt")
            }
            guard let dtype = SafetensorsDType(rawValue: ds) else {
                throw FormatError(file: path, field: field, message: "unknown dtype \"\(ds)\"", hint: "the header is corrupt")
            }
            var shape = [Int]()
            var count = 1
            for s in shapeAny {
                guard let d = Self.int(s), d >= 0 else {
                    throw FormatError(file: path, field: field, message: "expected non-negative integer dims, found \(shapeAny)")
                }
                let (m, o) = count.multipliedReportingOverflow(by: d)
                guard !o else { throw FormatError(file: path, field: field, message: "shape \(shapeAny) overflows") }
                count = m
                shape.append(d)
            }
            guard let begin = Self.int(offs[0]), let end = Self.int(offs[1]), begin >= 0, begin <= end, end <= dataSize else {
                throw FormatError(file: path, field: field,
                                  message: "data_offsets \(offs) must lie inside the \(dataSize) data bytes",
                                  hint: "the file is truncated or corrupt")
            }
            let (bytes, o) = count.multipliedReportingOverflow(by: dtype.size)
            guard !o, bytes == end - begin else {
                throw FormatError(file: path, field: field,
                                  message: "expected \(o ? "an addressable size" : String(bytes)) bytes for \(dtype.rawValue) \(shape), found \(end - begin)",
                                  hint: "the header is corrupt")
            }
            infos.append(SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, offset: dataStart + begin, byteCount: bytes))
        }
        infos.sort { ($0.offset, $0.byteCount) < ($1.offset, $1.byteCount) }
        for (a, b) in zip(infos, infos.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw FormatError(file: path, field: "tensor \(b.name)", message: "data overlaps tensor \(a.name)", hint: "the header is corrupt")
        }
        metadata = meta
        tensors = infos
        index = Dictionary(uniqueKeysWithValues: infos.enumerated().map { ($1.name, $0) })
    }

    private static func int(_ any: Any) -> Int? {
        if let i = any as? Int { return i }
        if let d = any as? Double, d == d.rounded(), abs(d) < 9.0e15 { return Int(d) }
        return nil
    }

    /// The info of a tensor, or nil.
    public func tensor(_ name: String) -> SafetensorsTensorInfo? { index[name].map { tensors[$0] } }

    /// A 2-D F32/F16/BF16 tensor as a FrozenMatrix over the mapping (1-D: one row).
    public func matrix(_ name: String) throws -> SafetensorsMatrix {
        guard let info = tensor(name) else {
            throw FormatError(file: path, field: "tensor \(name)", message: "not found")
        }
        return try SafetensorsMatrix(file: self, info: info)
    }

    /// Any F32/F16/BF16 tensor as fp32 values.
    public func floats(_ name: String) throws -> [Float] { try matrix(name).dequantizedArray() }
}

/// A safetensors F32/F16/BF16 tensor as a FrozenMatrix (rows = product of leading dims, cols = last dim).
public final class SafetensorsMatrix: FrozenMatrix, @unchecked Sendable {
    /// The file the data lives in.
    public let file: SafetensorsFile
    /// The tensor's entry.
    public let info: SafetensorsTensorInfo
    public let rows: Int
    public let cols: Int
    private let data: UnsafeRawPointer?

    /// A view of `info` in `file`; throws for non-float dtypes.
    public init(file: SafetensorsFile, info: SafetensorsTensorInfo) throws {
        guard info.dtype.isFloatWeight else {
            throw FormatError(file: file.path, field: "tensor \(info.name)", message: "expected F32, F16 or BF16, found \(info.dtype.rawValue)",
                              hint: "convert the weights to a float type")
        }
        self.file = file
        self.info = info
        cols = info.shape.last ?? 1
        rows = info.shape.isEmpty ? 1 : info.shape.dropLast().reduce(1, *)
        data = file.mapped.base.map { $0 + info.offset }
    }

    public var storageName: String { info.dtype.rawValue.lowercased() }
    public var storageBytes: Int { info.byteCount }

    public var denseBase: UnsafePointer<Float>? {
        guard info.dtype == .f32, let data, Int(bitPattern: data) % 4 == 0 else { return nil }
        return data.assumingMemoryBound(to: Float.self)
    }

    public func dequantize(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        guard let data, !rowRange.isEmpty else { return }
        precondition(rowRange.lowerBound >= 0 && rowRange.upperBound <= rows, "SafetensorsMatrix \(info.name): rows \(rowRange) of \(rows)")
        let src = data + rowRange.lowerBound * cols * info.dtype.size
        let n = rowRange.count * cols
        switch info.dtype {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4)
        case .f16: GGUFBlocks.dequantize(.f16, src, dst, count: n)
        default: GGUFBlocks.dequantize(.bf16, src, dst, count: n)
        }
    }
}
