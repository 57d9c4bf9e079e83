import CBLAS
import CKernels

/// The singular values of a LoRA update ΔW = scale·B·A computed from the small factors only, never the dense
/// (out, in) matrix.
///
/// Dimension letters: r rank, `in` input features, `out` output features.
///
/// With Aᵀ = Q_A R_A (thin QR; Q_A orthonormal, R_A (kA, r)), B·A = (B R_Aᵀ) Q_Aᵀ, so ΔW has the singular values of
/// the (out, kA) matrix B R_Aᵀ, i.e. the square roots of the eigenvalues of its (kA, kA) Gram matrix
/// M = R_A G_B R_Aᵀ with G_B = BᵀB. All in double: relative accuracy of σᵢ about 1e-16·(σ₁/σᵢ)², far inside what the
/// inspection needs (values below ~1e-8·σ₁ read as about that).
///
/// Work per module: G_B by a double-accumulating Gram kernel (out·r²/2 multiply-adds), R_A from A's Gram (see
/// `rFactor`), two triangular products and an r × r symmetric eigenproblem (tridiagonal reduction + dsterf).
public enum UpdateSpectrum {
    /// One module's r × r eigenproblem, reduced: the tridiagonal form of M scaled to a largest entry of 1, and the
    /// number of singular values it gives. The eigenvalues are found for several modules at once (`solve`).
    struct Core {
        var matrix: Tridiagonal
        /// min(r, in, out).
        var count: Int
    }

    /// Singular values of scale·B·A, descending (min(r, in, out) of them; zeros included).
    /// - Parameters: a (r, in) row-major, b (out, r) row-major.
    public static func singularValues(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, rank r: Int, inFeatures nIn: Int, outFeatures nOut: Int,
        scale: Float
    ) throws -> [Double] {
        var cores = [try core(a: a, b: b, rank: r, inFeatures: nIn, outFeatures: nOut)]
        try solve(&cores)
        return singularValues(of: cores[0], scale: scale)
    }

    /// The singular values of a solved core: √λ·|scale|, descending.
    static func singularValues(of core: Core, scale: Float) -> [Double] {
        let sc = Double(abs(scale))
        return core.matrix.eigenvalues.prefix(core.count).map { max(0, $0).squareRoot() * sc }
    }

    /// Solves the cores' eigenproblems, `LORATOP_QL_BATCH` at a time (see `Tridiagonal.solve`).
    static func solve(_ cores: inout [Core]) throws {
        var matrices = cores.map(\.matrix)
        try Tridiagonal.solve(&matrices)
        for i in cores.indices { cores[i].matrix = matrices[i] }
    }

