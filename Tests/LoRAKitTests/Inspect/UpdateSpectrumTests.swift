import XCTest
@testable import LoRAKit

/// The factor-only spectrum against a dense SVD of the same update, on the paths the fast one cannot take
/// (a zero B, rank-deficient factors, a rank above a side), and the advisor on spectra of known shape.
final class UpdateSpectrumTests: XCTestCase {
    /// Singular values of the dense (out, in) update via LAPACK, the reference (its float32 product leaves noise of
    /// about 1e-7 of the largest value where the update has none).
    func denseSingularValues(_ f: LoRAFactors, scale: Float) throws -> [Double] {
        let w = f.update(scale: scale).map(Double.init)
        let (rows, cols) = f.outFeatures >= f.inFeatures ? (f.outFeatures, f.inFeatures) : (f.inFeatures, f.outFeatures)
        var t = w
        if f.outFeatures < f.inFeatures {  // transpose so rows ≥ cols
            t = [Double](repeating: 0, count: w.count)
            for i in 0..<f.outFeatures { for j in 0..<f.inFeatures { t[j * f.outFeatures + i] = w[i * f.inFeatures + j] } }
        }
        return Array(try RankResize.thinSVD(t, rows: rows, cols: cols).0.prefix(min(f.rank, rows, cols)))
    }

    func factors(rank r: Int, nIn: Int, nOut: Int, seed: UInt64, edit: (inout [Float], inout [Float]) -> Void = { _, _ in })
        -> LoRAFactors {
        var rng = SeededRNG(seed: seed)
        var a = (0..<(r * nIn)).map { _ in rng.uniform(-1, 1) }
        var b = (0..<(nOut * r)).map { _ in rng.uniform(-0.1, 0.1) }
        edit(&a, &b)
        return LoRAFactors(rank: r, inFeatures: nIn, outFeatures: nOut, a: a, b: b)
    }

    func spectrum(_ f: LoRAFactors, scale: Float) throws -> [Double] {
        try f.a.withUnsafeBufferPointer { ap in
            try f.b.withUnsafeBufferPointer { bp in
                try UpdateSpectrum.singularValues(a: ap.baseAddress!, b: bp.baseAddress!, rank: f.rank, inFeatures: f.inFeatures,
                                                  outFeatures: f.outFeatures, scale: scale)
            }
        }
    }

    func assertClose(_ got: [Double], _ want: [Double], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        let top = want.first ?? 0
        for (g, w) in zip(got, want) {
            XCTAssertEqual(g, w, accuracy: max(1e-5 * w, 1e-7 * top, 1e-12), "\(what): \(got) vs \(want)", file: file, line: line)
        }
    }

    func testMatchesADenseSVDOnEveryPath() throws {
        let cases: [(String, LoRAFactors)] = [
            ("well conditioned", factors(rank: 8, nIn: 40, nOut: 24, seed: 1)),
            ("zero B", factors(rank: 4, nIn: 16, nOut: 12, seed: 2) { _, b in b = b.map { _ in 0 } }),
            ("repeated B column (rank-deficient core)", factors(rank: 6, nIn: 20, nOut: 30, seed: 3) { _, b in
                for o in 0..<30 { b[o * 6 + 5] = b[o * 6 + 1] }
            }),
            ("rank above out", factors(rank: 8, nIn: 32, nOut: 5, seed: 4)),
            ("rank above in", factors(rank: 10, nIn: 6, nOut: 16, seed: 5)),
        ]
        for (what, f) in cases {
            let scale: Float = 1.75
            assertClose(try spectrum(f, scale: scale), try denseSingularValues(f, scale: scale), what)
        }
    }

    func testEffectiveRankCountsEnergy() {
        XCTAssertEqual(ModuleInspection.effectiveRank([3, 0.5, 0.1], energy: 0.9), 1)   // 9 of 9.26
        XCTAssertEqual(ModuleInspection.effectiveRank([3, 0.5, 0.1], energy: 0.99), 2)  // 9.25 of 9.26
        XCTAssertEqual(ModuleInspection.effectiveRank([3, 1, 0.1], energy: 0.9), 2)     // 9 of 10.01 is not 90%
        XCTAssertEqual(ModuleInspection.effectiveRank([1, 1, 1, 1], energy: 0.75), 3)  // exactly 75% needs 3, not 4
        XCTAssertEqual(ModuleInspection.effectiveRank([0, 0], energy: 0.9), 0)
    }

    func module(_ target: String, layer: Int, sigma: [Double]) -> ModuleInspection {
        ModuleInspection(name: "model.layers.\(layer).self_attn.\(target)_proj", rank: sigma.count, inFeatures: 64,
                         outFeatures: 64, singularValues: sigma)
    }

    func testAdvisorSuggestsTheRankMostModulesNeedAndGrowthForFlatSpectra() {
        // q: steep spectra needing 1–3 directions for 90% → 75th percentile 2 (or 3); rank 16 → suggest a power of two
        let steep = (0..<4).map { l in module("q", layer: l, sigma: [10, l == 3 ? 6 : 2] + [Double](repeating: 0.1, count: 14)) }
        let a = RankAdvisor.advise(steep, rank: 16)
        XCTAssertEqual(a.types.map(\.target), ["q"])
        XCTAssertEqual(a.types.first?.rank90, 1)
        XCTAssertFalse(a.growthWanted)
        XCTAssertEqual(a.suggestedRank, 1)
        XCTAssertEqual(a.suggestedTrainableParameters, 4 * 1 * 128)
        XCTAssertEqual(a.trainableParameters, 4 * 16 * 128)
        XCTAssertTrue(a.summary.hasPrefix("r 16→1"), a.summary)
        // v: flat spectra (every direction carries about as much) → grow
        let flat = (0..<4).map { l in module("v", layer: l, sigma: [Double](repeating: 1, count: 8)) }
        let b = RankAdvisor.advise(steep.map { m in var m = m; m.rank = 8; return m } + flat, rank: 8)
        XCTAssertEqual(b.types.map(\.target), ["q", "v"])
        XCTAssertEqual(b.types.last?.flatTop, true)
        XCTAssertTrue(b.growthWanted)
        XCTAssertEqual(b.suggestedRank, 16)
        XCTAssertTrue(b.summary.contains("flat at the top in v"), b.summary)
    }
}
