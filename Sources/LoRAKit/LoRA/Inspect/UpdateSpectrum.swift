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
    /// Singular values of scale·B·A, descending (min(r, in, out) of them; zeros included).
    /// - Parameters: a (r, in) row-major, b (out, r) row-major.
    public static func singularValues(
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, rank r: Int, inFeatures nIn: Int, outFeatures nOut: Int,
        scale: Float
    ) throws -> [Double] {
        guard r > 0, nIn > 0, nOut > 0 else { return [] }
        let rA = try rFactor(a, m: nIn, r: r)                                       // (kA, r)
        var m = try gram(b, samples: nOut, n: r, sampleStride: r, elementStride: 1)  // G_B (r, r), then T, then M
        let kA = rA.count / r
        rA.withUnsafeBufferPointer { rp in
            guard let rb = rp.baseAddress else { return }
            if kA == r {
                // T = R_A G_B, then M = T R_Aᵀ, in place (R_A upper triangular)
                m.withUnsafeMutableBufferPointer { mp in
                    guard let mb = mp.baseAddress else { return }
                    cblas_dtrmm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, Int32(r), Int32(r), 1,
                                rb, Int32(r), mb, Int32(r))
                    cblas_dtrmm(CblasRowMajor, CblasRight, CblasUpper, CblasTrans, CblasNonUnit, Int32(r), Int32(r), 1,
                                rb, Int32(r), mb, Int32(r))
                }
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
        let lambda = try symmetricEigenvalues(&m, n: kA)  // descending
        let sc = Double(abs(scale))
        return lambda.prefix(min(r, nIn, nOut)).map { max(0, $0).squareRoot() * sc }
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

    /// Eigenvalues (descending) of the symmetric (n, n) matrix `m` (full storage; destroyed): its two triangles are
    /// averaged, reduced to tridiagonal form (`loratop_tridiagonalize`) and solved by dsterf; LAPACK dsyev above
    /// LORATOP_TRIDIAGONAL_MAX. Scaled to a largest entry of 1 first, so no square under- or overflows.
    static func symmetricEigenvalues(_ m: inout [Double], n: Int) throws -> [Double] {
        guard n > 0 else { return [] }
        var top = 0.0
        for i in 0..<n { for j in i..<n {
            let v = 0.5 * (m[i * n + j] + m[j * n + i])
            m[i * n + j] = v; m[j * n + i] = v
            top = max(top, abs(v))
        } }
        guard top > 0, top.isFinite else {
            if top == 0 { return [Double](repeating: 0, count: n) }
            throw RankResizeError(message: "inspection: the update's core is not finite")
        }
        for i in m.indices { m[i] /= top }
        var w = [Double](repeating: 0, count: n), info: Int32 = 0, nn = Int32(n)
        if n <= Int(LORATOP_TRIDIAGONAL_MAX) {
            var e = [Double](repeating: 0, count: n)
            m.withUnsafeMutableBufferPointer { mp in
                w.withUnsafeMutableBufferPointer { wp in
                    e.withUnsafeMutableBufferPointer { ep in
                        guard let mb = mp.baseAddress, let wb = wp.baseAddress, let eb = ep.baseAddress else { return }
                        loratop_tridiagonalize(Int32(n), mb, wb, eb)
                        dsterf_(&nn, wb, eb, &info)
                    }
                }
            }
        } else {
            var lwork: Int32 = -1, query = 0.0, lda = nn
            var jobz = Int8(UInt8(ascii: "N")), uplo = Int8(UInt8(ascii: "U"))
            dsyev_(&jobz, &uplo, &nn, &m, &lda, &w, &query, &lwork, &info)
            lwork = Int32(max(1, Int(query)))
            var work = [Double](repeating: 0, count: Int(lwork))
            dsyev_(&jobz, &uplo, &nn, &m, &lda, &w, &work, &lwork, &info)
        }
        if info != 0 { throw RankResizeError(message: "eigenvalues of the update's core failed (LAPACK info \(info))") }
        return w.sorted(by: >).map { $0 * top }
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
}
