import Foundation
import XCTest
@testable import LoRAKit

final class LoRALinearTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func makeLayer(base: FrozenMatrix, rank: Int, scale: Float, dropout: Float, seed: UInt64) -> LoRALinear {
        let lin = LoRALinear(name: "test.q_proj", base: base)
        let ad = LoRAAdapter(name: lin.name, rank: rank, inFeatures: base.cols, outFeatures: base.rows, scale: scale, dropout: dropout)
        var rng = SeededRNG(seed: seed)
        ad.initialize(rng: &rng)
        for i in 0..<ad.b.count { ad.b.value[i] = rng.uniform(-0.5, 0.5) }  // nonzero B: dA is non-trivial
        lin.adapter = ad
        return lin
    }

    /// dA, dB and dx against finite differences (ε 1e-2, tolerance 5e-3 of the largest component), with a
    /// tiled (quantized-style) base, with and without dropout.
    func testBackwardMatchesFiniteDifferences() {
        for (dropout, seed) in [(Float(0), UInt64?.none), (0.3, 77)] {
            let N = 5, I = 11, O = 9, r = 3
            var rng = SeededRNG(seed: 10)
            let base = TileOnlyMatrix(rows: O, cols: I, values: randomArray(O * I, &rng))
            let lin = makeLayer(base: base, rank: r, scale: 1.7, dropout: dropout, seed: 11)
            let ad = lin.adapter!
            let x = randomArray(N * I, &rng), dout = randomArray(N * O, &rng)
            let scratch = ScratchBuffer()
            func run(_ x: [Float]) -> [Float] {
                var out = [Float](repeating: 0, count: N * O)
                mutable(&out) { o in x.withPtr { lin.forward(out: o, x: $0, N: N, scratch: scratch, dropoutSeed: seed) } }
                return out
            }
            _ = run(x)
            ad.a.grad.zero(); ad.b.grad.zero()
            var dx = [Float](repeating: 0, count: N * I)
            mutable(&dx) { d in dout.withPtr { g in x.withPtr { lin.backward(dx: d, dout: g, x: $0, N: N, scratch: scratch) } } }
            let dA = ad.a.grad.array, dB = ad.b.grad.array
            XCTAssertLessThan(relMaxDiff(dx, numericGradient(x) { dotLoss(run($0), dout) }), 5e-3, "dx, dropout \(dropout)")
            let a0 = ad.a.value.array, b0 = ad.b.value.array
            let numA = numericGradient(a0) { a in ad.a.value.assign(a); defer { ad.a.value.assign(a0) }; return dotLoss(run(x), dout) }
            let numB = numericGradient(b0) { b in ad.b.value.assign(b); defer { ad.b.value.assign(b0) }; return dotLoss(run(x), dout) }
            XCTAssertLessThan(relMaxDiff(dA, numA), 5e-3, "dA, dropout \(dropout)")
            XCTAssertLessThan(relMaxDiff(dB, numB), 5e-3, "dB, dropout \(dropout)")
            XCTAssertGreaterThan(dA.map(abs).max()!, 1e-3)
        }
    }

    func testDropoutMaskRateAndScaling() {
        let n = 100_000
        let x = [Float](repeating: 1, count: n)
        var out = [Float](repeating: 0, count: n)
        mutable(&out) { o in x.withPtr { LoRADropout.apply(out: o, x: $0, count: n, p: 0.25, seed: 5) } }
        let kept = out.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / Double(n), 0.75, accuracy: 0.01)
        XCTAssertEqual(kept[0], 1 / 0.75, accuracy: 1e-6)
        var again = [Float](repeating: 0, count: n)
        mutable(&again) { o in x.withPtr { LoRADropout.apply(out: o, x: $0, count: n, p: 0.25, seed: 5) } }
        XCTAssertEqual(out, again)
    }

    func testPEFTDefaultInitBound() {
        let ad = LoRAAdapter(name: "x", rank: 64, inFeatures: 300, outFeatures: 10, scale: 1, dropout: 0)
        var rng = SeededRNG(seed: 3)
        ad.initialize(rng: &rng)
        let bound = Float(1 / 300.0.squareRoot())  // kaiming_uniform_(a=√5): gain √(1/3) · √(3/300)
        let a = ad.a.value.array
        XCTAssertLessThanOrEqual(a.map(abs).max()!, bound)
        XCTAssertGreaterThan(a.map(abs).max()!, 0.95 * bound)
        XCTAssertTrue(ad.b.value.array.allSatisfy { $0 == 0 })
    }

    func testFreshAdapterLeavesOutputBitIdentical() {
        let N = 6, I = 16, O = 12
        var rng = SeededRNG(seed: 20)
        let base = DenseMatrix(rows: O, cols: I, values: randomArray(O * I, &rng))
        let x = randomArray(N * I, &rng)
        let plain = LoRALinear(name: "p", base: base)
        let fresh = LoRALinear(name: "f", base: base)
        let ad = LoRAAdapter(name: "f", rank: 4, inFeatures: I, outFeatures: O, scale: 2, dropout: 0)
        ad.initialize(rng: &rng)
        fresh.adapter = ad
        var y0 = [Float](repeating: 0, count: N * O), y1 = y0
        let s = ScratchBuffer()
        mutable(&y0) { o in x.withPtr { plain.forward(out: o, x: $0, N: N, scratch: s) } }
        mutable(&y1) { o in x.withPtr { fresh.forward(out: o, x: $0, N: N, scratch: s) } }
        XCTAssertEqual(y0, y1)
    }

    func testFusedEqualsBasePlusUpdateAndRevertRestoresBase() throws {
        let I = 24, O = 20, r = 4
        var rng = SeededRNG(seed: 30)
        let w = randomArray(O * I, &rng)
        for base in [DenseMatrix(rows: O, cols: I, values: w) as FrozenMatrix, TileOnlyMatrix(rows: O, cols: I, values: w)] {
            let lin = makeLayer(base: base, rank: r, scale: 0.5, dropout: 0, seed: 31)
            let ad = lin.adapter!
            var ref = [Float](repeating: 0, count: O * I)
            for o in 0..<O { for i in 0..<I {
                var s = 0.0
                for k in 0..<r { s += Double(ad.b.value[o * r + k]) * Double(ad.a.value[k * I + i]) }
                ref[o * I + i] = Float(Double(w[o * I + i]) + 0.5 * s)
            } }
            let fused = try lin.fused()
            XCTAssertTrue(fused.isMerged)
            XCTAssertLessThan(relMaxDiff(fused.base.dequantizedArray(), ref), 1e-5)
            // the fused layer computes the same outputs as base + adapter
            let N = 3, x = randomArray(N * I, &rng), s = ScratchBuffer()
            var y0 = [Float](repeating: 0, count: N * O), y1 = y0
            mutable(&y0) { o in x.withPtr { lin.forward(out: o, x: $0, N: N, scratch: s) } }
            mutable(&y1) { o in x.withPtr { fused.forward(out: o, x: $0, N: N, scratch: s) } }
            XCTAssertLessThan(relMaxDiff(y1, y0), 1e-5)
            let back = try fused.reverted()
            XCTAssertFalse(back.isMerged)
            XCTAssertLessThan(relMaxDiff(back.base.dequantizedArray(), w), 1e-6)
            XCTAssertThrowsError(try lin.reverted())
            XCTAssertThrowsError(try fused.fused())
        }
    }

    func testFuseRefusesNonFinite() {
        let lin = makeLayer(base: DenseMatrix(rows: 2, cols: 2, values: [1, 2, 3, 4]), rank: 1, scale: 1, dropout: 0, seed: 1)
        lin.adapter!.b.value[0] = .infinity
        XCTAssertThrowsError(try lin.fused()) { e in XCTAssertTrue("\(e)".contains("non-finite")) }
    }

    func testConfigDecodesPEFTKeysAndValidates() throws {
        let json = #"{"r": 16, "lora_alpha": 32, "lora_dropout": 0.05, "target_modules": ["q_proj", "v_proj"], "use_rslora": true, "peft_type": "LORA"}"#
        let c = try JSONDecoder().decode(LoRAConfig.self, from: Data(json.utf8))
        XCTAssertEqual(c.rank, 16)
        XCTAssertEqual(c.targets, [.q, .v])
        XCTAssertEqual(c.scale, 32 / 4, accuracy: 1e-6)
        let d = try JSONDecoder().decode(LoRAConfig.self, from: Data("{}".utf8))
        XCTAssertEqual(d.rank, 8); XCTAssertEqual(d.alpha, 16); XCTAssertEqual(d.dropout, 0)
        XCTAssertEqual(d.targets, LoRATarget.allCases); XCTAssertEqual(d.scale, 2)
        let round = try JSONDecoder().decode(LoRAConfig.self, from: JSONEncoder().encode(c))
        XCTAssertEqual(round, c)
        XCTAssertThrowsError(try JSONDecoder().decode(LoRAConfig.self, from: Data(#"{"r": 0}"#.utf8)))
        XCTAssertThrowsError(try JSONDecoder().decode(LoRAConfig.self, from: Data(#"{"lora_dropout": 1.5}"#.utf8)))
        XCTAssertThrowsError(try LoRATarget.parseList("q,zz")) { e in XCTAssertTrue("\(e)".contains("zz")) }
        XCTAssertEqual(try LoRATarget.parseList("q, gate,down_proj"), [.q, .gate, .down])
    }
}
