import CKernels

/// A frozen matrix in bitsandbytes 4-bit blockwise form (NF4 or FP4): the row-major flattened values in blocks of
/// `blockSize`, two codes per byte (first element in the high nibble), one absmax per block (plain or nested).
/// Bit-compatible with `bitsandbytes.functional.quantize_4bit` / `dequantize_4bit` (0.50.2, CPU).
public final class Blockwise4BitMatrix: FrozenMatrix, @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    /// NF4 or FP4.
    public let type: FourBitType
    /// Values per absmax block.
    public let blockSize: Int
    /// Per-block scales.
    public let scales: BlockScales
    /// Packed codes, (rows·cols + 1) / 2 bytes.
    let packed: UnsafeMutableBufferPointer<UInt8>
    /// byte → (value of high nibble, value of low nibble), 256 pairs.
    let pairs: UnsafeMutableBufferPointer<SIMD2<Float>>
    /// code → value.
    let table: UnsafeMutableBufferPointer<Float>

    /// Wraps already-packed codes and scales (the quantizer and file readers build these); throws when the
    /// byte or block counts do not fit the shape.
    public init(rows: Int, cols: Int, type: FourBitType, blockSize: Int, packed codes: [UInt8], scales: BlockScales,
                name: String = "matrix") throws {
        try BlockScales.checkShape(rows: rows, cols: cols, blockSize: blockSize, codes: codes.count,
                                   expectedCodes: (rows * cols + 1) / 2, scales: scales, name: name)
        self.rows = rows
        self.cols = cols
        self.type = type
        self.blockSize = blockSize
        self.scales = scales
        let pk = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(codes.count, 1))
        _ = codes.withUnsafeBufferPointer { pk.initialize(from: $0) }
        packed = pk
        let book = FourBitCodebook.of(type)
        table = .allocate(capacity: 16)
        _ = table.initialize(from: book.values)
        pairs = .allocate(capacity: 256)
        for b in 0..<256 { pairs[b] = SIMD2(book.values[b >> 4], book.values[b & 15]) }
    }

    deinit {
        packed.deallocate()
        pairs.deallocate()
        table.deallocate()
    }

    public var storageName: String { type.rawValue + (scales.isNested ? "+dq" : "") }
    public var storageBytes: Int { (rows * cols + 1) / 2 + scales.bytes }
    public var denseBase: UnsafePointer<Float>? { nil }

    /// The packed codes (tests, export).
    public var packedCodes: [UInt8] { Array(packed) }

    public func dequantize(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        guard let codes = packed.baseAddress, let pairTable = pairs.baseAddress, let t = table.baseAddress else { return }
        var e = rowRange.lowerBound * cols
        let end = rowRange.upperBound * cols
        var out = dst
        while e < end {
            let block = e / blockSize
            let blockEnd = min((block + 1) * blockSize, end)
            let s = scales.scale(block)
            if e & 1 == 1 {  // odd start: low nibble of the byte we are in
                out.pointee = t[Int(codes[e >> 1] & 15)] * s
                out += 1; e += 1
            }
            let npairs = (blockEnd - e) >> 1
            let bytes = codes + (e >> 1)
            let sv = SIMD2<Float>(repeating: s)
            let raw = UnsafeMutableRawPointer(out)
            // one table load, one 2-wide multiply and one 8-byte store per byte of codes
            for k in 0..<npairs {
                raw.storeBytes(of: pairTable[Int(bytes[k])] * sv, toByteOffset: k << 3, as: SIMD2<Float>.self)
            }
            out += npairs << 1
            e += npairs << 1
            if e < blockEnd {  // one element left, even index: high nibble
                out.pointee = t[Int(codes[e >> 1] >> 4)] * s
                out += 1; e += 1
            }
        }
    }
}

extension Blockwise4BitMatrix {
    /// Straight to bf16: per block, the 16 possible values rounded once, then codes looked up 32 at a time with byte
    /// shuffles (`loratop_dequant4_bf16`); the same bits as `dequantize` followed by rounding.
    public func dequantizeBF16(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<UInt16>) {
        guard let codes = packed.baseAddress, let t = table.baseAddress, !rowRange.isEmpty else { return }
        let first = rowRange.lowerBound * cols, count = rowRange.count * cols
        let b0 = first / blockSize, b1 = (first + count - 1) / blockSize
        let s = [Float](unsafeUninitializedCapacity: b1 - b0 + 1) { buf, n in
            if let p = buf.baseAddress { scales.fill(from: b0, count: b1 - b0 + 1, into: p) }
            n = b1 - b0 + 1
        }
        s.withUnsafeBufferPointer { sp in
            loratop_dequant4_bf16(codes, Int64(first), Int64(count), Int64(blockSize), sp.baseAddress, t, dst)
        }
    }

    /// Quantizes one block the way bitsandbytes' default `quantize_4bit` kernel does; writes nibbles at element
    /// index `first` of `packed`, returns the absmax stored for the block.
    ///
    /// Full blocks scale by `x * (1 / max(absmax, 1e-38))` and store the unclamped absmax; the trailing partial
    /// block divides by `max(absmax, 1e-38)` and stores that clamped value. Both clamp to [-1, 1] first.
    @inline(__always)
    static func quantizeBlock(_ x: UnsafePointer<Float>, count: Int, partial: Bool, book: FourBitCodebook,
                              packed: UnsafeMutablePointer<UInt8>, first: Int) -> Float {
        var absmax: Float = 0
        for i in 0..<count { absmax = max(absmax, abs(x[i])) }
        let floor = Float(1e-38)
        let clamped = max(absmax, floor)
        let recip = Float(1) / clamped
        for i in 0..<count {
            let scaled = partial ? x[i] / clamped : x[i] * recip
            let q = book.code(for: min(max(scaled, -1), 1))
            let e = first + i
            if e & 1 == 0 { packed[e >> 1] = q << 4 } else { packed[e >> 1] |= q }
        }
        return partial ? clamped : absmax
    }
}