    /// Everything but the eigenvalues: R_A, G_B, M = R_A G_B R_Aᵀ and its tridiagonal form.
    static func core(a: UnsafePointer<Float>, b: UnsafePointer<Float>, rank r: Int, inFeatures nIn: Int,
                     outFeatures nOut: Int) throws -> Core {
        guard r > 0, nIn > 0, nOut > 0 else { return Core(matrix: Tridiagonal(solved: []), count: 0) }
        let rA = try rFactor(a, m: nIn, r: r)                                       // (kA, r)
        var m = try gram(b, samples: nOut, n: r, sampleStride: r, elementStride: 1)  // G_B (r, r), then T, then M
        let kA = rA.count / r
        var failed = false
        rA.withUnsafeBufferPointer { rp in
            guard let rb = rp.baseAddress else { return }
            if kA == r {
                // M = R_A G_B R_Aᵀ, over G_B (R_A upper triangular)
                let status = m.withUnsafeMutableBufferPointer { mp -> Int32 in
                    guard let mb = mp.baseAddress else { return 1 }
                    return loratop_congruence_upper(Int32(r), rb, mb)
                }
                if status != 0 { failed = true }
            } else {
                // R_A is (kA, r) trapezoidal (rank above in): T (kA, r) = R_A G_B, M (kA, kA) = T R_Aᵀ
                var t = [Double](repeating: 0, count: kA * r), out = [Double](repeating: 0, count: kA * kA)
                m.withUnsafeBufferPointer { gp in
                    t.withUnsafeMutableBufferPointer { tp in
                        out.withUnsafeMutableBufferPointer { op in
                            guard let g = gp.baseAddress, let tb = tp.baseAddress, let ob = op.baseAddress else { return }
                            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(kA), Int32(r), Int32(r), 1, rb,
                                        Int32(r), g, Int32(r), 0, tb, Int32(r))
                            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(kA), Int32(kA), Int32(r), 1, tb,
                                        Int32(r), rb, Int32(r), 0, ob, Int32(kA))
                        }
                    }
                }
                m = out
            }
        }
        if failed { throw RankResizeError(message: "inspection: no memory for a \(r)×\(r) product") }
        return Core(matrix: try Tridiagonal.reduce(symmetric: &m, n: kA), count: min(r, nIn, nOut))
    }

    /// The (n, n) Gram matrix Σ_t x_t x_tᵀ of float vectors, accumulated in double (see `loratop_gram_f64`).
    static func gram(_ x: UnsafePointer<Float>, samples: Int, n: Int, sampleStride: Int, elementStride: Int) throws
        -> [Double] {
        var g = [Double](repeating: 0, count: n * n)
        let status = g.withUnsafeMutableBufferPointer { gp -> Int32 in
            guard let gb = gp.baseAddress else { return -1 }
            return loratop_gram_f64(x, Int64(samples), Int32(n), Int64(sampleStride), Int64(elementStride), gb)
        }
        if status != 0 { throw RankResizeError(message: "inspection: no memory for a \(n)×\(n) Gram matrix") }
        return g
    }

    /// Eigenvalues (descending) of the symmetric (n, n) matrix `m` (full storage; destroyed); see `Tridiagonal`.
    static func symmetricEigenvalues(_ m: inout [Double], n: Int) throws -> [Double] {
        var t = [try Tridiagonal.reduce(symmetric: &m, n: n)]
        try Tridiagonal.solve(&t)
        return t[0].eigenvalues
    }

    /// The R factor (k, r) row-major, k = min(m, r), of the thin QR of the m × r matrix M = Aᵀ, given as A (r, m)
    /// row-major (each of M's r columns is m contiguous floats).
    ///
    /// Fast path: G = MᵀM accumulated in float straight on A's rows (`loratop_gram_rows_f32`; A is Kaiming-initialised
    /// and stays well conditioned), then Cholesky; the float Gram is kept only when κ(G) < 1e4 (judged from R's diagonal). Otherwise G is redone in
    /// double, and when that is singular or κ(G) > 1e10, Householder QR of a double copy is used.
    static func rFactor(_ x: UnsafePointer<Float>, m: Int, r: Int) throws -> [Double] {
        if m >= r {
            var gf = [Double](repeating: 0, count: r * r)
            gf.withUnsafeMutableBufferPointer { gp in
                guard let g = gp.baseAddress else { return }
                loratop_gram_rows_f32(x, Int32(r), Int64(m), g)
            }
            if let chol = cholesky(gf, r: r, maxCondition: 1e4) { return chol }
            let g = try gram(x, samples: m, n: r, sampleStride: 1, elementStride: m)
            if let chol = cholesky(g, r: r, maxCondition: 1e10) { return chol }
        }
        // Householder QR of M column-major (m, r), which is A (r, m) row-major
        var mc = [Double](repeating: 0, count: m * r)
        for i in 0..<(m * r) { mc[i] = Double(x[i]) }
        return try householderR(&mc, m: m, r: r)
    }

    /// R (r, r) upper triangular, row-major, from the symmetric G = RᵀR (r × r; `loratop_cholesky_upper`), or nil when G is not positive definite with
    /// κ(G) ≤ `maxCondition` (judged from R's diagonal).
    static func cholesky(_ gram: [Double], r: Int, maxCondition: Double) -> [Double]? {
        var maxDiag = 0.0
        for i in 0..<r { maxDiag = max(maxDiag, gram[i * r + i]) }
        guard maxDiag > 0, maxDiag.isFinite else { return nil }
        var out = [Double](repeating: 0, count: r * r)
        let status = gram.withUnsafeBufferPointer { gp in
            out.withUnsafeMutableBufferPointer { op -> Int32 in
                guard let g = gp.baseAddress, let o = op.baseAddress else { return 1 }
                return loratop_cholesky_upper(Int32(r), g, o)
            }
        }
        guard status == 0 else { return nil }
        var dMin = Double.infinity, dMax = 0.0
        for i in 0..<r { let d = out[i * r + i] * out[i * r + i]; dMin = min(dMin, d); dMax = max(dMax, d) }
        guard dMin * maxCondition > dMax else { return nil }
        return out
    }

    /// R (k, r) row-major, k = min(m, r), from Householder QR (dgeqrf) of M column-major (m, r), destroyed.
    static func householderR(_ mc: inout [Double], m: Int, r: Int) throws -> [Double] {
        var tau = [Double](repeating: 0, count: min(m, r))
        try RankResize.lapackQR(&mc, rows: m, cols: r, tau: &tau)
        let k = min(m, r)
        var out = [Double](repeating: 0, count: k * r)
        for j in 0..<r { for i in 0..<min(j + 1, k) { out[i * r + j] = mc[j * m + i] } }
        return out
    }
}
