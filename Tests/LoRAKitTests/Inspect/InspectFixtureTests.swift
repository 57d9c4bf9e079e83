import Foundation
import XCTest
@testable import LoRAKit

/// The inspection's singular values, norms and effective ranks against numpy.linalg.svd of the dense scale·B·A
/// (Fixtures/inspect/spectra.json, made by make_inspect_fixture.py) for a loratop-saved adapter and two PEFT-made
/// ones (one rsLoRA), and its quantization errors against an independent numpy computation on real SmolLM2 matrices.
final class InspectFixtureTests: XCTestCase {
    static func fixtures() throws -> URL {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw XCTSkip("Fixtures folder missing from the test bundle")
        }
        return dir.appendingPathComponent("inspect")
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: try fixtures().appendingPathComponent(name))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError("\(name): top level is not an object")
        }
        return obj
    }

    /// max |a − b| / b over the values, b floored at 1e-9·max(b) (all fixture values are far above that).
    static func maxRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
        guard a.count == b.count else { return .infinity }
        let floor = 1e-9 * (b.map(abs).max() ?? 0)
        return zip(a, b).map { abs($0 - $1) / max(abs($1), floor, .leastNonzeroMagnitude) }.max() ?? 0
    }

    func testSpectraAgreeWithNumpyOnLoratopAndPEFTAdapters() throws {
        guard let adapters = try Self.json("spectra.json")["adapters"] as? [[String: Any]] else {
            throw FixtureError("spectra.json: no adapters")
        }
        XCTAssertEqual(adapters.compactMap { $0["folder"] as? String }.sorted(), ["loratop-r8", "peft-r8", "peft-r8-rslora"])
        var worst = 0.0
        for ref in adapters {
            guard let folder = ref["folder"] as? String, let mods = ref["modules"] as? [[String: Any]],
                  let scale = ref["scale"] as? Double else { throw FixtureError("malformed adapter entry") }
            let adapter = try PEFTAdapter.read(folder: try Self.fixtures().appendingPathComponent(folder).path)
            let x = try UpdateInspector().inspect(adapter: adapter)
            XCTAssertEqual(Double(x.scale), scale, accuracy: 1e-6 * scale, "\(folder): scale (rsLoRA: alpha/√r)")
            XCTAssertEqual(x.modules.count, mods.count, folder)
            XCTAssertEqual(x.modules.count, 14, folder)
            let byName = Dictionary(uniqueKeysWithValues: x.modules.map { ($0.name, $0) })
            for m in mods {
                guard let name = m["name"] as? String, let sv = m["singularValues"] as? [Double],
                      let norm = m["updateNorm"] as? Double else { throw FixtureError("malformed module") }
                guard let got = byName[name] else { XCTFail("\(folder): \(name) missing"); continue }
                // compare the double-precision figures (the Float copies in ModuleInspection are for display)
                let f = adapter.modules.first { $0.name == name }
                let sigma = try XCTUnwrap(f.map { mod in
                    try mod.a.withUnsafeBufferPointer { ap in
                        try mod.b.withUnsafeBufferPointer { bp in
                            try UpdateSpectrum.singularValues(a: ap.baseAddress!, b: bp.baseAddress!, rank: mod.rank,
                                                              inFeatures: mod.inFeatures, outFeatures: mod.outFeatures,
                                                              scale: adapter.config.scale)
                        }
                    }
                })
                let d = Self.maxRelativeDifference(sigma, sv)
                worst = max(worst, d)
                XCTAssertLessThanOrEqual(d, 1e-4, "\(folder) \(name): singular values \(sigma) vs numpy \(sv)")
                XCTAssertLessThanOrEqual(Self.maxRelativeDifference(got.singularValues.map(Double.init), sv), 1e-4)
                XCTAssertEqual(got.updateNorm, norm, accuracy: 1e-4 * norm, "\(folder) \(name): ‖ΔW‖_F")
                XCTAssertEqual(got.effectiveRank90, m["effectiveRank90"] as? Int, "\(folder) \(name): r90")
                XCTAssertEqual(got.effectiveRank99, m["effectiveRank99"] as? Int, "\(folder) \(name): r99")
            }
        }
        print("inspect fixture: max relative difference of singular values vs numpy \(worst)")
    }

    func testQuantizationErrorsAgreeWithNumpyOnRealSmolLM2Matrices() throws {
        let path = try TestModels.smollm2Path()
        guard let cases = try Self.json("quant_errors.json")["cases"] as? [[String: Any]] else {
            throw FixtureError("quant_errors.json: no cases")
        }
        XCTAssertEqual(Set(cases.compactMap { $0["source"] as? String }), ["q4_1", "q8_0"])
        let source = try loadWeights(path: path)
        var worst = 0.0
        for c in cases {
            guard let tensor = c["tensor"] as? String, let errors = c["errors"] as? [String: Double],
                  let fro = c["frobenius"] as? Double else { throw FixtureError("malformed case") }
            let w = try source.matrix(tensor)
            XCTAssertEqual(w.storageName, c["source"] as? String, tensor)
            XCTAssertEqual([w.rows, w.cols], [c["rows"] as? Int ?? -1, c["cols"] as? Int ?? -1], tensor)
            XCTAssertEqual(MatrixNorms.frobenius(w), fro, accuracy: 1e-6 * fro, "\(tensor): ‖W‖_F")
            for (label, kind, dq) in [("nf4", QuantKind.nf4, false), ("nf4+dq", .nf4, true), ("fp4", .fp4, false),
                                      ("int8", .int8, false)] {
                guard let want = errors[label] else { XCTFail("\(tensor): no \(label) figure"); continue }
                let q = try Quantizer.quantize(w, kind: kind, blockSize: 64, doubleQuant: dq, name: tensor)
                let got = MatrixNorms.relativeError(stored: q, source: w)
                worst = max(worst, abs(got - want) / want)
                XCTAssertEqual(got, want, accuracy: 1e-4 * want, "\(tensor) \(label): relative RMS error")
            }
        }
        print("inspect fixture: max relative difference of quantization errors vs numpy \(worst)")
    }
}
