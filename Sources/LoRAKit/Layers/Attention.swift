/// Causal self-attention with grouped-query heads (kvHeads divides heads; query head h reads KV head
/// h / (heads/kvHeads)). Scores and products go through sgemm per (sequence, head); the T×T probabilities
/// are kept for backward.
public enum Attention {
    /// Softmax over the causal prefix of each score row: row i keeps columns 0...i (+ `offset`),
    /// the rest become 0. `s` is (rows, ld).
    @inlinable
    static func causalSoftmax(_ s: UnsafeMutablePointer<Float>, rows: Int, ld: Int, offset: Int) {
        for i in 0..<rows {
            let row = s + i * ld
            let n = min(ld, offset + i + 1)
            var mx = -Float.infinity
            for j in 0..<n { mx = max(mx, row[j]) }
            var sum = SIMD8<Float>(repeating: 0)
            var tail: Float = 0
            var j = 0
            let m8 = SIMD8<Float>(repeating: mx)
            while j + 8 <= n { let e = Vec.exp(Vec.load(row + j) - m8); Vec.store(e, row + j); sum += e; j += 8 }
            while j < n { let e = Vec.exp(row[j] - mx); row[j] = e; tail += e; j += 1 }
            let inv = 1 / (sum.sum() + tail)
            j = 0
            while j + 8 <= n { Vec.store(Vec.load(row + j) * inv, row + j); j += 8 }
            while j < n { row[j] *= inv; j += 1 }
            if n < ld { (row + n).update(repeating: 0, count: ld - n) }
        }
    }

    /// out (N, Cq), att (B, heads, T, T) probabilities; q (N, Cq), k, v (N, Ckv) with RoPE already applied.
    public static func forward(
        out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        B: Int, T: Int, heads: Int, kvHeads: Int, headDim hd: Int
    ) {
        let Cq = heads * hd, Ckv = kvHeads * hd, group = heads / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        Parallel.forEachItem(B * heads) { item in
            let b = item / heads, h = item % heads, kh = h / group
            let qp = q + b * T * Cq + h * hd
            let kp = k + b * T * Ckv + kh * hd
            let vp = v + b * T * Ckv + kh * hd
            let a = att + item * T * T
            // (T, T) = scale · Q Kᵀ
            BLAS.gemm(transB: true, m: T, n: T, k: hd, alpha: scale, a: qp, lda: Cq, b: kp, ldb: Ckv, c: a, ldc: T)
            causalSoftmax(a, rows: T, ld: T, offset: 0)
            // (T, hd) = P V
            BLAS.gemm(m: T, n: hd, k: T, a: a, lda: T, b: vp, ldb: Ckv, c: out + b * T * Cq + h * hd, ldc: Cq)
        }
    }

    /// dq (N, Cq), dk, dv (N, Ckv) accumulate; dout (N, Cq); `scratch` holds B·kvHeads·T·T floats.
    /// Work is split by (sequence, KV head) so the heads sharing one K/V accumulate into it in a fixed order.
    public static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, att: UnsafePointer<Float>,
        B: Int, T: Int, heads: Int, kvHeads: Int, headDim hd: Int
    ) {
        let Cq = heads * hd, Ckv = kvHeads * hd, group = heads / kvHeads
        let scale = 1 / Float(hd).squareRoot()
        Parallel.forEachItem(B * kvHeads) { item in
            let b = item / kvHeads, kh = item % kvHeads
            let kp = k + b * T * Ckv + kh * hd, vp = v + b * T * Ckv + kh * hd
            let dkp = dk + b * T * Ckv + kh * hd, dvp = dv + b * T * Ckv + kh * hd
            let dp = scratch + item * T * T
            for h in (kh * group)..<((kh + 1) * group) {
                let a = att + (b * heads + h) * T * T
                let qp = q + b * T * Cq + h * hd, dqp = dq + b * T * Cq + h * hd
                let dop = dout + b * T * Cq + h * hd
                // dP (T, T) = dO Vᵀ ; dV (T, hd) += Pᵀ dO
                BLAS.gemm(transB: true, m: T, n: T, k: hd, a: dop, lda: Cq, b: vp, ldb: Ckv, c: dp, ldc: T)
                BLAS.gemm(transA: true, m: T, n: hd, k: T, a: a, lda: T, b: dop, ldb: Cq, beta: 1, c: dvp, ldc: Ckv)
                // dS = P ⊙ (dP − Σ_j P dP) · scale  (the softmax backward, rows over the causal prefix)
                for i in 0..<T {
                    let pr = a + i * T, dr = dp + i * T
                    let n = i + 1
                    var dot: Float = 0
                    for j in 0..<n { dot += pr[j] * dr[j] }
                    for j in 0..<n { dr[j] = pr[j] * (dr[j] - dot) * scale }
                    if n < T { (dr + n).update(repeating: 0, count: T - n) }
                }
                // dQ (T, hd) += dS K ; dK (T, hd) += dSᵀ Q
                BLAS.gemm(m: T, n: hd, k: T, a: dp, lda: T, b: kp, ldb: Ckv, beta: 1, c: dqp, ldc: Cq)
                BLAS.gemm(transA: true, m: T, n: hd, k: T, a: dp, lda: T, b: qp, ldb: Cq, beta: 1, c: dkp, ldc: Ckv)
            }
        }
    }

    /// Incremental attention for one sequence against a KV cache: q (Tn, Cq) at positions offset..<offset+Tn,
    /// kCache, vCache (offset+Tn, Ckv) already holding the new keys; out (Tn, Cq); scratch Tn·(offset+Tn) floats.
    public static func forwardCached(
        out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, kCache: UnsafePointer<Float>, vCache: UnsafePointer<Float>,
        Tn: Int, offset: Int, heads: Int, kvHeads: Int, headDim hd: Int
    ) {
        let Cq = heads * hd, Ckv = kvHeads * hd, group = heads / kvHeads
        let L = offset + Tn
        let scale = 1 / Float(hd).squareRoot()
        for h in 0..<heads {
            let kh = h / group
            BLAS.gemm(transB: true, m: Tn, n: L, k: hd, alpha: scale, a: q + h * hd, lda: Cq,
                      b: kCache + kh * hd, ldb: Ckv, c: scratch, ldc: L)
            causalSoftmax(scratch, rows: Tn, ld: L, offset: offset)
            BLAS.gemm(m: Tn, n: hd, k: L, a: scratch, lda: L, b: vCache + kh * hd, ldb: Ckv, c: out + h * hd, ldc: Cq)
        }
    }
}
