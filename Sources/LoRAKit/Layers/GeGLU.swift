/// Gemma's gated MLP activation: h = gelu(gate) ⊙ up with PyTorch's tanh GELU, 0.5·x·(1 + tanh(y)),
/// y = √(2/π)·(x + 0.044715·x³), computed as x·σ(2y) (the same function, without the cancellation of 1 + tanh for
/// negative x).
public enum GeGLU {
    @usableFromInline static let k0: Float = 0.7978845608028654   // √(2/π)
    @usableFromInline static let k1: Float = 0.044715

    /// h (N, F) = gelu_tanh(gate) ⊙ up; gate, up (N, F).
    public static func forward(h: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        Parallel.forRanges(count, minChunk: 1 << 14) { r in
            var i = r.lowerBound
            let one = SIMD8<Float>(repeating: 1), a = SIMD8<Float>(repeating: 2 * k0), b = SIMD8<Float>(repeating: k1)
            while i + 8 <= r.upperBound {
                let x = Vec.load(gate + i)
                let sig = one / (one + Vec.exp(-(a * (x + b * x * x * x))))
                Vec.store(x * sig * Vec.load(up + i), h + i)
                i += 8
            }
            while i < r.upperBound {
                let x = gate[i]
                h[i] = x / (1 + Vec.exp(-(2 * k0 * (x + k1 * x * x * x)))) * up[i]
                i += 1
            }
        }
    }

    /// dgate, dup (N, F) = the gradients of h = gelu_tanh(gate)⊙up given dh (N, F) (overwritten, not accumulated):
    /// dup = dh·gelu(g), dgate = dh·up·(s + g·s·(1 − s)·2y′) with s = σ(2y), y′ = √(2/π)·(1 + 3·0.044715·g²).
    public static func backward(
        dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dh: UnsafePointer<Float>,
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int
    ) {
        Parallel.forRanges(count, minChunk: 1 << 14) { r in
            var i = r.lowerBound
            let one = SIMD8<Float>(repeating: 1), a = SIMD8<Float>(repeating: 2 * k0), b = SIMD8<Float>(repeating: k1)
            let b3 = SIMD8<Float>(repeating: 3 * k1)
            while i + 8 <= r.upperBound {
                let x = Vec.load(gate + i), d = Vec.load(dh + i)
                let s = one / (one + Vec.exp(-(a * (x + b * x * x * x))))
                Vec.store(d * x * s, dup + i)
                Vec.store(d * Vec.load(up + i) * (s + x * s * (one - s) * a * (one + b3 * x * x)), dgate + i)
                i += 8
            }
            while i < r.upperBound {
                let x = gate[i], d = dh[i]
                let s = 1 / (1 + Vec.exp(-(2 * k0 * (x + k1 * x * x * x))))
                dup[i] = d * x * s
                dgate[i] = d * up[i] * (s + x * s * (1 - s) * 2 * k0 * (1 + 3 * k1 * x * x))
                i += 1
            }
        }
    }
}
