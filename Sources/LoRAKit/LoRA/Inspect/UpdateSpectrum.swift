import CBLAS

/// The singular values of a LoRA update ΔW = scale·B·A computed from the small factors only, never the dense
/// (out, in) matrix.
///
/// Dimension letters: r rank, `in` input features, `out` output features.
///
/// With Aᵀ = Q_A R_A and B = Q_B R_B (thin QR; Q orthonormal, R upper triangular (r, r)),
/// B·A = Q_B (R_B R_Aᵀ) Q_Aᵀ, so ΔW has the singular values of the r×r core scale·R_B R_Aᵀ. All in double.
///
/// The R factors come from the Gram matrices (G_A = A Aᵀ = R_Aᵀ R_A, G_B = BᵀB = R_Bᵀ R_B, Cholesky): one syrk per
/// factor, about half the work of a Householder QR and all of it level-3 BLAS (see `rFactor` for when float32 is
/// enough). When a Gram matrix is singular or badly conditioned (κ(G) > 1e10: a zero B at the start of training, a
/// rank above `in` or `out`), that factor falls back to Householder QR (dgeqrf), which is exact in those cases too.
public enum UpdateSpectrum {
    /// Singular values of scale·B·A, descending (min(r, in, out) of them; zeros included).
    /// - Parameters: a (r, in) row-major, b (out, r) row-major.
    public static func singularValues(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, rank r: Int, inFeatures nIn: Int, outFeatures nOut: Int,
        scale: Float
    ) throws -> [Double] {
        guard r > 0, nIn > 0, nOut > 0 else { return [] }
        // Aᵀ (in, r) column-major is A (r, in) row-major; Bᵀ (r, out) column-major is B (out, r) row-major.
        let rA = try rFactor(a, m: nIn, r: r, columnsContiguous: true)
        let rB = try rFactor(b, m: nOut, r: r, columnsContiguous: false)
        // core (kB, kA) = R_B (kB, r) · R_Aᵀ (r, kA); stored column-major = row-major (kA, kB) = R_A · R_Bᵀ
        let kA = rA.count / r, kB = rB.count / r
        var core = [Double](repeating: 0, count: max(1, kB * kA))
        rA.withUnsafeBufferPointer { ap in
            rB.withUnsafeBufferPointer { bp in
                core.withUnsafeMutableBufferPointer { cp in
                    guard let ab = ap.baseAddress, let bb = bp.baseAddress, let cb = cp.baseAddress else { return }
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(kA), Int32(kB), Int32(r), 1, ab, Int32(r),
                                bb, Int32(r), 0, cb, Int32(kB))
                }
            }
        }
        var sigma = try gramSingularValues(core, rows: kB, cols: kA)
        let sc = Double(abs(scale))
        for i in sigma.indices { sigma[i] *= sc }
        return sigma
    }

    /// The R factor (k, r) row-major, k = min(m, r), of the thin QR of an m × r matrix M given as float32: with
    /// `columnsContiguous`, M column-major (each of its r columns is m contiguous values: Aᵀ from A (r, in) row-major);
    /// otherwise M row-major (B (out, r)).
    ///
    /// Fast path: G = MᵀM (dsyrk on a double copy; for column-contiguous M, whose Gram is well conditioned in practice
    /// (A is Kaiming-initialised and stays so), ssyrk straight on the floats), then Cholesky. The float Gram is kept
    /// only when κ(G) < 1e4 (so its rounding, ~1e-6 of ‖G‖, moves σ by < 1e-5); otherwise it is redone in double, and
    /// when that is singular or κ(G) > 1e10, Householder QR of the double copy is used.
    static func rFactor(_ x: UnsafePointer<Float>, m: Int, r: Int, columnsContiguous: Bool) throws -> [Double] {
        if m >= r, columnsContiguous {
            var gf = [Float](repeating: 0, count: r * r)
            gf.withUnsafeMutableBufferPointer { gp in
                guard let g = gp.baseAddress else { return }
                cblas_ssyrk(CblasColMajor, CblasUpper, CblasTrans, Int32(r), Int32(m), 1, x, Int32(m), 0, g, Int32(r))
            }
            if let chol = cholesky(gf.map(Double.init), r: r, maxCondition: 1e4) { return chol }
        }
        // a double copy, laid out as given: column-major M (m, r), or row-major M = column-major Mᵀ (r, m)
        var xd = [Double](repeating: 0, count: m * r)
        for i in 0..<(m * r) { xd[i] = Double(x[i]) }
        if m >= r {
            var g = [Double](repeating: 0, count: r * r)
            xd.withUnsafeBufferPointer { xp in
                g.withUnsafeMutableBufferPointer { gp in
                    guard let xb = xp.baseAddress, let gb = gp.baseAddress else { return }
                    // G = MᵀM: from M column-major (Trans, lda m) or from Mᵀ column-major (NoTrans, lda r)
                    cblas_dsyrk(CblasColMajor, CblasUpper, columnsContiguous ? CblasTrans : CblasNoTrans, Int32(r), Int32(m),
                                1, xb, Int32(columnsContiguous ? m : r), 0, gb, Int32(r))
                }
            }
            if let chol = cholesky(g, r: r, maxCondition: 1e10) { return chol }
        }
        // Householder QR needs M column-major (m, r): element (i, j) at j*m + i
        var mc = xd
        if !columnsContiguous {
            for i in 0..<m { for j in 0..<r { mc[j * m + i] = xd[i * r + j] } }
        }
        return try householderR(&mc, m: m, r: r)
    }

    /// R (r, r) row-major from G = RᵀR (G column-major upper, r × r), or nil when G is not positive definite with
    /// κ(G) ≤ `maxCondition` (judged from R's diagonal).
    static func cholesky(_ gram: [Double], r: Int, maxCondition: Double) -> [Double]? {
        var g = gram
        var maxDiag = 0.0
        for i in 0..<r { maxDiag = max(maxDiag, g[i * r + i]) }
        guard maxDiag > 0, maxDiag.isFinite else { return nil }
        var n = Int32(r), lda = Int32(r), info: Int32 = 0
        var uplo = Int8(UInt8(ascii: "U"))
        dpotrf_(&uplo, &n, &g, &lda, &info)
        guard info == 0 else { return nil }
        var dMin = Double.infinity, dMax = 0.0
        for i in 0..<r { let d = g[i * r + i] * g[i * r + i]; dMin = min(dMin, d); dMax = max(dMax, d) }
        guard dMin * maxCondition > dMax else { return nil }
        var out = [Double](repeating: 0, count: r * r)
        for j in 0..<r { for i in 0...j { out[i * r + j] = g[j * r + i] } }
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

    /// Singular values (descending) of a column-major (rows, cols) matrix as the square roots of the eigenvalues of its
    /// (smaller) Gram matrix (dsyrk + dsyev, values only; about twice as fast as dgesdd at r 64). Relative accuracy of
    /// σᵢ is about 1e-16·(σ₁/σᵢ)², far inside what the inspection needs; values below ~1e-8·σ₁ read as about that.
    static func gramSingularValues(_ a: [Double], rows: Int, cols: Int) throws -> [Double] {
        let k = min(rows, cols)
        guard k > 0 else { return [] }
        // G (k, k) = AᵀA when cols ≤ rows, else AAᵀ; A column-major (rows, cols)
        var g = [Double](repeating: 0, count: k * k)
        a.withUnsafeBufferPointer { ap in
            g.withUnsafeMutableBufferPointer { gp in
                guard let ab = ap.baseAddress, let gb = gp.baseAddress else { return }
                cblas_dsyrk(CblasColMajor, CblasUpper, cols <= rows ? CblasTrans : CblasNoTrans, Int32(k),
                            Int32(cols <= rows ? rows : cols), 1, ab, Int32(rows), 0, gb, Int32(k))
            }
        }
        var n = Int32(k), lda = Int32(k), info: Int32 = 0, lwork: Int32 = -1
        var w = [Double](repeating: 0, count: k)
        var query = 0.0
        var jobz = Int8(UInt8(ascii: "N")), uplo = Int8(UInt8(ascii: "U"))
        dsyev_(&jobz, &uplo, &n, &g, &lda, &w, &query, &lwork, &info)
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        dsyev_(&jobz, &uplo, &n, &g, &lda, &w, &work, &lwork, &info)
        if info != 0 { throw RankResizeError(message: "eigenvalues of the update's core failed (LAPACK info \(info))") }
        return w.reversed().map { max(0, $0).squareRoot() }
    }

    /// Singular values (descending) of a column-major (rows, cols) matrix, destroyed; LAPACK dgesdd, values only.
    static func svdValues(_ a: inout [Double], rows: Int, cols: Int) throws -> [Double] {
        let k = min(rows, cols)
        guard k > 0 else { return [] }
        var m = Int32(rows), n = Int32(cols), lda = Int32(max(1, rows))
        var s = [Double](repeating: 0, count: k)
        var u = [Double](repeating: 0, count: 1), vt = [Double](repeating: 0, count: 1)
        var ldu: Int32 = 1, ldvt: Int32 = 1
        var iwork = [Int32](repeating: 0, count: 8 * k)
        var info: Int32 = 0, lwork: Int32 = -1
        var query = 0.0
        var jobz = Int8(UInt8(ascii: "N"))
        dgesdd_(&jobz, &m, &n, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &query, &lwork, &iwork, &info)
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        dgesdd_(&jobz, &m, &n, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &iwork, &info)
        if info != 0 { throw RankResizeError(message: "SVD of the update's core failed (LAPACK info \(info))") }
        return s
    }
}
