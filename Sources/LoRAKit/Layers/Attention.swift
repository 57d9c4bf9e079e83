/// Causal self-attention with grouped-query heads (kvHeads divides heads; query head h reads KV head
/// h / (heads/kvHeads)). Scores and products go through sgemm per (sequence, head, block of query rows), skipping
/// the key blocks a row block cannot see; the T×T probabilities (zero above the diagonal) are kept for backward.
public enum Attention {
    /// Softmax over the causal prefix of each score row: row i keeps columns 0...i (+ `offset`), or with a `window`
    /// only the last `window` of them, the rest become 0. With a `softcap` the kept scores s become cap·tanh(s/cap)
    /// first (Gemma 2). `s` is (rows, ld).
    @inlinable
    static func causalSoftmax(_ s: UnsafeMutablePointer<Float>, rows: Int, ld: Int, offset: Int, window: Int? = nil,
                              softcap: Float? = nil) {
        for i in 0..<rows {
            let row = s + i * ld
            let n = min(ld, offset + i + 1)
            let lo = window.map { min(n, max(0, offset + i + 1 - $0)) } ?? 0
            if lo > 0 { row.update(repeating: 0, count: lo) }
            if let cap = softcap { Vec.softcap(row + lo, count: n - lo, cap: cap) }
            var m8v = SIMD8<Float>(repeating: -Float.infinity)
            var j = lo
            while j + 8 <= n { m8v = Vec.max(m8v, Vec.load(row + j)); j += 8 }
            var mx = m8v.max()
            while j < n { mx = max(mx, row[j]); j += 1 }
            var sum = SIMD8<Float>(repeating: 0)
            var tail: Float = 0
            j = lo
            let m8 = SIMD8<Float>(repeating: mx)
            while j + 8 <= n { let e = Vec.exp(Vec.load(row + j) - m8); Vec.store(e, row + j); sum += e; j += 8 }
            while j < n { let e = Vec.exp(row[j] - mx); row[j] = e; tail += e; j += 1 }
            let inv = 1 / (sum.sum() + tail)
            j = lo
            while j + 8 <= n { Vec.store(Vec.load(row + j) * inv, row + j); j += 8 }
            while j < n { row[j] *= inv; j += 1 }
            if n < ld { (row + n).update(repeating: 0, count: ld - n) }
        }
    }

    /// The softmax backward in place over causal rows: d (rows, ld) holds dP on entry and dS = P ⊙ (dP − Σⱼ P·dP) · scale
    /// on exit for columns 0...offset+i of row i; columns up to `width` beyond the prefix become 0.
    @inlinable
    static func softmaxBackward(
        _ d: UnsafeMutablePointer<Float>, p: UnsafePointer<Float>, rows: Int, ld: Int, offset: Int, width: Int, scale: Float
    ) {
        let s8 = SIMD8<Float>(repeating: scale)
        for i in 0..<rows {
            let pr = p + i * ld, dr = d + i * ld
            let n = min(width, offset + i + 1)
            var acc = SIMD8<Float>(repeating: 0)
            var j = 0
            while j + 8 <= n { acc += Vec.load(pr + j) * Vec.load(dr + j); j += 8 }
            var dot = acc.sum()
            while j < n { dot += pr[j] * dr[j]; j += 1 }
            let d8 = SIMD8<Float>(repeating: dot)
            j = 0
            while j + 8 <= n { Vec.store(Vec.load(pr + j) * (Vec.load(dr + j) - d8) * s8, dr + j); j += 8 }
            while j < n { dr[j] = pr[j] * (dr[j] - dot) * scale; j += 1 }
            if n < width { (dr + n).update(repeating: 0, count: width - n) }
        }
    }

    /// Query rows per block: a block of rows r0..<r1 multiplies against keys 0..<r1 only, so about a quarter of
    /// the T×T products (the blocks above the diagonal) are skipped at T = 2 blocks, more for longer sequences.
    public static let defaultRowBlock = 64

    /// out (N, Cq), att (B, heads, T, T) probabilities; q (N, Cq), k, v (N, Ckv) with RoPE already applied.
    public static func forward(
        out: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
        B: Int, T: Int, heads: Int, kvHeads: Int, headDim hd: Int, options: AttentionOptions? = nil,
        rowBlock: Int = defaultRowBlock
    ) {
        let rowBlock = max(1, rowBlock)
        let Cq = heads * hd, Ckv = kvHeads * hd, group = heads / kvHeads
        let opt = options ?? .standard(headDim: hd), scale = opt.scale
        Parallel.forEachItem(B * heads) { item in
            let b = item / heads, h = item % heads, kh = h / group
            let qp = q + b * T * Cq + h * hd
            let kp = k + b * T * Ckv + kh * hd
            let vp = v + b * T * Ckv + kh * hd
            let a = att + item * T * T
            var r0 = 0
            while r0 < T {
                // rows r0..<r1 see keys 0..<r1 only: the blocks right of the diagonal are never computed
                let r1 = min(T, r0 + rowBlock), R = r1 - r0
                // (R, r1) = scale · Q[r0..<r1] K[0..<r1]ᵀ
                BLAS.gemm(transB: true, m: R, n: r1, k: hd, alpha: scale, a: qp + r0 * Cq, lda: Cq, b: kp, ldb: Ckv,
                          c: a + r0 * T, ldc: T)
                causalSoftmax(a + r0 * T, rows: R, ld: T, offset: r0, window: opt.window, softcap: opt.softcap)
                // (R, hd) = P[r0..<r1, 0..<r1] V[0..<r1]
                BLAS.gemm(m: R, n: hd, k: r1, a: a + r0 * T, lda: T, b: vp, ldb: Ckv,
                          c: out + (b * T + r0) * Cq + h * hd, ldc: Cq)
                r0 = r1
            }
        }
    }

