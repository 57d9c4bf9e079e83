/// RMSNorm with a frozen weight: out = x / sqrt(mean(x²) + eps) · w (out may be x: each row is read before it is
/// written). Backward gives dx only.
public enum RMSNorm {
    /// out (N, C), rstd (N) saved for backward; x (N, C); weight (C).
    public static func forward(
        out: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, N: Int, C: Int, eps: Float
    ) {
        Parallel.forRanges(N, minChunk: 16) { rows in
            for n in rows {
                let xr = x + n * C, o = out + n * C
                var acc = SIMD8<Float>(repeating: 0)
                var i = 0
                while i + 8 <= C { let v = Vec.load(xr + i); acc += v * v; i += 8 }
                var ss = acc.sum()
                while i < C { ss += xr[i] * xr[i]; i += 1 }
                let s = 1 / (ss / Float(C) + eps).squareRoot()
                rstd[n] = s
                i = 0
                while i + 8 <= C { Vec.store(Vec.load(xr + i) * s * Vec.load(weight + i), o + i); i += 8 }
                while i < C { o[i] = xr[i] * s * weight[i]; i += 1 }
            }
        }
    }

    /// dx (N, C) += ∂out/∂x applied to dout (N, C):
    /// dx = rstd·(w⊙dout) − rstd³/C · x · Σ(w⊙dout⊙x).
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        x: UnsafePointer<Float>, weight: UnsafePointer<Float>, rstd: UnsafePointer<Float>, N: Int, C: Int
    ) {
        Parallel.forRanges(N, minChunk: 16) { rows in
            for n in rows {
                let xr = x + n * C, dr = dout + n * C, dxr = dx + n * C
                let s = rstd[n]
                var acc = SIMD8<Float>(repeating: 0)
                var i = 0
                while i + 8 <= C { acc += Vec.load(weight + i) * Vec.load(dr + i) * Vec.load(xr + i); i += 8 }
                var dot = acc.sum()
                while i < C { dot += weight[i] * dr[i] * xr[i]; i += 1 }
                let k = s * s * s * dot / Float(C)
                i = 0
                while i + 8 <= C {
                    let g = Vec.load(weight + i) * Vec.load(dr + i) * s - Vec.load(xr + i) * k
                    Vec.store(Vec.load(dxr + i) + g, dxr + i)
                    i += 8
                }
                while i < C { dxr[i] += weight[i] * dr[i] * s - xr[i] * k; i += 1 }
            }
        }
    }
}
