import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import LoRAKit
import XCTest
@testable import loratop

/// `loratop inspect` and `loratop plot --inspect` on adapter folders written here: table, JSON, SVG, and clear errors
/// for a malformed folder.
final class InspectCommandTests: XCTestCase {
    private var folders: [String] = []
    override func tearDown() {
        for f in folders { try? FileManager.default.removeItem(atPath: f) }
        super.tearDown()
    }

    /// A 2-layer adapter (q and down) with B·A of known rank: r 4 factors whose B has only `used` non-zero columns.
    private func adapter(used: Int = 2, rslora: Bool = false) throws -> String {
        let dir = NSTemporaryDirectory() + "inspect-\(UUID().uuidString)"
        folders.append(dir)
        var rng = SeededRNG(seed: 9)
        var modules: [PEFTAdapter.Module] = []
        for layer in 0..<2 {
            for (t, nIn, nOut) in [("self_attn.q_proj", 16, 16), ("mlp.down_proj", 32, 16)] {
                let a = (0..<(4 * nIn)).map { _ in rng.uniform(-1, 1) }
                let b = (0..<(nOut * 4)).map { i in i % 4 < used ? rng.uniform(-0.1, 0.1) : 0 }
                modules.append(PEFTAdapter.Module(name: "model.layers.\(layer).\(t)", a: a, b: b, rank: 4,
                                                  inFeatures: nIn, outFeatures: nOut))
            }
        }
        let cfg = try LoRAConfig(rank: 4, alpha: 8, targets: [.q, .down], useRSLoRA: rslora)
        try PEFTAdapter(config: cfg, baseModel: "test", modules: modules).write(to: dir)
        return dir
    }

    func testTableAndJSONShowEveryModuleAndTheAdvice() throws {
        let dir = try adapter()
        let (_, x) = try Inspect.load(adapter: dir, model: nil, storage: nil)
        XCTAssertEqual(x.modules.count, 4)
        XCTAssertTrue(x.modules.allSatisfy { $0.singularValues.count == 4 && $0.singularValues[2] < 1e-6 }, "B has 2 columns")
        let table = InspectReport.table(x, adapter: dir, model: nil)
        XCTAssertTrue(table.contains("r 4, alpha 8, scale 2 (alpha/r), 4 modules"), table)
        XCTAssertEqual(table.split(separator: "\n").filter { $0.hasPrefix("    1 down") }.count, 1, table)
        XCTAssertTrue(table.contains("advice: r 4→2"), table)
        XCTAssertFalse(table.contains("‖ΔW‖/‖W‖"), "no base given: no relative size column")
        let json = try InspectReport.json(x, adapter: dir, model: nil)
        let obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(obj["rank"] as? Int, 4)
        let mods = try XCTUnwrap(obj["modules"] as? [[String: Any]])
        XCTAssertEqual(mods.count, 4)
        XCTAssertNotNil(mods[0]["singular_values"] as? [Double])
        XCTAssertEqual(mods[0]["effective_rank99"] as? Int, x.modules[0].effectiveRank99)
        XCTAssertEqual((obj["advice"] as? [String: Any])?["suggested_rank"] as? Int, 2)
        let r = try Inspect.load(adapter: try adapter(rslora: true), model: nil, storage: nil).1
        XCTAssertEqual(r.scale, 4, "rsLoRA: alpha/√r")
        XCTAssertEqual(Double(r.modules[0].singularValues[0]), 2 * Double(x.modules[0].singularValues[0]), accuracy: 1e-5)
    }

    func testPlotInspectWritesWellFormedSVG() throws {
        let (_, x) = try Inspect.load(adapter: try adapter(), model: nil, storage: nil)
        let svg = SpectraSVG(inspection: x, title: "t").render()
        XCTAssertTrue(XMLParser(data: Data(svg.utf8)).parse(), "not well-formed XML")
        XCTAssertTrue(svg.contains("down (r90 "))
        XCTAssertFalse(svg.contains("nan"))
    }

    func testMalformedFoldersNameTheFileAndTensor() throws {
        let missing = NSTemporaryDirectory() + "inspect-none-\(UUID().uuidString)"
        XCTAssertThrowsError(try Inspect.load(adapter: missing, model: nil, storage: nil)) { e in
            XCTAssertTrue("\(e)".contains("adapter_config.json"), "\(e)")
        }
        let dir = try adapter()
        try FileManager.default.removeItem(atPath: dir + "/adapter_model.safetensors")
        XCTAssertThrowsError(try Inspect.load(adapter: dir, model: nil, storage: nil)) { e in
            XCTAssertTrue("\(e)".contains("adapter_model.safetensors"), "\(e)")
        }
        // a B whose shape does not fit the rank
        let bad = try adapter()
        var st = SafetensorsWriter(metadata: [:])
        try st.add(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", shape: [4, 16],
                   values: [Float](repeating: 0.1, count: 64))
        try st.add(name: "base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", shape: [16, 3],
                   values: [Float](repeating: 0.1, count: 48))
        try st.write(to: bad + "/adapter_model.safetensors")
        XCTAssertThrowsError(try Inspect.load(adapter: bad, model: nil, storage: nil)) { e in
            XCTAssertTrue("\(e)".contains("model.layers.0.self_attn.q_proj"), "\(e)")
        }
    }
}
