/// SIMD elementwise kernels shared by the layers (8 floats a lane group; scalar tails).
public enum Vec {
    /// exp(x) for 4 lanes: Cephes-style reduction x = n·ln2 + r (n by the 1.5·2²³ rounding trick),
    /// degree-6 polynomial for e^r, 2ⁿ by building the exponent bits; relative error ≈ 1e-7.
    /// Written for plain SSE2 codegen: no lane rounding or conversion calls, clamping by `replacing`.
    @inlinable @inline(__always)
    public static func exp(_ v: SIMD4<Float>) -> SIMD4<Float> {
        let lo = SIMD4<Float>(repeating: -87.3), hi = SIMD4<Float>(repeating: 88.3)
        var x0 = v.replacing(with: lo, where: v .< lo)
        x0 = x0.replacing(with: hi, where: x0 .> hi)
        let magic = SIMD4<Float>(repeating: 12_582_912.0)
        let t = x0 * SIMD4(repeating: 1.44269504088896341) + magic
        let nf = t - magic
        var x = x0 - nf * SIMD4(repeating: 0.693359375)
        x = x - nf * SIMD4(repeating: -2.12194440e-4)
        let z = x * x
        var y = SIMD4<Float>(repeating: 1.9875691500e-4)
        y = y * x + SIMD4(repeating: 1.3981999507e-3)
        y = y * x + SIMD4(repeating: 8.3334519073e-3)
        y = y * x + SIMD4(repeating: 4.1665795894e-2)
        y = y * x + SIMD4(repeating: 1.6666665459e-1)
        y = y * x + SIMD4(repeating: 5.0000001201e-1)
        y = y * z + x + SIMD4(repeating: 1)
        let n = unsafeBitCast(t, to: SIMD4<Int32>.self) &- SIMD4(repeating: 0x4B40_0000)
        let pow2 = unsafeBitCast((n &+ SIMD4(repeating: 127)) &<< SIMD4(repeating: 23), to: SIMD4<Float>.self)
        return y * pow2
    }

    /// exp(x) for 8 lanes (two 4-lane halves).
    @inlinable @inline(__always)
    public static func exp(_ v: SIMD8<Float>) -> SIMD8<Float> {
        SIMD8(lowHalf: exp(v.lowHalf), highHalf: exp(v.highHalf))
    }

    /// x ← cap·tanh(x/cap) over `count` floats (Gemma's soft-capping), tanh(y) = 1 − 2/(e^{2y} + 1): exact at ±∞,
    /// absolute error about 1e-7·cap.
    @inlinable
    public static func softcap(_ x: UnsafeMutablePointer<Float>, count: Int, cap: Float) {
        let c8 = SIMD8<Float>(repeating: cap), k8 = SIMD8<Float>(repeating: 2 / cap), one = SIMD8<Float>(repeating: 1)
        var j = 0
        while j + 8 <= count {
            let e = exp(load(x + j) * k8)
            store(c8 * (one - 2 / (e + one)), x + j)
            j += 8
        }
        while j < count { x[j] = cap * (1 - 2 / (exp(x[j] * 2 / cap) + 1)); j += 1 }
    }

    /// Lane-wise maximum without the NaN-aware generic path.
    @inlinable @inline(__always)
    public static func max(_ a: SIMD8<Float>, _ b: SIMD8<Float>) -> SIMD8<Float> { a.replacing(with: b, where: b .> a) }

    /// exp(x) for one float, same approximation as the SIMD version.
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(SIMD4(repeating: x))[0] }

    /// Loads 8 floats.
    @inlinable @inline(__always)
    public static func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Stores 8 floats.
    @inlinable @inline(__always)
    public static func store(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }

    /// y[i] += x[i] for n floats.
    @inlinable
    public static func add(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        var i = 0
        while i + 8 <= n { store(load(y + i) + load(x + i), y + i); i += 8 }
        while i < n { y[i] += x[i]; i += 1 }
    }

    /// Parallel y += x over a large buffer.
    public static func addParallel(_ y: UnsafeMutablePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int) {
        Parallel.forRanges(n, minChunk: 1 << 15) { r in add(y + r.lowerBound, x + r.lowerBound, r.count) }
    }

    /// Sum of squares in Double (for norms).
    @inlinable
    public static func sumSquares(_ x: UnsafePointer<Float>, _ n: Int) -> Double {
        var acc = SIMD8<Float>(repeating: 0)
        var total = 0.0
        var i = 0
        while i + 8 <= n {
            let v = load(x + i)
            acc += v * v
            i += 8
            if i & 4095 == 0 { total += Double(acc.sum()); acc = .zero }
        }
        total += Double(acc.sum())
        while i < n { total += Double(x[i] * x[i]); i += 1 }
        return total
    }
}
