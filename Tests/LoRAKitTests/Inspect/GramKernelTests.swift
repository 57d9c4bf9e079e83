import CBLAS
import CKernels
import XCTest
@testable import LoRAKit

/// The double-accumulating Gram kernel (every tile path) and the tridiagonal eigenvalue path against plain loops and
/// LAPACK's dsyev, at sizes that are not multiples of the tiles.
final class GramKernelTests: XCTestCase {
    override func tearDown() { loratop_gram_f64_force_portable(0) }

    func testGramMatchesADoubleLoopOnBothLayoutsAndEveryPath() throws {
        var rng = SeededRNG(seed: 7)
        for (samples, n) in [(70, 13), (33, 17), (5, 40), (1, 1), (100, 64)] {
            let x = (0..<(samples * n)).map { _ in rng.uniform(-1, 1) }
            // reference: element i of sample t at t * n + i (rows) and, transposed, at t + i * samples (columns)
            var want = [Double](repeating: 0, count: n * n)
            for t in 0..<samples { for i in 0..<n { for j in 0..<n {
                want[i * n + j] += Double(x[t * n + i]) * Double(x[t * n + j])
            } } }
            var xt = [Float](repeating: 0, count: samples * n)
            for t in 0..<samples { for i in 0..<n { xt[t + i * samples] = x[t * n + i] } }
            for portable in [false, true] {
                loratop_gram_f64_force_portable(portable ? 1 : 0)
                let rows = try x.withUnsafeBufferPointer {
                    try UpdateSpectrum.gram($0.baseAddress!, samples: samples, n: n, sampleStride: n, elementStride: 1)
                }
                let cols = try xt.withUnsafeBufferPointer {
                    try UpdateSpectrum.gram($0.baseAddress!, samples: samples, n: n, sampleStride: 1, elementStride: samples)
                }
                for k in 0..<(n * n) {
                    XCTAssertEqual(rows[k], want[k], accuracy: 1e-12 * Double(samples), "rows \(samples)×\(n) portable \(portable)")
                    XCTAssertEqual(cols[k], want[k], accuracy: 1e-12 * Double(samples), "cols \(samples)×\(n) portable \(portable)")
                }
            }
        }
        loratop_gram_f64_force_portable(1)
        XCTAssertEqual(loratop_gram_f64_level(), 0, "forcing the portable tiles must select them")
    }

    /// Cholesky (G = RᵀR) and the congruence M = R G Rᵀ against plain double loops on every path, at orders off the
    /// 8-lane rows and 4 × 32 tiles; a matrix that is not positive definite is reported, not factored.
    func testCholeskyAndCongruenceMatchPlainLoopsOnEveryPath() throws {
        var rng = SeededRNG(seed: 11)
        for r in [1, 5, 8, 33, 64, 70] {
            // G = XᵀX + I for a random X (positive definite), H symmetric
            let x = (0..<(r * (r + 3))).map { _ in Double(rng.uniform(-1, 1)) }
            var g = [Double](repeating: 0, count: r * r), h = [Double](repeating: 0, count: r * r)
            for i in 0..<r { for j in 0..<r {
                for t in 0..<(r + 3) { g[i * r + j] += x[t * r + i] * x[t * r + j] }
                if i == j { g[i * r + j] += 1 }
            } }
            for i in 0..<r { for j in i..<r { let v = Double(rng.uniform(-1, 1)); h[i * r + j] = v; h[j * r + i] = v } }
            for portable in [false, true] {
                loratop_gram_f64_force_portable(portable ? 1 : 0)
                let rf = try XCTUnwrap(UpdateSpectrum.cholesky(g, r: r, maxCondition: 1e12), "\(r) portable \(portable)")
                var scale = 0.0
                for i in 0..<r { for j in 0..<r {
                    if j < i { XCTAssertEqual(rf[i * r + j], 0, "R is upper triangular") }
                    var rtr = 0.0
                    for k in 0..<r { rtr += rf[k * r + i] * rf[k * r + j] }
                    XCTAssertEqual(rtr, g[i * r + j], accuracy: 1e-12 * Double(r + 3), "RᵀR, \(r) portable \(portable)")
                    scale = max(scale, abs(rf[i * r + j]))
                } }
                var m = h
                XCTAssertEqual(m.withUnsafeMutableBufferPointer { mp in
                    rf.withUnsafeBufferPointer { loratop_congruence_upper(Int32(r), $0.baseAddress!, mp.baseAddress!) }
                }, 0)
                for i in 0..<r { for j in 0..<r {
                    var want = 0.0
                    for k in 0..<r { for l in 0..<r { want += rf[i * r + k] * h[k * r + l] * rf[j * r + l] } }
                    XCTAssertEqual(m[i * r + j], want, accuracy: 1e-13 * scale * scale * Double(r * r), "R H Rᵀ, \(r) portable \(portable)")
                    XCTAssertEqual(m[i * r + j], m[j * r + i], "M is exactly symmetric")
                } }
            }
        }
        var indefinite: [Double] = [1, 2, 2, 1]   // eigenvalues 3 and −1
        XCTAssertNil(UpdateSpectrum.cholesky(indefinite, r: 2, maxCondition: 1e12))
        indefinite = [1, 0, 0, .nan]
        XCTAssertNil(UpdateSpectrum.cholesky(indefinite, r: 2, maxCondition: 1e12))
        XCTAssertNil(UpdateSpectrum.cholesky([1, 0, 0, 1e-13], r: 2, maxCondition: 1e12), "κ above the limit is refused")
    }

