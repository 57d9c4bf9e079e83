import CBLAS
import Dispatch
import XCTest
@testable import LoRAKit

/// Timing of one whole-model inspection at SmolLM2's shapes, r 64 (run by hand: LORATOP_BENCH=1).
final class InspectCostBench: XCTestCase {
    func testCost() throws {
        guard ProcessInfo.processInfo.environment["LORATOP_BENCH"] == "1" else { throw XCTSkip("LORATOP_BENCH=1 to run") }
        let shapes = [(576, 576), (576, 192), (576, 192), (576, 576), (576, 1536), (576, 1536), (1536, 576)]
        var rng = SeededRNG(seed: 1)
        let r = 64
        var bufs: [(FloatBuffer, FloatBuffer, Int, Int)] = []
        for _ in 0..<30 { for (i, o) in shapes {
            bufs.append((FloatBuffer((0..<(r * i)).map { _ in rng.uniform(-0.05, 0.05) }),
                         FloatBuffer((0..<(o * r)).map { _ in rng.uniform(-0.01, 0.01) }), i, o))
        } }
        Parallel.setThreads(Int(ProcessInfo.processInfo.environment["THREADS"] ?? "2") ?? 2)
        let lora = try LoRAConfig(rank: r, alpha: 16)
        var times: [Double] = []
        let runs = max(7, Int(ProcessInfo.processInfo.environment["RUNS"] ?? "7") ?? 7)
        for _ in 0..<runs {
            let f = bufs.enumerated().map { k, b in
                UpdateInspector.Factors(name: "model.layers.\(k / 7).self_attn.q_proj", rank: r, inFeatures: b.2, outFeatures: b.3,
                                        a: UnsafePointer(b.0.pointer), b: UnsafePointer(b.1.pointer), gradNorms: nil, source: nil, stored: nil)
            }
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try UpdateInspector().inspect(f, step: 0, lora: lora, storage: nil)
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        // phases, one module of each shape, single thread
        var phase = [String: Double]()
        for (a, b, i, o) in bufs.prefix(7) {
            var t = DispatchTime.now().uptimeNanoseconds
            func lap(_ k: String) { let n = DispatchTime.now().uptimeNanoseconds; phase[k, default: 0] += Double(n - t) / 1e9 * 30; t = n }
            let rA = try UpdateSpectrum.rFactor(a.pointer, m: i, r: r); lap("rA")
            let gB = try UpdateSpectrum.gram(b.pointer, samples: o, n: r, sampleStride: r, elementStride: 1); lap("gB")
            _ = (rA, gB)
            _ = try UpdateSpectrum.singularValues(a: a.pointer, b: b.pointer, rank: r, inFeatures: i, outFeatures: o, scale: 1); lap("all")
        }
        // the r × r eigenproblem alone, 210 times: this path (tridiagonalisation + dsterf) against LAPACK dsyev
        let x = (0..<(r * r)).map { _ in Double(rng.uniform(-1, 1)) }
        var spd = [Double](repeating: 0, count: r * r)
        for i in 0..<r { for j in 0..<r { for k in 0..<r { spd[i * r + j] += x[i * r + k] * x[j * r + k] } } }
        var t1 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<210 { var c = spd; _ = try UpdateSpectrum.symmetricEigenvalues(&c, n: r) }
        phase["eig210"] = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
        var n = Int32(r), info: Int32 = 0, lwork = Int32(64 * r), w = [Double](repeating: 0, count: r)
        var work = [Double](repeating: 0, count: Int(lwork)), jobz = Int8(UInt8(ascii: "N")), uplo = Int8(UInt8(ascii: "U"))
        t1 = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<210 { var c = spd; dsyev_(&jobz, &uplo, &n, &c, &n, &w, &work, &lwork, &info) }
        phase["dsyev210"] = Double(DispatchTime.now().uptimeNanoseconds - t1) / 1e9
        print("inspect cost r64 210 modules: runs \(times.map { String(format: "%.4f", $0) }) median \(times.sorted()[times.count / 2]); per-phase x30 single thread \(phase)")
    }
}
