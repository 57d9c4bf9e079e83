import Foundation
import XCTest
@testable import LoRAKit

/// Every layer's backward against central finite differences (ε = 1e-2 in fp32, loss = Σ out ⊙ w with random w).
/// Tolerance: largest |analytic − numeric| ≤ 5e-3 × largest |numeric| for each gradient tensor.
final class LayerGradientTests: XCTestCase {
    let tol: Float = 5e-3

    override func setUp() { Parallel.setThreads(2) }

    func testRMSNormBackwardMatchesFiniteDifferences() {
        let N = 3, C = 20
        var rng = SeededRNG(seed: 1)
        let x = randomArray(N * C, &rng), w = randomArray(C, &rng), dout = randomArray(N * C, &rng)
        func run(_ x: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: N * C), rstd = [Float](repeating: 0, count: N)
            mutable(&out) { o in mutable(&rstd) { r in x.withPtr { xp in w.withPtr { wp in
                RMSNorm.forward(out: o, rstd: r, x: xp, weight: wp, N: N, C: C, eps: 1e-5) } } } }
            return out
        }
        var out = [Float](repeating: 0, count: N * C), rstd = [Float](repeating: 0, count: N)
        mutable(&out) { o in mutable(&rstd) { r in x.withPtr { xp in w.withPtr { wp in
            RMSNorm.forward(out: o, rstd: r, x: xp, weight: wp, N: N, C: C, eps: 1e-5) } } } }
        var dx = [Float](repeating: 0.5, count: N * C)  // backward accumulates: start from 0.5
        mutable(&dx) { d in dout.withPtr { g in x.withPtr { xp in w.withPtr { wp in rstd.withPtr { r in
            RMSNorm.backward(dx: d, dout: g, x: xp, weight: wp, rstd: r, N: N, C: C) } } } } }
        let num = numericGradient(x) { dotLoss(run($0), dout) }
        XCTAssertLessThan(relMaxDiff(dx.map { $0 - 0.5 }, num), tol)
    }

    func testRoPEBackwardIsTheTransposeRotation() {
        let B = 2, T = 5, heads = 3, hd = 20, N = B * T  // hd/2 = 10 exercises SIMD body and tail
        let table = RoPETable(headDim: hd, theta: 10_000, length: T)
        var rng = SeededRNG(seed: 2)
        let x = randomArray(N * heads * hd, &rng), dout = randomArray(N * heads * hd, &rng)
        func run(_ x: [Float]) -> [Float] {
            var y = x
            mutable(&y) { RoPE.forward(x: $0, table: table, N: N, T: T, heads: heads) }
            return y
        }
        var dx = dout
        mutable(&dx) { RoPE.backward(dx: $0, table: table, N: N, T: T, heads: heads) }
        let num = numericGradient(x) { dotLoss(run($0), dout) }
        XCTAssertLessThan(relMaxDiff(dx, num), tol)
        // position 0 is the identity, a later position is not
        let y = run(x)
        XCTAssertEqual(Array(y[0..<(heads * hd)]), Array(x[0..<(heads * hd)]))
        XCTAssertNotEqual(Array(y[(heads * hd)..<(2 * heads * hd)]), Array(x[(heads * hd)..<(2 * heads * hd)]))
    }

    func testRoPEMatchesRotateHalfFormula() {
        let hd = 4, table = RoPETable(headDim: hd, theta: 100, length: 4)
        var x: [Float] = [1, 2, 3, 4]
        mutable(&x) { RoPE.forward(x: $0, table: table, N: 1, T: 1, heads: 1, offset: 3) }
        let f0 = 3.0, f1 = 3.0 / 10.0  // inv_freq = 1/100^(0/4), 1/100^(2/4)
        let e: [Double] = [1 * cos(f0) - 3 * sin(f0), 2 * cos(f1) - 4 * sin(f1), 3 * cos(f0) + 1 * sin(f0), 4 * cos(f1) + 2 * sin(f1)]
        for i in 0..<4 { XCTAssertEqual(Double(x[i]), e[i], accuracy: 1e-5) }
    }

    /// Whole-sequence blocks (64 > T) and blocks of 2 query rows (5 = 2 + 2 + 1, skipping the keys right of each block).
    func testAttentionBackwardMatchesFiniteDifferencesWithGQA() {
        for rowBlock in [64, 2] { checkAttention(rowBlock: rowBlock) }
    }

    func checkAttention(rowBlock: Int) {
        let B = 2, T = 5, heads = 4, kvHeads = 2, hd = 4, N = B * T
        let Cq = heads * hd, Ckv = kvHeads * hd
        var rng = SeededRNG(seed: 3)
        let q = randomArray(N * Cq, &rng), k = randomArray(N * Ckv, &rng), v = randomArray(N * Ckv, &rng)
        let dout = randomArray(N * Cq, &rng)
        func run(_ q: [Float], _ k: [Float], _ v: [Float]) -> ([Float], [Float]) {
            var out = [Float](repeating: 0, count: N * Cq), att = [Float](repeating: 0, count: B * heads * T * T)
            mutable(&out) { o in mutable(&att) { a in q.withPtr { qp in k.withPtr { kp in v.withPtr { vp in
                Attention.forward(out: o, att: a, q: qp, k: kp, v: vp, B: B, T: T, heads: heads, kvHeads: kvHeads, headDim: hd,
                                  rowBlock: rowBlock)
            } } } } }
            return (out, att)
        }
        let (_, att) = run(q, k, v)
        // causal: probabilities above the diagonal are zero, rows sum to one
        for bh in 0..<(B * heads) {
            for i in 0..<T {
                var s: Float = 0
                for j in 0..<T { let p = att[(bh * T + i) * T + j]; if j > i { XCTAssertEqual(p, 0) }; s += p }
                XCTAssertEqual(s, 1, accuracy: 1e-5)
            }
        }
        var dq = [Float](repeating: 0, count: N * Cq), dk = [Float](repeating: 0, count: N * Ckv)
        var dv = [Float](repeating: 0, count: N * Ckv), scr = [Float](repeating: 0, count: B * kvHeads * T * T)
        mutable(&dq) { dqp in mutable(&dk) { dkp in mutable(&dv) { dvp in mutable(&scr) { sp in
            dout.withPtr { dop in q.withPtr { qp in k.withPtr { kp in v.withPtr { vp in att.withPtr { ap in
                Attention.backward(dq: dqp, dk: dkp, dv: dvp, scratch: sp, dout: dop, q: qp, k: kp, v: vp, att: ap,
                                   B: B, T: T, heads: heads, kvHeads: kvHeads, headDim: hd, rowBlock: rowBlock)
            } } } } } } } } }
        XCTAssertLessThan(relMaxDiff(dq, numericGradient(q) { dotLoss(run($0, k, v).0, dout) }), tol)
        XCTAssertLessThan(relMaxDiff(dk, numericGradient(k) { dotLoss(run(q, $0, v).0, dout) }), tol)
        XCTAssertLessThan(relMaxDiff(dv, numericGradient(v) { dotLoss(run(q, k, $0).0, dout) }), tol)
    }

    func testSwiGLUBackwardMatchesFiniteDifferences() {
        let n = 37  // SIMD body + tail
        var rng = SeededRNG(seed: 4)
        let g = randomArray(n, &rng, scale: 3), u = randomArray(n, &rng), dh = randomArray(n, &rng)
        func run(_ g: [Float], _ u: [Float]) -> [Float] {
            var h = [Float](repeating: 0, count: n)
            mutable(&h) { hp in g.withPtr { gp in u.withPtr { up in SwiGLU.forward(h: hp, gate: gp, up: up, count: n) } } }
            return h
        }
        let h = run(g, u)
        for i in 0..<n { XCTAssertEqual(h[i], g[i] / (1 + exp(-g[i])) * u[i], accuracy: 1e-5) }
        var dg = [Float](repeating: 0, count: n), du = [Float](repeating: 0, count: n)
        mutable(&dg) { dgp in mutable(&du) { dup in dh.withPtr { dhp in g.withPtr { gp in u.withPtr { up in
            SwiGLU.backward(dgate: dgp, dup: dup, dh: dhp, gate: gp, up: up, count: n) } } } } }
        XCTAssertLessThan(relMaxDiff(dg, numericGradient(g) { dotLoss(run($0, u), dh) }), tol)
        XCTAssertLessThan(relMaxDiff(du, numericGradient(u) { dotLoss(run(g, $0), dh) }), tol)
    }

    func testLinearDenseAndTiledAgreeAndBackwardMatches() {
        let N = 4, I = 9, O = 70  // O > 64 rows: two tiles of the tiled path when tiles are 64 rows
        var rng = SeededRNG(seed: 5)
        let wv = randomArray(O * I, &rng), x = randomArray(N * I, &rng), dout = randomArray(N * O, &rng)
        let bias = randomArray(O, &rng)
        let dense = DenseMatrix(rows: O, cols: I, values: wv), tiled = TileOnlyMatrix(rows: O, cols: I, values: wv)
        let scratch = ScratchBuffer()
        func run(_ w: FrozenMatrix, _ x: [Float]) -> [Float] {
            var out = [Float](repeating: 0, count: N * O)
            mutable(&out) { o in x.withPtr { Linear.forward(out: o, x: $0, weight: w, bias: bias, N: N, scratch: scratch) } }
            return out
        }
        let yd = run(dense, x), yt = run(tiled, x)
        XCTAssertLessThan(relMaxDiff(yt, yd), 1e-6)
        var ref = [Float](repeating: 0, count: N * O)
        for n in 0..<N { for o in 0..<O { var s = Double(bias[o]); for i in 0..<I { s += Double(x[n * I + i] * wv[o * I + i]) }; ref[n * O + o] = Float(s) } }
        XCTAssertLessThan(relMaxDiff(yd, ref), 1e-5)
        for w in [dense as FrozenMatrix, tiled] {
            var dx = [Float](repeating: 0, count: N * I)
            mutable(&dx) { d in dout.withPtr { Linear.backward(dx: d, dout: $0, weight: w, N: N, scratch: scratch) } }
            XCTAssertLessThan(relMaxDiff(dx, numericGradient(x) { dotLoss(run(w, $0), dout) }), tol)
        }
    }

    func testCrossEntropyHeadChunkedLossAndGradient() {
        let N = 7, C = 6, V = 13
        var rng = SeededRNG(seed: 6)
        let x = randomArray(N * C, &rng, scale: 2), wv = randomArray(V * C, &rng)
        let targets: [Int32] = [3, Batch.ignore, 0, 12, 5, Batch.ignore, 7]
        let w = TileOnlyMatrix(rows: V, cols: C, values: wv)
        let head = CrossEntropyHead(vocab: V, width: C, chunkRows: 2)  // several chunks
        func loss(_ x: [Float]) -> Double {
            x.withPtr { xp in targets.withUnsafeBufferPointer { head.forwardBackward(dx: nil, x: xp, weight: w, targets: $0.baseAddress!, N: N, gradScale: 0) } }
        }
        // reference: log-softmax in Double
        var ref = 0.0
        for n in 0..<N where targets[n] != Batch.ignore {
            var logits = [Double](repeating: 0, count: V)
            for v in 0..<V { for c in 0..<C { logits[v] += Double(x[n * C + c]) * Double(wv[v * C + c]) } }
            let m = logits.max()!
            let lse = m + log(logits.reduce(0) { $0 + exp($1 - m) })
            ref += lse - logits[Int(targets[n])]
        }
        XCTAssertEqual(loss(x), ref, accuracy: 1e-4 * abs(ref))
        var dx = [Float](repeating: 0, count: N * C)
        let l2 = mutable(&dx) { d in x.withPtr { xp in targets.withUnsafeBufferPointer {
            head.forwardBackward(dx: d, x: xp, weight: w, targets: $0.baseAddress!, N: N, gradScale: 0.5) } } }
        XCTAssertEqual(l2, ref, accuracy: 1e-4 * abs(ref))
        let num = numericGradient(x) { loss($0) * 0.5 }
        XCTAssertLessThan(relMaxDiff(dx, num), tol)
        for c in 0..<C { XCTAssertEqual(dx[1 * C + c], 0); XCTAssertEqual(dx[5 * C + c], 0) }  // masked rows: no gradient
    }

    func testVectorExpIsAccurate() {
        var worst: Float = 0
        var x: Float = -80
        while x < 80 {
            let e = Vec.exp(x), r = Float(exp(Double(x)))
            worst = max(worst, abs(e - r) / r)
            x += 0.37
        }
        XCTAssertLessThan(worst, 1e-6)
    }
}

/// The worker-split sgemm against one plain sgemm, every transpose combination, both split directions.
final class ParallelGemmTests: XCTestCase {
    func testSplitGemmMatchesSingleCall() {
        Parallel.setThreads(2)
        var rng = SeededRNG(seed: 12)
        for (m, n, k) in [(300, 70, 90), (40, 500, 80), (70, 70, 70)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = randomArray(m * k, &rng), b = randomArray(k * n, &rng), c0 = randomArray(m * n, &rng)
                    let lda = ta ? m : k, ldb = tb ? k : n
                    var ref = c0, got = c0
                    mutable(&ref) { c in a.withPtr { ap in b.withPtr { bp in
                        BLAS.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.7, a: ap, lda: lda, b: bp, ldb: ldb, beta: 0.5, c: c, ldc: n) } } }
                    mutable(&got) { c in a.withPtr { ap in b.withPtr { bp in
                        Parallel.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 0.7, a: ap, lda: lda, b: bp, ldb: ldb, beta: 0.5, c: c, ldc: n) } } }
                    XCTAssertLessThan(relMaxDiff(got, ref), 1e-6, "\(m)×\(n)×\(k) tA \(ta) tB \(tb)")
                }
            }
        }
    }
}