    func testRowGramMatchesADoubleLoopOnEveryPath() throws {
        var rng = SeededRNG(seed: 9)
        // rows off the 4-row tiles, lengths off the 16- and 8-lane vectors (and the masked tail), a single row, m = 0
        for (r, m) in [(13, 70), (4, 16), (7, 33), (64, 577), (1, 5), (5, 0)] {
            let a = (0..<(r * m)).map { _ in rng.uniform(-1, 1) } + [0]   // one spare element: never empty
            var want = [Double](repeating: 0, count: r * r)
            for i in 0..<r { for j in 0..<r { for t in 0..<m { want[i * r + j] += Double(a[i * m + t]) * Double(a[j * m + t]) } } }
            for portable in [false, true] {
                loratop_gram_f64_force_portable(portable ? 1 : 0)
                var got = [Double](repeating: .nan, count: r * r)
                a.withUnsafeBufferPointer { ap in
                    got.withUnsafeMutableBufferPointer { gp in
                        guard let x = ap.baseAddress, let g = gp.baseAddress else { return }
                        loratop_gram_rows_f32(x, Int32(r), Int64(m), g)
                    }
                }
                for i in 0..<r { for j in 0..<r {
                    // float accumulation: error relative to the rows' norms, about m·2⁻²⁴ at worst
                    let tol = 1e-6 * Double(max(1, m)).squareRoot() * (want[i * r + i] * want[j * r + j]).squareRoot() + 1e-30
                    XCTAssertEqual(got[i * r + j], want[i * r + j], accuracy: tol, "\(r)×\(m) (\(i), \(j)) portable \(portable)")
                } }
            }
        }
    }

    func testTridiagonalEigenvaluesMatchDsyev() throws {
        var rng = SeededRNG(seed: 8)
        for n in [1, 2, 3, 17, 64] {
            let x = (0..<(n * n)).map { _ in Double(rng.uniform(-1, 1)) }
            var s = [Double](repeating: 0, count: n * n)   // s = x xᵀ + a graded diagonal: positive definite, spread out
            for i in 0..<n { for j in 0..<n { for k in 0..<n { s[i * n + j] += x[i * n + k] * x[j * n + k] } } }
            for i in 0..<n { s[i * n + i] += pow(10, -Double(i % 6)) }
            var m = s
            let got = try UpdateSpectrum.symmetricEigenvalues(&m, n: n)
            var a = s, w = [Double](repeating: 0, count: n), info: Int32 = 0, nn = Int32(n), lwork = Int32(8 * n + 64)
            var work = [Double](repeating: 0, count: Int(lwork))
            var jobz = Int8(UInt8(ascii: "N")), uplo = Int8(UInt8(ascii: "U"))
            dsyev_(&jobz, &uplo, &nn, &a, &nn, &w, &work, &lwork, &info)
            XCTAssertEqual(info, 0)
            let want = w.sorted(by: >)
            XCTAssertEqual(got.count, n)
            for (g, v) in zip(got, want) { XCTAssertEqual(g, v, accuracy: 1e-12 * (want.first ?? 1), "n \(n)") }
        }
        // already tridiagonal (every Householder vector is zero) and block diagonal with an empty coupling
        var diag = [Double](repeating: 0, count: 36)
        for i in 0..<6 { diag[i * 6 + i] = Double(i) - 2.5 }
        diag[0 * 6 + 1] = 0.5; diag[1 * 6 + 0] = 0.5
        let d = try UpdateSpectrum.symmetricEigenvalues(&diag, n: 6)
        let pair = [(-2.0 + 0.5.squareRoot() * 1.0), (-2.0 - 0.5.squareRoot() * 1.0)]  // eig of [[-2.5, .5], [.5, -1.5]]
        let wantDiag = ([0.5, 1.5, 2.5, -0.5] + pair).sorted(by: >)
        for (g, v) in zip(d, wantDiag) { XCTAssertEqual(g, v, accuracy: 1e-12) }
        var zero = [Double](repeating: 0, count: 9)
        XCTAssertEqual(try UpdateSpectrum.symmetricEigenvalues(&zero, n: 3), [0, 0, 0])
    }

