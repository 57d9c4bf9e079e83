import CBLAS

/// One adapted module's LoRA factors and their AdamW moments as plain arrays, PEFT layout.
///
/// Dimension letters: r rank, `in` input features, `out` output features.
public struct LoRAFactors: Sendable, Equatable {
    /// Rank r.
    public var rank: Int
    /// Input features.
    public var inFeatures: Int
    /// Output features.
    public var outFeatures: Int
    /// A, (r, in).
    public var a: [Float]
    /// B, (out, r).
    public var b: [Float]
    /// AdamW first moment of A, (r, in).
    public var mA: [Float]
    /// AdamW second moment of A, (r, in).
    public var vA: [Float]
    /// AdamW first moment of B, (out, r).
    public var mB: [Float]
    /// AdamW second moment of B, (out, r).
    public var vB: [Float]

    /// Factors with zero moments.
    public init(rank: Int, inFeatures: Int, outFeatures: Int, a: [Float], b: [Float]) {
        self.init(rank: rank, inFeatures: inFeatures, outFeatures: outFeatures, a: a, b: b,
                  mA: [Float](repeating: 0, count: a.count), vA: [Float](repeating: 0, count: a.count),
                  mB: [Float](repeating: 0, count: b.count), vB: [Float](repeating: 0, count: b.count))
    }

    /// Factors with their moments.
    public init(rank: Int, inFeatures: Int, outFeatures: Int, a: [Float], b: [Float],
                mA: [Float], vA: [Float], mB: [Float], vB: [Float]) {
        precondition(a.count == rank * inFeatures && b.count == outFeatures * rank, "LoRAFactors: shapes do not match rank")
        self.rank = rank
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        self.a = a
        self.b = b
        self.mA = mA
        self.vA = vA
        self.mB = mB
        self.vB = vB
    }

    /// The update B·A·scale as a dense (out, in) matrix (tests and merging only).
    public func update(scale: Float) -> [Float] {
        var w = [Float](repeating: 0, count: outFeatures * inFeatures)
        guard rank > 0 else { return w }
        b.withUnsafeBufferPointer { bp in
            a.withUnsafeBufferPointer { ap in
                w.withUnsafeMutableBufferPointer { wp in
                    BLAS.gemm(m: outFeatures, n: inFeatures, k: rank, alpha: scale, a: bp.baseAddress!, lda: rank,
                              b: ap.baseAddress!, ldb: inFeatures, c: wp.baseAddress!, ldc: inFeatures)
                }
            }
        }
        return w
    }
}

/// A rank change that cannot be done as asked.
public struct RankResizeError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let message: String
    public var description: String { "rank change: \(message)" }
}

/// Rank changes during training that keep what was learned.
///
/// Growing r₀ → r₁ pads A with fresh Kaiming-uniform rows and B with zero columns, and multiplies B by s₀/s₁ so that
/// B·A·scale is unchanged. Shrinking keeps the best rank-k approximation of the current update, computed from the small
/// factors only (never the full out × in matrix): with Aᵀ = Q_A R_A (QR) and C = B R_Aᵀ = U Σ Vᵀ (thin SVD, out × r),
/// B·A = U Σ Vᵀ Q_Aᵀ, whose rank-k truncation is reached by the linear maps
/// A' = T_A A with T_A = c V_kᵀ R_A⁻ᵀ and B' = B T_B with T_B = d R_Aᵀ V_k, where c is A's RMS row norm (so A keeps its
/// magnitude) and d = s₀ / (s₁ c). AdamW moments follow the same maps: first moments linearly, second moments through the
/// element-wise squared maps (they stay non-negative); new entries are zero.
public enum RankResize {
    /// Grows the rank; the update B·A·scale is unchanged.
    public static func grow(_ f: LoRAFactors, to newRank: Int, oldScale: Float, newScale: Float,
                            rng: inout SeededRNG) -> LoRAFactors {
        precondition(newRank >= f.rank, "grow needs a larger rank")
        let r0 = f.rank, r1 = newRank, nIn = f.inFeatures, nOut = f.outFeatures
        let ratio = newScale == 0 ? 0 : oldScale / newScale
        let bound = 1 / Float(nIn).squareRoot()  // PEFT's kaiming_uniform_(a=√5): gain·√(3/fan_in) = 1/√fan_in
        var a = f.a, mA = f.mA, vA = f.vA
        a.reserveCapacity(r1 * nIn)
        for _ in r0..<r1 { for _ in 0..<nIn { a.append(rng.uniform(-bound, bound)) } }
        mA += [Float](repeating: 0, count: (r1 - r0) * nIn)
        vA += [Float](repeating: 0, count: (r1 - r0) * nIn)
        var b = [Float](repeating: 0, count: nOut * r1)
        var mB = b, vB = b
        for o in 0..<nOut {
            for j in 0..<r0 {
                b[o * r1 + j] = f.b[o * r0 + j] * ratio
                mB[o * r1 + j] = f.mB[o * r0 + j] * ratio
                vB[o * r1 + j] = f.vB[o * r0 + j] * ratio * ratio
            }
        }
        return LoRAFactors(rank: r1, inFeatures: nIn, outFeatures: nOut, a: a, b: b, mA: mA, vA: vA, mB: mB, vB: vB)
    }

