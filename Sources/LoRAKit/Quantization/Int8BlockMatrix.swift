/// A frozen matrix in bitsandbytes blockwise 8-bit form: one dynamic-map code per value, one absmax per block
/// (plain, or nested with the same block size, as `quantize_blockwise(nested=True)` does).
public final class Int8BlockMatrix: FrozenMatrix, @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    /// Values per absmax block.
    public let blockSize: Int
    /// Per-block scales.
    public let scales: BlockScales
    let codes: UnsafeMutableBufferPointer<UInt8>
    let table: UnsafeMutableBufferPointer<Float>

    /// Wraps codes (rows·cols bytes) and scales; throws when the counts do not fit the shape.
    public init(rows: Int, cols: Int, blockSize: Int, codes values: [UInt8], scales: BlockScales,
                name: String = "matrix") throws {
        try BlockScales.checkShape(rows: rows, cols: cols, blockSize: blockSize, codes: values.count,
                                   expectedCodes: rows * cols, scales: scales, name: name)
        self.rows = rows
        self.cols = cols
        self.blockSize = blockSize
        self.scales = scales
        let c = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(values.count, 1))
        _ = values.withUnsafeBufferPointer { c.initialize(from: $0) }
        codes = c
        table = .allocate(capacity: 256)
        _ = table.initialize(from: DynamicMap.values)
    }

    deinit {
        codes.deallocate()
        table.deallocate()
    }

    public var storageName: String { scales.isNested ? "int8+dq" : "int8" }
    public var storageBytes: Int { rows * cols + scales.bytes }
    public var denseBase: UnsafePointer<Float>? { nil }

    /// The codes (tests, export).
    public var codeBytes: [UInt8] { Array(codes) }

    public func dequantize(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        guard let c = codes.baseAddress, let t = table.baseAddress else { return }
        var e = rowRange.lowerBound * cols
        let end = rowRange.upperBound * cols
        var out = dst
        while e < end {
            let block = e / blockSize
            let blockEnd = min((block + 1) * blockSize, end)
            let s = scales.scale(block)
            let sv = SIMD8<Float>(repeating: s)
            while e + 8 <= blockEnd {
                let v = SIMD8<Float>(t[Int(c[e])], t[Int(c[e + 1])], t[Int(c[e + 2])], t[Int(c[e + 3])],
                                     t[Int(c[e + 4])], t[Int(c[e + 5])], t[Int(c[e + 6])], t[Int(c[e + 7])]) * sv
                UnsafeMutableRawPointer(out).storeBytes(of: v, as: SIMD8<Float>.self)
                out += 8; e += 8
            }
            while e < blockEnd {
                out.pointee = t[Int(c[e])] * s
                out += 1; e += 1
            }
        }
    }
}