    /// The interleaved QL solver against LAPACK's dsterf, one matrix at a time, on batches that mix sizes (0 to 64),
    /// graded diagonals in both directions (the reversal), zero couplings (splitting) and a diagonal matrix.
    func testBatchedTridiagonalEigenvaluesMatchDsterf() throws {
        var rng = SeededRNG(seed: 9)
        func matrix(_ n: Int, _ kind: Int) -> (d: [Double], e: [Double]) {
            var d = (0..<n).map { _ in Double(rng.uniform(-1, 1)) }, e = (0..<n).map { _ in Double(rng.uniform(-1, 1)) }
            switch kind {
            case 1: for i in 0..<n { d[i] = pow(10, -8 * Double(i) / Double(max(1, n))); e[i] *= d[i] * 0.5 }   // graded down
            case 2: for i in 0..<n { d[i] = pow(10, -8 * Double(n - i) / Double(max(1, n))); e[i] *= d[i] * 0.5 } // graded up
            case 3: for i in stride(from: 2, to: n, by: 5) { e[i] = 0 }                                          // splits
            case 4: e = e.map { _ in 0 }                                                                         // diagonal
            default: break
            }
            if n > 0 { e[n - 1] = 0 }
            return (d, e)
        }
        let sizes = [0, 1, 2, 3, 5, 17, 64, 64, 33, 64, 4, 64]
        for start in stride(from: 0, to: sizes.count, by: Int(LORATOP_QL_BATCH)) {
            var batch: [(d: [Double], e: [Double])] = []
            for (k, n) in sizes[start..<min(sizes.count, start + Int(LORATOP_QL_BATCH))].enumerated() { batch.append(matrix(n, (start + k) % 5)) }
            var want: [[Double]] = []
            for m in batch {
                var d = m.d, e = m.e, n = Int32(m.d.count), info: Int32 = 0
                if n > 0 { dsterf_(&n, &d, &e, &info) }
                XCTAssertEqual(info, 0)
                want.append(d.sorted())
            }
            let total = max(1, batch.reduce(0) { $0 + $1.d.count })
            let dBuf = UnsafeMutablePointer<Double>.allocate(capacity: total), eBuf = UnsafeMutablePointer<Double>.allocate(capacity: total)
            defer { dBuf.deallocate(); eBuf.deallocate() }
            var dp: [UnsafeMutablePointer<Double>?] = [], ep: [UnsafeMutablePointer<Double>?] = [], offset = 0
            for m in batch {
                for (i, v) in m.d.enumerated() { dBuf[offset + i] = v }
                for (i, v) in m.e.enumerated() { eBuf[offset + i] = v }
                dp.append(dBuf + offset); ep.append(eBuf + offset); offset += m.d.count
            }
            XCTAssertEqual(loratop_tridiagonal_eigenvalues(Int32(batch.count), batch.map { Int32($0.d.count) }, dp, ep), 0)
            offset = 0
            for (k, m) in batch.enumerated() {
                let got = (0..<m.d.count).map { dBuf[offset + $0] }.sorted()
                offset += m.d.count
                let top = want[k].map(abs).max() ?? 1
                for (g, w) in zip(got, want[k]) {
                    XCTAssertEqual(g, w, accuracy: 1e-13 * top + 1e-12 * abs(w), "matrix \(start + k) (n \(m.d.count))")
                }
            }
        }
        XCTAssertEqual(loratop_tridiagonal_eigenvalues(Int32(LORATOP_QL_BATCH) + 1, [], [], []), -1, "too many at once")
    }
}
