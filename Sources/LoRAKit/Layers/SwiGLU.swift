/// The SwiGLU gate of the MLP: h = silu(gate) ⊙ up, silu(x) = x·σ(x). (The three projections are Linear layers.)
public enum SwiGLU {
    /// h (N, F) = silu(gate) ⊙ up; gate, up (N, F).
    public static func forward(h: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int) {
        Parallel.forRanges(count, minChunk: 1 << 14) { r in
            var i = r.lowerBound
            let one = SIMD8<Float>(repeating: 1)
            while i + 8 <= r.upperBound {
                let g = Vec.load(gate + i)
                let sig = one / (one + Vec.exp(-g))
                Vec.store(g * sig * Vec.load(up + i), h + i)
                i += 8
            }
            while i < r.upperBound {
                let g = gate[i]
                h[i] = g / (1 + Vec.exp(-g)) * up[i]
                i += 1
            }
        }
    }

    /// dgate, dup (N, F) = the gradients of h = silu(gate)⊙up given dh (N, F) (overwritten, not accumulated):
    /// dup = dh·silu(g), dgate = dh·up·σ(g)·(1 + g·(1 − σ(g))).
    public static func backward(
        dgate: UnsafeMutablePointer<Float>, dup: UnsafeMutablePointer<Float>, dh: UnsafePointer<Float>,
        gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int
    ) {
        Parallel.forRanges(count, minChunk: 1 << 14) { r in
            var i = r.lowerBound
            let one = SIMD8<Float>(repeating: 1)
            while i + 8 <= r.upperBound {
                let g = Vec.load(gate + i), d = Vec.load(dh + i)
                let sig = one / (one + Vec.exp(-g))
                Vec.store(d * g * sig, dup + i)
                Vec.store(d * Vec.load(up + i) * sig * (one + g * (one - sig)), dgate + i)
                i += 8
            }
            while i < r.upperBound {
                let g = gate[i], d = dh[i]
                let sig = 1 / (1 + Vec.exp(-g))
                dup[i] = d * g * sig
                dgate[i] = d * up[i] * sig * (1 + g * (1 - sig))
                i += 1
            }
        }
    }
}