    /// dq (N, Cq), dk, dv (N, Ckv) accumulate; dout (N, Cq); `scratch` holds B·kvHeads·T·T floats.
    /// Work is split by (sequence, KV head) so the heads sharing one K/V accumulate into it in a fixed order.
    /// With a soft-cap the raw scores of each row block are recomputed (one more product) for tanh's derivative:
    /// dS_raw = dS_capped·(1 − tanh²(s/cap)).
    public static func backward(
        dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
        scratch: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>,
        q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>, att: UnsafePointer<Float>,
        B: Int, T: Int, heads: Int, kvHeads: Int, headDim hd: Int, options: AttentionOptions? = nil,
        rowBlock: Int = defaultRowBlock
    ) {
        let rowBlock = max(1, rowBlock)
        let Cq = heads * hd, Ckv = kvHeads * hd, group = heads / kvHeads
        let opt = options ?? .standard(headDim: hd), scale = opt.scale
        Parallel.forEachItem(B * kvHeads) { item in
            let raw = opt.softcap.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: min(T, rowBlock) * T) }
            defer { raw?.deallocate() }
            let b = item / kvHeads, kh = item % kvHeads
            let kp = k + b * T * Ckv + kh * hd, vp = v + b * T * Ckv + kh * hd
            let dkp = dk + b * T * Ckv + kh * hd, dvp = dv + b * T * Ckv + kh * hd
            let dp = scratch + item * T * T
            for h in (kh * group)..<((kh + 1) * group) {
                let qp = q + b * T * Cq + h * hd, dqp = dq + b * T * Cq + h * hd
                let dop = dout + b * T * Cq + h * hd
                let a = att + (b * heads + h) * T * T
                var r0 = 0
                while r0 < T {
                    // query rows r0..<r1 against keys 0..<r1, as in forward
                    let r1 = min(T, r0 + rowBlock), R = r1 - r0
                    let pb = a + r0 * T, db = dp + r0 * T
                    // dP (R, r1) = dO[r0..<r1] V[0..<r1]ᵀ ; dV[0..<r1] += P[r0..<r1, 0..<r1]ᵀ dO[r0..<r1]
                    BLAS.gemm(transB: true, m: R, n: r1, k: hd, a: dop + r0 * Cq, lda: Cq, b: vp, ldb: Ckv, c: db, ldc: T)
                    BLAS.gemm(transA: true, m: r1, n: hd, k: R, a: pb, lda: T, b: dop + r0 * Cq, ldb: Cq, beta: 1,
                              c: dvp, ldc: Ckv)
                    if let cap = opt.softcap, let raw {
                        // raw scores (R, r1) again, then dS = dS_capped·(1 − t²)·scale with t = tanh(s/cap)
                        BLAS.gemm(transB: true, m: R, n: r1, k: hd, alpha: scale, a: qp + r0 * Cq, lda: Cq, b: kp, ldb: Ckv,
                                  c: raw, ldc: r1)
                        softmaxBackward(db, p: pb, rows: R, ld: T, offset: r0, width: r1, scale: 1)
                        for i in 0..<R {
                            let dr = db + i * T, sr = raw + i * r1
                            Vec.softcap(sr, count: r1, cap: cap)
                            for j in 0..<r1 { let t = sr[j] / cap; dr[j] *= (1 - t * t) * scale }
                        }
                    } else {
                        softmaxBackward(db, p: pb, rows: R, ld: T, offset: r0, width: r1, scale: scale)
                    }
                    // dQ[r0..<r1] += dS K[0..<r1] ; dK[0..<r1] += dSᵀ Q[r0..<r1]
                    BLAS.gemm(m: R, n: hd, k: r1, a: db, lda: T, b: kp, ldb: Ckv, beta: 1, c: dqp + r0 * Cq, ldc: Cq)
                    BLAS.gemm(transA: true, m: r1, n: hd, k: R, a: db, lda: T, b: qp + r0 * Cq, ldb: Cq, beta: 1,
                              c: dkp, ldc: Ckv)
                    r0 = r1
                }
            }
        }
    }

    /// Incremental attention for one sequence against a KV cache: q (Tn, Cq) at positions offset..<offset+Tn,
    /// kCache, vCache (offset+Tn, Ckv) already holding the new keys; out (Tn, Cq); scratch Tn·(offset+Tn) floats.
    public static func forwardCached(
        out: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, kCache: UnsafePointer<Float>, vCache: UnsafePointer<Float>,
        Tn: Int, offset: Int, heads: Int, kvHeads: Int, headDim hd: Int, options: AttentionOptions? = nil
    ) {
        let Cq = heads * hd, Ckv = kvHeads * hd, group = heads / kvHeads
        let L = offset + Tn
        let opt = options ?? .standard(headDim: hd), scale = opt.scale
        for h in 0..<heads {
            let kh = h / group
            BLAS.gemm(transB: true, m: Tn, n: L, k: hd, alpha: scale, a: q + h * hd, lda: Cq,
                      b: kCache + kh * hd, ldb: Ckv, c: scratch, ldc: L)
            causalSoftmax(scratch, rows: Tn, ld: L, offset: offset, window: opt.window, softcap: opt.softcap)
            BLAS.gemm(m: Tn, n: hd, k: L, a: scratch, lda: L, b: vCache + kh * hd, ldb: Ckv, c: out + h * hd, ldc: Cq)
        }
    }
}
