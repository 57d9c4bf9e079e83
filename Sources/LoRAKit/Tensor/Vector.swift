/// SIMD elementwise kernels shared by the layers (8 floats a lane group; scalar tails).
public enum Vec {
    /// exp(x) for 8 lanes (Cephes-style range reduction + degree-6 polynomial; relative error ≈ 2e-7).
    @inlinable @inline(__always)
    public static func exp(_ v: SIMD8<Float>) -> SIMD8<Float> {
        var x = v.clamped(lowerBound: SIMD8(repeating: -87.3), upperBound: SIMD8(repeating: 88.3))
        var fx = x * 1.44269504088896341 + 0.5
        fx = fx.rounded(.down)
        x = x - fx * 0.693359375
        x = x - fx * -2.12194440e-4
        let z = x * x
        var y: SIMD8<Float> = SIMD8(repeating: 1.9875691500e-4)
        y = y * x + 1.3981999507e-3
        y = y * x + 8.3334519073e-3
        y = y * x + 4.1665795894e-2
        y = y * x + 1.6666665459e-1
        y = y * x + 5.0000001201e-1
        y = y * z + x + 1
        let n = SIMD8<Int32>(fx, rounding: .towardZero) &+ 127
        let pow2 = unsafeBitCast(n &<< 23, to: SIMD8<Float>.self)
        return y * pow2
    }

    /// exp(x) for one float, same approximation as the SIMD version.
    @inlinable @inline(__always)
    public static func exp(_ x: Float) -> Float { exp(SIMD8(repeating: x))[0] }

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