    /// Shrinks the rank to the best rank-k approximation of the current update; returns the new factors and the
    /// relative Frobenius error ‖ΔW − ΔW_k‖ / ‖ΔW‖ it introduced (0 when the update is zero).
    public static func shrink(_ f: LoRAFactors, to k: Int, oldScale: Float, newScale: Float) throws -> (LoRAFactors, Double) {
        let r = f.rank, nIn = f.inFeatures, nOut = f.outFeatures
        guard k >= 1, k <= r else { throw RankResizeError(message: "cannot shrink rank \(r) to \(k)") }
        guard nIn >= r, nOut >= r else {
            throw RankResizeError(message: "rank \(r) exceeds the module's size (\(nOut)×\(nIn))")
        }
        // QR of Aᵀ (in × r), column-major for LAPACK: Aᵀ column j = row j of A.
        var at = f.a.map(Double.init)  // column-major (in, r): element (i, j) at j*in + i == a[j*in + i]
        var tau = [Double](repeating: 0, count: r)
        try lapackQR(&at, rows: nIn, cols: r, tau: &tau)
        // R_A: upper triangle of the first r rows, (r, r); R[i][j] = at[j*in + i] for i <= j.
        var rA = [Double](repeating: 0, count: r * r)  // row-major
        for j in 0..<r { for i in 0...j { rA[i * r + j] = at[j * nIn + i] } }
        let rowNorm = (f.a.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(r)).squareRoot()
        guard (0..<r).allSatisfy({ abs(rA[$0 * r + $0]) > 1e-12 * max(rowNorm, 1e-30) }), rowNorm > 0 else {
            throw RankResizeError(message: "A is rank-deficient; cannot map the optimizer state")
        }
        // C = B R_Aᵀ, (out, r) row-major.
        var c = [Double](repeating: 0, count: nOut * r)
        for o in 0..<nOut {
            for j in 0..<r {
                var s = 0.0
                for t in j..<r { s += Double(f.b[o * r + t]) * rA[j * r + t] }  // (R_Aᵀ)[t][j] = R_A[j][t]
                c[o * r + j] = s
            }
        }
        let (sigma, v) = try thinSVD(c, rows: nOut, cols: r)  // v: (r, r) row-major, columns are right singular vectors
        let total = sigma.reduce(0) { $0 + $1 * $1 }
        let dropped = sigma[k...].reduce(0) { $0 + $1 * $1 }
        let error = total > 0 ? (dropped / total).squareRoot() : 0
        let cNorm = rowNorm
        let d = Double(oldScale) / (Double(newScale) * cNorm)
        // T_B = d R_Aᵀ V_k, (r, k); T_A = c V_kᵀ R_A⁻ᵀ, (k, r): solve R_A X = V_k (X = R_A⁻¹ V_k, (r, k)), T_A = c Xᵀ.
        var tB = [Double](repeating: 0, count: r * k)
        for t in 0..<r {
            for j in 0..<k {
                var s = 0.0
                for i in 0...t { s += rA[i * r + t] * v[i * r + j] }  // (R_Aᵀ)[t][i] = R_A[i][t], nonzero for i <= t
                tB[t * k + j] = d * s
            }
        }
        var x = [Double](repeating: 0, count: r * k)
        for j in 0..<k {
            for i in stride(from: r - 1, through: 0, by: -1) {
                var s = v[i * r + j]
                for t in (i + 1)..<max(i + 1, r) { s -= rA[i * r + t] * x[t * k + j] }
                x[i * k + j] = s / rA[i * r + i]
            }
        }
        var tA = [Double](repeating: 0, count: k * r)
        for j in 0..<k { for i in 0..<r { tA[j * r + i] = cNorm * x[i * k + j] } }
        let newA = leftMap(tA, f.a, k: k, r: r, n: nIn, square: false)
        let newMA = leftMap(tA, f.mA, k: k, r: r, n: nIn, square: false)
        let newVA = leftMap(tA, f.vA, k: k, r: r, n: nIn, square: true)
        let newB = rightMap(f.b, tB, rows: nOut, r: r, k: k, square: false)
        let newMB = rightMap(f.mB, tB, rows: nOut, r: r, k: k, square: false)
        let newVB = rightMap(f.vB, tB, rows: nOut, r: r, k: k, square: true)
        let out = LoRAFactors(rank: k, inFeatures: nIn, outFeatures: nOut, a: newA, b: newB,
                              mA: newMA, vA: newVA, mB: newMB, vB: newVB)
        return (out, error)
    }

