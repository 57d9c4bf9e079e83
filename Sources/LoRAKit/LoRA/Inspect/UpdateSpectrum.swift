import CBLAS

/// The singular values of a LoRA update ΔW = scale·B·A computed from the small factors only, never the dense
/// (out, in) matrix.
///
/// Dimension letters: r rank, `in` input features, `out` output features.
///
/// With Aᵀ = Q_A R_A and B = Q_B R_B (thin QR; Q orthonormal, R upper triangular (r, r)),
/// B·A = Q_B (R_B R_Aᵀ) Q_Aᵀ, so ΔW has the singular values of the r×r core scale·R_B R_Aᵀ. All in double.
///
/// The R factors come from the Gram matrices (G_A = A Aᵀ = R_Aᵀ R_A, G_B = BᵀB = R_Bᵀ R_B, Cholesky): one dsyrk per
/// factor, about half the work of a Householder QR and all of it level-3 BLAS. When a Gram matrix is singular or badly
/// conditioned (κ(G) > 1e10: a zero B at the start of training, a rank above `in` or `out`), that factor falls back to
/// Householder QR (dgeqrf), which is exact in those cases too.
public enum UpdateSpectrum {
    /// Singular values of scale·B·A, descending (min(r, in, out) of them; zeros included).
    /// - Parameters: a (r, in) row-major, b (out, r) row-major.
    public static func singularValues(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, rank r: Int, inFeatures nIn: Int, outFeatures nOut: Int,
        scale: Float
    ) throws -> [Double] {
        guard r > 0, nIn > 0, nOut > 0 else { return [] }
        // Aᵀ (in, r) column-major is A (r, in) row-major: the same numbers.
        let rA = try rFactor(rowMajorRows: a, rows: r, cols: nIn, transposed: true)
        // B (out, r) column-major: B's columns are r vectors of length out.
        let rB = try rFactor(rowMajorRows: b, rows: nOut, cols: r, transposed: false)
        // core (kB, kA) = R_B (kB, r) · R_Aᵀ (r, kA), column-major for LAPACK
        let kA = rA.count / r, kB = rB.count / r
        var core = [Double](repeating: 0, count: kB * kA)
        for j in 0..<kA {
            for i in 0..<kB {
                var s = 0.0
                for t in max(i, j)..<r { s += rB[i * r + t] * rA[j * r + t] }  // both upper (trapezoidal)
                core[j * kB + i] = s
            }
        }
        var sigma = try svdValues(&core, rows: kB, cols: kA)
        let sc = Double(abs(scale))
        for i in sigma.indices { sigma[i] *= sc }
        return sigma
    }

    /// The R factor (k, r) row-major, k = min(m, r), of the thin QR of an m × r matrix M whose columns are the `r`
    /// vectors given: with `transposed`, M = Xᵀ for X (r, m) = (rows, cols) row-major (each row of X is a column of M);
    /// otherwise M = X for X (m, r) = (rows, cols) row-major.
    static func rFactor(rowMajorRows x: UnsafePointer<Float>, rows: Int, cols: Int, transposed: Bool) throws -> [Double] {
        let r = transposed ? rows : cols, m = transposed ? cols : rows
        // M column-major (m, r): element (i, j) at j*m + i
        var mc = [Double](repeating: 0, count: m * r)
        if transposed {
            for i in 0..<(m * r) { mc[i] = Double(x[i]) }
        } else {
            for i in 0..<m { for j in 0..<r { mc[j * m + i] = Double(x[i * r + j]) } }
        }
        if m >= r, let chol = choleskyR(mc, m: m, r: r) { return chol }
        return try householderR(&mc, m: m, r: r)
    }

    /// R (r, r) row-major from the Cholesky factorisation of MᵀM (G = RᵀR), or nil when G is not safely positive
    /// definite (then Householder QR is used).
    static func choleskyR(_ mc: [Double], m: Int, r: Int) -> [Double]? {
        var g = [Double](repeating: 0, count: r * r)
        // G (r, r) = Mᵀ M; M column-major (m, r) is row-major (r, m) = Mᵀ, so G = X Xᵀ with X = Mᵀ row-major
        mc.withUnsafeBufferPointer { mp in
            g.withUnsafeMutableBufferPointer { gp in
                guard let mb = mp.baseAddress, let gb = gp.baseAddress else { return }
                cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, Int32(r), Int32(m), 1, mb, Int32(m), 0, gb, Int32(r))
            }
        }
        var maxDiag = 0.0
        for i in 0..<r { maxDiag = max(maxDiag, g[i * r + i]) }
        guard maxDiag > 0, maxDiag.isFinite else { return nil }
        var n = Int32(r), lda = Int32(r), info: Int32 = 0
        var uplo = Int8(UInt8(ascii: "U"))
        dpotrf_(&uplo, &n, &g, &lda, &info)
        guard info == 0 else { return nil }
        // U column-major upper: U[i][j] at j*r + i (i ≤ j); diagonal² spans the conditioning of G
        var dMin = Double.infinity, dMax = 0.0
        for i in 0..<r { let d = g[i * r + i] * g[i * r + i]; dMin = min(dMin, d); dMax = max(dMax, d) }
        guard dMin > dMax * 1e-10 else { return nil }
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
