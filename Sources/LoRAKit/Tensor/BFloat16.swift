/// bfloat16 as raw bits (the top half of an IEEE float32): conversions and a dense bf16 frozen matrix.
///
/// Rounding is to nearest, ties to even, as PyTorch's `tensor.to(torch.bfloat16)` and oneDNN's reorders do; NaN
/// stays NaN (quiet) and ±Inf stays ±Inf. Widening back to fp32 is exact.
public enum BFloat16 {
    /// The bf16 bits nearest to `x`.
    @inlinable
    public static func bits(_ x: Float) -> UInt16 {
        let u = x.bitPattern
        if x.isNaN { return UInt16(truncatingIfNeeded: u >> 16) | 0x0040 }
        return UInt16(truncatingIfNeeded: (u &+ 0x7FFF &+ ((u >> 16) & 1)) >> 16)
    }

    /// The fp32 value of bf16 bits `b` (exact).
    @inlinable
    public static func float(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

    /// `x` rounded to the nearest bf16 value, as fp32.
    @inlinable
    public static func round(_ x: Float) -> Float { float(bits(x)) }

    /// dst[i] = bits(src[i]) for i in 0..<count, 16 at a time.
    @inlinable
    public static func convert(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<UInt16>, count: Int) {
        var i = 0
        let one = SIMD16<UInt32>(repeating: 1), bias = SIMD16<UInt32>(repeating: 0x7FFF)
        let quiet = SIMD16<UInt32>(repeating: 0x0040_0000), absMask = SIMD16<UInt32>(repeating: 0x7FFF_FFFF)
        let inf = SIMD16<UInt32>(repeating: 0x7F80_0000)
        while i + 16 <= count {
            let u = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<UInt32>.self)
            let rounded = (u &+ bias &+ ((u &>> 16) & one)) &>> 16
            let nan = (u & absMask) .> inf
            let r = rounded.replacing(with: (u | quiet) &>> 16, where: nan)
            UnsafeMutableRawPointer(dst + i).storeBytes(of: SIMD16<UInt16>(truncatingIfNeeded: r), as: SIMD16<UInt16>.self)
            i += 16
        }
        while i < count { dst[i] = bits(src[i]); i += 1 }
    }

    /// dst[i] = float(src[i]) for i in 0..<count.
    @inlinable
    public static func widen(_ src: UnsafePointer<UInt16>, to dst: UnsafeMutablePointer<Float>, count: Int) {
        var i = 0
        while i + 16 <= count {
            let b = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<UInt16>.self)
            let u = SIMD16<UInt32>(truncatingIfNeeded: b) &<< 16
            UnsafeMutableRawPointer(dst + i).storeBytes(of: u, as: SIMD16<UInt32>.self)
            i += 16
        }
        while i < count { dst[i] = float(src[i]); i += 1 }
    }
}

/// A dense frozen matrix stored in bf16 (2 bytes a weight): the base of a run that computes in bf16, whose products
/// take bf16 operands anyway. Built from any frozen matrix by rounding each weight to nearest (PyTorch's
/// `weight.to(torch.bfloat16)`); read back as fp32 exactly.
public final class BF16Matrix: FrozenMatrix, @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    /// The bf16 bits, row-major (rows × cols).
    public let storage: UnsafeMutableBufferPointer<UInt16>

    /// Rounds `source` to bf16, a tile of rows at a time (never a whole fp32 copy of a quantized source).
    public init(_ source: FrozenMatrix) {
        rows = source.rows
        cols = source.cols
        storage = .allocate(capacity: max(rows * cols, 1))
        guard let dst = storage.baseAddress else { return }
        if let base = source.denseBase {
            BFloat16.convert(base, to: dst, count: rows * cols)
            return
        }
        let tile = max(1, (1 << 16) / max(1, cols))
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: max(1, tile * cols))
        defer { buf.deallocate() }
        var r = 0
        while r < rows {
            let r1 = min(rows, r + tile)
            source.dequantize(rows: r..<r1, into: buf)
            BFloat16.convert(buf, to: dst + r * cols, count: (r1 - r) * cols)
            r = r1
        }
    }

    deinit { storage.deallocate() }

    public var storageName: String { "bf16" }
    public var storageBytes: Int { rows * cols * MemoryLayout<UInt16>.stride }
    public var denseBase: UnsafePointer<Float>? { nil }
    public var bf16Base: UnsafePointer<UInt16>? { UnsafePointer(storage.baseAddress) }

    public func dequantize(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        guard let base = storage.baseAddress else { return }
        BFloat16.widen(base + rowRange.lowerBound * cols, to: dst, count: rowRange.count * cols)
    }

    public func dequantizeBF16(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<UInt16>) {
        guard let base = storage.baseAddress else { return }
        dst.update(from: base + rowRange.lowerBound * cols, count: rowRange.count * cols)
    }
}