    /// (k, r) · (r, n) → (k, n); with `square`, the map's entries are squared first.
    private static func leftMap(_ t: [Double], _ m: [Float], k: Int, r: Int, n: Int, square: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: k * n)
        for i in 0..<k {
            for col in 0..<n {
                var s = 0.0
                for j in 0..<r {
                    let w = square ? t[i * r + j] * t[i * r + j] : t[i * r + j]
                    s += w * Double(m[j * n + col])
                }
                out[i * n + col] = Float(s)
            }
        }
        return out
    }

    /// (rows, r) · (r, k) → (rows, k); with `square`, the map's entries are squared first.
    private static func rightMap(_ m: [Float], _ t: [Double], rows: Int, r: Int, k: Int, square: Bool) -> [Float] {
        var out = [Float](repeating: 0, count: rows * k)
        for o in 0..<rows {
            for j in 0..<k {
                var s = 0.0
                for i in 0..<r {
                    let w = square ? t[i * k + j] * t[i * k + j] : t[i * k + j]
                    s += Double(m[o * r + i]) * w
                }
                out[o * k + j] = Float(s)
            }
        }
        return out
    }

    /// Householder QR in place (column-major `rows × cols`), LAPACK dgeqrf.
    static func lapackQR(_ a: inout [Double], rows: Int, cols: Int, tau: inout [Double]) throws {
        var m = Int32(rows), n = Int32(cols), lda = Int32(rows), info: Int32 = 0
        var lwork: Int32 = -1
        var query = 0.0
        dgeqrf_(&m, &n, &a, &lda, &tau, &query, &lwork, &info)
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        dgeqrf_(&m, &n, &a, &lda, &tau, &work, &lwork, &info)
        if info != 0 { throw RankResizeError(message: "QR failed (LAPACK info \(info))") }
    }

    /// Singular values (descending) and right singular vectors (row-major (cols, cols), column j = vⱼ) of a row-major
    /// (rows × cols) matrix, rows ≥ cols, via LAPACK dgesdd.
    static func thinSVD(_ rowMajor: [Double], rows: Int, cols: Int) throws -> ([Double], [Double]) {
        // Column-major copy.
        var a = [Double](repeating: 0, count: rows * cols)
        for i in 0..<rows { for j in 0..<cols { a[j * rows + i] = rowMajor[i * cols + j] } }
        var m = Int32(rows), n = Int32(cols), lda = Int32(rows)
        var s = [Double](repeating: 0, count: cols)
        var u = [Double](repeating: 0, count: 1)
        var ldu: Int32 = 1
        var vt = [Double](repeating: 0, count: cols * cols)
        var ldvt = Int32(cols)
        var iwork = [Int32](repeating: 0, count: 8 * cols)
        var info: Int32 = 0
        var lwork: Int32 = -1
        var query = 0.0
        var jobz = Int8(UInt8(ascii: "O"))  // overwrite A with U, return Vᵀ
        ldu = Int32(rows)
        dgesdd_(&jobz, &m, &n, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &query, &lwork, &iwork, &info)
        lwork = Int32(max(1, Int(query)))
        var work = [Double](repeating: 0, count: Int(lwork))
        dgesdd_(&jobz, &m, &n, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &iwork, &info)
        if info != 0 { throw RankResizeError(message: "SVD failed (LAPACK info \(info))") }
        // vt is column-major (cols, cols) holding Vᵀ: Vᵀ[i][j] at j*cols + i, so V[j][i] = vt[j*cols + i].
        var v = [Double](repeating: 0, count: cols * cols)
        for row in 0..<cols { for col in 0..<cols { v[row * cols + col] = vt[row * cols + col] } }
        return (s, v)
    }
}
