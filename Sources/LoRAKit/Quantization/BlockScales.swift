/// Per-block absmax scales of a blockwise-quantized matrix: plain fp32, or double-quantized the bitsandbytes
/// way (offset = mean(absmax); `absmax - offset` quantized with the dynamic 8-bit map in blocks of `nestedBlockSize`,
/// each with its own fp32 absmax2). Restoring block b is `code8[q[b]] * absmax2[b / nestedBlockSize] + offset`.
public final class BlockScales: @unchecked Sendable {
    /// Number of blocks.
    public let count: Int
    /// Whether the scales are themselves quantized.
    public let isNested: Bool
    /// Nested block size (256 for 4-bit, the outer block size for int8, as bitsandbytes does); 0 when plain.
    public let nestedBlockSize: Int
    /// The mean subtracted before nested quantization (0 when plain).
    public let offset: Float
    // plain: count floats. nested: count codes + absmax2.
    let plain: UnsafeMutableBufferPointer<Float>
    let codes: UnsafeMutableBufferPointer<UInt8>
    let absmax2: UnsafeMutableBufferPointer<Float>
    let map: UnsafeMutableBufferPointer<Float>

    /// Plain fp32 scales.
    public init(plain absmax: [Float]) {
        count = absmax.count
        isNested = false
        nestedBlockSize = 0
        offset = 0
        let values = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(count, 1))
        _ = absmax.withUnsafeBufferPointer { values.initialize(from: $0) }
        plain = values
        codes = .allocate(capacity: 0)
        absmax2 = .allocate(capacity: 0)
        map = .allocate(capacity: 0)
    }

    /// Double-quantizes `absmax` exactly as bitsandbytes' `quantize_blockwise(absmax - absmax.mean(), blocksize)`.
    public init(nesting absmax: [Float], nestedBlockSize: Int) {
        count = absmax.count
        isNested = true
        self.nestedBlockSize = nestedBlockSize
        let mean = TorchFloatSum.mean(absmax)
        offset = mean
        let centered = absmax.map { $0 - mean }
        let blocks2 = (count + nestedBlockSize - 1) / nestedBlockSize
        let q = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(count, 1))
        let a2 = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(blocks2, 1))
        let m = UnsafeMutableBufferPointer<Float>.allocate(capacity: 256)
        _ = DynamicMap.values.withUnsafeBufferPointer { m.initialize(from: $0) }
        let n = count
        DynamicMap.lookup.withUnsafeBufferPointer { lut in
            centered.withUnsafeBufferPointer { c in
                guard let src = c.baseAddress, let dst = q.baseAddress, let l = lut.baseAddress else { return }
                for b in 0..<blocks2 {
                    let lo = b * nestedBlockSize, len = min(nestedBlockSize, n - lo)
                    a2[b] = Int8Blocks.quantizeBlock(src + lo, count: len, into: dst + lo, lookup: l)
                }
            }
        }
        codes = q
        absmax2 = a2
        map = m
        plain = .allocate(capacity: 0)
    }

    deinit {
        plain.deallocate()
        codes.deallocate()
        absmax2.deallocate()
        map.deallocate()
    }

    /// The (restored) absmax of block `b`.
    @inline(__always)
    public func scale(_ b: Int) -> Float {
        if !isNested { return plain[b] }
        let product = map[Int(codes[b])] * absmax2[b / nestedBlockSize]
        return product + offset
    }

    /// Scales of blocks b0..<b0 + n into `dst` (the same values as `scale`, one division per call, not per block).
    public func fill(from b0: Int, count n: Int, into dst: UnsafeMutablePointer<Float>) {
        guard n > 0 else { return }
        if !isNested {
            if let p = plain.baseAddress { dst.update(from: p + b0, count: n) }
            return
        }
        var j = b0 / nestedBlockSize, left = nestedBlockSize - b0 % nestedBlockSize
        var a2 = absmax2[j]
        for i in 0..<n {
            if left == 0 { j += 1; a2 = absmax2[j]; left = nestedBlockSize }
            dst[i] = map[Int(codes[b0 + i])] * a2 + offset
            left -= 1
        }
    }

    /// All restored scales (tests, export).
    public func restored() -> [Float] { (0..<count).map(scale) }

    /// Bytes held: 4 per block plain; nested 1 per block + 4 per nested block + 4 for the offset.
    public var bytes: Int { Self.bytes(blocks: count, nestedBlockSize: isNested ? nestedBlockSize : nil) }

    /// Bytes the scales of `blocks` blocks hold, plain (nil) or nested in blocks of `nestedBlockSize`.
    public static func bytes(blocks: Int, nestedBlockSize: Int?) -> Int {
        guard let nested = nestedBlockSize else { return 4 * blocks }
        return blocks + 4 * ((blocks + nested - 1) / nested) + 4
    }

    /// Throws unless `codes` and this many scales fit a rows × cols matrix in blocks of `blockSize`.
    static func checkShape(rows: Int, cols: Int, blockSize: Int, codes: Int, expectedCodes: Int, scales: BlockScales,
                           name: String) throws {
        guard rows >= 0, cols >= 0, blockSize > 0 else {
            throw QuantizationError(tensor: name, message: "shape \(rows)×\(cols), block \(blockSize): expected positive sizes")
        }
        let blocks = (rows * cols + blockSize - 1) / blockSize
        guard codes == expectedCodes, scales.count == blocks else {
            throw QuantizationError(
                tensor: name,
                message: "\(rows)×\(cols) in blocks of \(blockSize) needs \(expectedCodes) code bytes and \(blocks) scales, "
                    + "found \(codes) and \(scales.count); the file's quantization state does not match the tensor shape")
        }
    }

    /// The plain fp32 absmax (nil when nested).
    public var plainValues: [Float]? { isNested ? nil : Array(plain) }
    /// The nested codes (nil when plain).
    public var nestedCodes: [UInt8]? { isNested ? Array(codes) : nil }
    /// The nested blocks' fp32 absmax (nil when plain).
    public var nestedAbsmax: [Float]? { isNested ? Array(absmax2) : nil }
}

/// bitsandbytes' CPU blockwise 8-bit quantizer (`quantize_blockwise`, fp32 path, 0.50) for one block.
enum Int8Blocks {
    /// Quantizes `count` values into codes; returns the block's absmax. An all-zero block stores absmax 0 and
    /// codes 0; otherwise each code is `lookup[index(x * (1 / absmax))]`.
    @inline(__always)
    static func quantizeBlock(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<UInt8>,
                              lookup: UnsafePointer<UInt8>) -> Float {
        var absmax: Float = 0
        for i in 0..<count { absmax = max(absmax, abs(x[i])) }
        if absmax == 0 {
            out.update(repeating: 0, count: count)
            return 0
        }
        let inv = Float(1) / absmax
        for i in 0..<count { out[i] = lookup[DynamicMap.lookupIndex(x[i] * inv)] }
        return absmax
    }
}
