import CBLAS
import XCTest
@testable import LoRAKit

final class RankResizeTests: XCTestCase {
    private func randomFactors(rank r: Int, nIn: Int, nOut: Int, seed: UInt64, bScale: Float = 0.05) -> LoRAFactors {
        var rng = SeededRNG(seed: seed)
        let bound = 1 / Float(nIn).squareRoot()
        let a = (0..<(r * nIn)).map { _ in rng.uniform(-bound, bound) }
        let b = (0..<(nOut * r)).map { _ in rng.normal() * bScale }
        var f = LoRAFactors(rank: r, inFeatures: nIn, outFeatures: nOut, a: a, b: b)
        f.mA = (0..<(r * nIn)).map { _ in rng.normal() * 1e-3 }
        f.vA = (0..<(r * nIn)).map { _ in abs(rng.normal()) * 1e-6 }
        f.mB = (0..<(nOut * r)).map { _ in rng.normal() * 1e-3 }
        f.vB = (0..<(nOut * r)).map { _ in abs(rng.normal()) * 1e-6 }
        return f
    }

    private func relativeDifference(_ x: [Float], _ y: [Float]) -> Double {
        var num = 0.0, den = 0.0
        for i in x.indices {
            num += Double(x[i] - y[i]) * Double(x[i] - y[i])
            den += Double(y[i]) * Double(y[i])
        }
        return den == 0 ? num.squareRoot() : (num / den).squareRoot()
    }

    /// Every module shape of a LLaMA block (q, k, v, o, gate, up, down at a small width): growing leaves B·A·scale unchanged.
    func testGrowKeepsTheUpdateOnEveryModuleShape() {
        let dim = 48, kv = 16, ffn = 128
        let shapes = [("q", dim, dim), ("k", dim, kv), ("v", dim, kv), ("o", dim, dim),
                      ("gate", dim, ffn), ("up", dim, ffn), ("down", ffn, dim)]
        for (i, (name, nIn, nOut)) in shapes.enumerated() {
            let f = randomFactors(rank: 8, nIn: nIn, nOut: nOut, seed: UInt64(i + 1))
            let alpha: Float = 16
            var rng = SeededRNG(seed: 99)
            let g = RankResize.grow(f, to: 16, oldScale: alpha / 8, newScale: alpha / 16, rng: &rng)
            XCTAssertEqual(g.rank, 16)
            let before = f.update(scale: alpha / 8), after = g.update(scale: alpha / 16)
            XCTAssertLessThan(relativeDifference(after, before), 1e-5, name)
            // New columns of B and new moment entries are zero; the old A rows are kept.
            for o in 0..<nOut { for j in 8..<16 { XCTAssertEqual(g.b[o * 16 + j], 0) ; XCTAssertEqual(g.vB[o * 16 + j], 0) } }
            XCTAssertEqual(Array(g.a[0..<(8 * nIn)]), f.a, name)
            XCTAssertTrue(g.mA[(8 * nIn)...].allSatisfy { $0 == 0 }, name)
            XCTAssertTrue(g.a[(8 * nIn)...].contains { $0 != 0 }, "fresh rows are drawn, not zero")
        }
    }

    /// Shrinking equals an SVD truncation of the full update computed independently (LAPACK sgesdd on out × in),
    /// and the reported error is that truncation's relative Frobenius error.
    func testShrinkMatchesIndependentTruncatedSVD() throws {
        for (seed, (nIn, nOut, r, k)) in [(48, 64, 8, 4), (64, 32, 16, 3), (40, 40, 8, 7)].enumerated() {
            let f = randomFactors(rank: r, nIn: nIn, nOut: nOut, seed: UInt64(10 + seed))
            let s0: Float = 32 / Float(r), s1: Float = 32 / Float(k)
            let (g, err) = try RankResize.shrink(f, to: k, oldScale: s0, newScale: s1)
            XCTAssertEqual(g.rank, k)
            let full = f.update(scale: s0)
            let (truncated, expectedError) = referenceTruncation(full, rows: nOut, cols: nIn, k: k)
            let got = g.update(scale: s1)
            var maxAbs: Float = 0, maxRef: Float = 0
            for i in got.indices { maxAbs = max(maxAbs, abs(got[i] - truncated[i])); maxRef = max(maxRef, abs(truncated[i])) }
            XCTAssertLessThan(maxAbs, 1e-4 * max(maxRef, 1), "update differs from the SVD truncation")
            XCTAssertEqual(err, expectedError, accuracy: 1e-4)
            XCTAssertGreaterThan(err, 0)
            XCTAssertTrue(g.vA.allSatisfy { $0 >= 0 } && g.vB.allSatisfy { $0 >= 0 }, "second moments stay non-negative")
            XCTAssertTrue(g.mB.contains { $0 != 0 }, "first moments are mapped, not reset")
        }
    }

