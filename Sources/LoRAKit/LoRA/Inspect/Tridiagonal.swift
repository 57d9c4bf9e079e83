import CBLAS
import CKernels

/// A small symmetric eigenproblem on its way to its eigenvalues: the matrix scaled to a largest entry of 1 and reduced
/// to tridiagonal form (`loratop_tridiagonalize`), then solved together with others (`solve`: dsterf's QL iteration
/// with up to `LORATOP_QL_BATCH` matrices' sweeps interleaved). Above `LORATOP_TRIDIAGONAL_MAX` LAPACK's dsyev
/// solves it at once.
struct Tridiagonal {
    /// Diagonal (n), then the eigenvalues of the scaled matrix once solved.
    private var d: [Double]
    /// Off-diagonal (n − 1, padded to n).
    private var e: [Double]
    /// The largest entry the matrix was divided by.
    private var top: Double
    /// Whether `d` holds the eigenvalues.
    private(set) var isSolved: Bool

    /// Already solved: these eigenvalues.
    init(solved values: [Double]) { self.init(d: values, e: [], top: 1, isSolved: true) }

    private init(d: [Double], e: [Double], top: Double, isSolved: Bool) {
        self.d = d; self.e = e; self.top = top; self.isSolved = isSolved
    }

    /// Reduces the symmetric (n, n) matrix `m` (full storage; destroyed): its two triangles are averaged, it is scaled
    /// to a largest entry of 1 (so no square under- or overflows), then reduced.
    static func reduce(symmetric m: inout [Double], n: Int) throws -> Tridiagonal {
        let top = m.withUnsafeMutableBufferPointer { mp in
            mp.baseAddress.map { loratop_symmetrize_scale(Int32(n), $0) } ?? 0
        }
        guard top > 0, top.isFinite else {
            if top == 0 { return Tridiagonal(solved: [Double](repeating: 0, count: n)) }
            throw RankResizeError(message: "inspection: the update's core is not finite")
        }
        guard n <= Int(LORATOP_TRIDIAGONAL_MAX) else {
            var w = [Double](repeating: 0, count: n), info: Int32 = 0, nn = Int32(n)
            var lwork: Int32 = -1, query = 0.0, lda = nn
            var jobz = Int8(UInt8(ascii: "N")), uplo = Int8(UInt8(ascii: "U"))
            dsyev_(&jobz, &uplo, &nn, &m, &lda, &w, &query, &lwork, &info)
            lwork = Int32(max(1, Int(query)))
            var work = [Double](repeating: 0, count: Int(lwork))
            dsyev_(&jobz, &uplo, &nn, &m, &lda, &w, &work, &lwork, &info)
            if info != 0 { throw RankResizeError(message: "eigenvalues of the update's core failed (LAPACK info \(info))") }
            return Tridiagonal(d: w, e: [], top: top, isSolved: true)
        }
        var d = [Double](repeating: 0, count: n), e = [Double](repeating: 0, count: n)
        m.withUnsafeMutableBufferPointer { mp in
            d.withUnsafeMutableBufferPointer { dp in
                e.withUnsafeMutableBufferPointer { ep in
                    guard let mb = mp.baseAddress, let db = dp.baseAddress, let eb = ep.baseAddress else { return }
                    loratop_tridiagonalize(Int32(n), mb, db, eb)
                }
            }
        }
        return Tridiagonal(d: d, e: e, top: top, isSolved: false)
    }

    /// The eigenvalues, descending (of the matrix as given, unscaled). Only valid once solved.
    var eigenvalues: [Double] { d.sorted(by: >).map { $0 * top } }

    /// Solves the unsolved matrices, up to `LORATOP_QL_BATCH` at a time; a batch that does not converge is solved
    /// again one matrix at a time by LAPACK's dsterf.
    static func solve(_ ts: inout [Tridiagonal]) throws {
        let open = ts.indices.filter { !ts[$0].isSolved }
        var start = 0
        while start < open.count {
            let batch = Array(open[start..<min(open.count, start + Int(LORATOP_QL_BATCH))])
            start += batch.count
            let sizes = batch.map { Int32(ts[$0].d.count) }
            let total = max(1, sizes.reduce(0) { $0 + Int($1) })
            let dBuf = UnsafeMutablePointer<Double>.allocate(capacity: total), eBuf = UnsafeMutablePointer<Double>.allocate(capacity: total)
            defer { dBuf.deallocate(); eBuf.deallocate() }
            var dPtrs: [UnsafeMutablePointer<Double>?] = [], ePtrs: [UnsafeMutablePointer<Double>?] = []
            var offset = 0
            for i in batch {
                let n = ts[i].d.count
                for j in 0..<n { dBuf[offset + j] = ts[i].d[j]; eBuf[offset + j] = ts[i].e[j] }
                dPtrs.append(dBuf + offset); ePtrs.append(eBuf + offset)
                offset += n
            }
            if loratop_tridiagonal_eigenvalues(Int32(batch.count), sizes, dPtrs, ePtrs) == 0 {
                offset = 0
                for i in batch {
                    let n = ts[i].d.count
                    ts[i].d = Array(UnsafeBufferPointer(start: dBuf + offset, count: n))
                    ts[i].isSolved = true
                    offset += n
                }
            } else {
                for i in batch { try ts[i].solveByDsterf() }
            }
        }
    }

    /// LAPACK's dsterf on this matrix alone.
    private mutating func solveByDsterf() throws {
        var nn = Int32(d.count), info: Int32 = 0
        dsterf_(&nn, &d, &e, &info)
        if info != 0 { throw RankResizeError(message: "eigenvalues of the update's core failed (LAPACK info \(info))") }
        isSolved = true
    }
}