    func testShrinkOfAZeroUpdateIsExactAndKeepsAsScale() throws {
        var f = randomFactors(rank: 8, nIn: 32, nOut: 32, seed: 5)
        f.b = [Float](repeating: 0, count: f.b.count)
        let (g, err) = try RankResize.shrink(f, to: 2, oldScale: 2, newScale: 8)
        XCTAssertEqual(err, 0)
        XCTAssertTrue(g.b.allSatisfy { $0 == 0 })
        let rms = { (a: [Float], r: Int) in (a.reduce(0.0) { $0 + Double($1 * $1) } / Double(r)).squareRoot() }
        XCTAssertEqual(rms(g.a, 2), rms(f.a, 8), accuracy: 1e-4)
    }

    func testShrinkRejectsBadRanks() {
        let f = randomFactors(rank: 4, nIn: 16, nOut: 16, seed: 1)
        XCTAssertThrowsError(try RankResize.shrink(f, to: 0, oldScale: 1, newScale: 1))
        XCTAssertThrowsError(try RankResize.shrink(f, to: 5, oldScale: 1, newScale: 1))
    }

    /// Truncated SVD of a dense row-major matrix with LAPACK's single-precision driver (independent of RankResize).
    private func referenceTruncation(_ m: [Float], rows: Int, cols: Int, k: Int) -> ([Float], Double) {
        // LAPACK is column-major: the row-major (rows, cols) matrix is the column-major (cols, rows) transpose Mᵀ.
        var a = m
        var mm = Int32(cols), nn = Int32(rows), lda = Int32(cols)
        let mn = min(rows, cols)
        var s = [Float](repeating: 0, count: mn)
        var u = [Float](repeating: 0, count: cols * mn), ldu = Int32(cols)
        var vt = [Float](repeating: 0, count: mn * rows), ldvt = Int32(mn)
        var iwork = [Int32](repeating: 0, count: 8 * mn)
        var info: Int32 = 0, lwork: Int32 = -1
        var q: Float = 0
        var jobz = Int8(UInt8(ascii: "S"))
        sgesdd_(&jobz, &mm, &nn, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &q, &lwork, &iwork, &info)
        lwork = Int32(q)
        var work = [Float](repeating: 0, count: Int(lwork))
        sgesdd_(&jobz, &mm, &nn, &a, &lda, &s, &u, &ldu, &vt, &ldvt, &work, &lwork, &iwork, &info)
        precondition(info == 0)
        // Mᵀ = U S Vᵀ  ⇒  M = V S Uᵀ. M[i][j] = Σ_t V[i][t] s_t U[j][t]; V[i][t] = vt[i*mn + t] (col-major Vᵀ), U[j][t] = u[t*cols + j].
        var out = [Float](repeating: 0, count: rows * cols)
        for i in 0..<rows { for j in 0..<cols {
            var acc: Float = 0
            for t in 0..<k { acc += vt[i * mn + t] * s[t] * u[t * cols + j] }
            out[i * cols + j] = acc
        } }
        let total = s.reduce(0.0) { $0 + Double($1) * Double($1) }
        let dropped = s[k...].reduce(0.0) { $0 + Double($1) * Double($1) }
        return (out, (dropped / total).squareRoot())
    }
}
