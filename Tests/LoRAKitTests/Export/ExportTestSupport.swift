import Foundation
import XCTest
@testable import LoRAKit

/// Shared pieces of the export tests: deterministic adapters, fixture locations, logit comparison.
enum ExportSupport {
    /// The committed export fixtures (in the test bundle).
    static var fixtures: URL { TestModels.fixtures.appendingPathComponent("export") }

    /// The export fixtures folder in the source tree (where LORATOP_WRITE_FIXTURES=1 writes).
    static var sourceFixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/export")
    }

    /// Where the fixture writer leaves the large outputs the Python scripts read (never committed).
    static let scratch = "/tmp/loratop-export"

    /// Whether this run should (re)write fixtures instead of comparing against them.
    static var writeFixtures: Bool { ProcessInfo.processInfo.environment["LORATOP_WRITE_FIXTURES"] == "1" }

    /// A fresh temp folder.
    static func tempFolder(_ tag: String) throws -> String {
        let p = NSTemporaryDirectory() + "loratop-export-test-\(tag)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    /// A deterministic adapter for `model`: A ~ U(±1/√in) (PEFT's init range), B ~ U(±bBound) (nonzero),
    /// drawn layer by layer in target order from one seeded stream.
    static func adapter(for model: LlamaModel, config: LoRAConfig, seed: UInt64, bBound: Float) -> PEFTAdapter {
        var rng = SeededRNG(seed: seed)
        var modules: [PEFTAdapter.Module] = []
        for block in model.blocks {
            for t in LoRATarget.allCases where config.targets.contains(t) {
                let lin = block.linear(t), r = config.rank
                let bound = 1 / Float(lin.inFeatures).squareRoot()
                let a = (0..<(r * lin.inFeatures)).map { _ in rng.uniform(-bound, bound) }
                let b = (0..<(lin.outFeatures * r)).map { _ in rng.uniform(-bBound, bBound) }
                modules.append(.init(name: lin.name, a: a, b: b, rank: r, inFeatures: lin.inFeatures, outFeatures: lin.outFeatures))
            }
        }
        return PEFTAdapter(config: config, baseModel: "smollm2", modules: modules)
    }

    /// The adapter committed in PEFT form (peft_from_loratop/): r 2, k, o, gate, rsLoRA, alpha 2.
    static func fixtureAdapter(for model: LlamaModel) throws -> PEFTAdapter {
        adapter(for: model, config: try LoRAConfig(rank: 2, alpha: 2, targets: [.k, .o, .gate], useRSLoRA: true),
                seed: 2024, bBound: 0.05)
    }

    /// The adapter used for llama.cpp and the merged exports (regenerated, never committed): r 4, all seven
    /// targets, rsLoRA, alpha 4 (scale 2).
    static func allTargetsAdapter(for model: LlamaModel) throws -> PEFTAdapter {
        adapter(for: model, config: try LoRAConfig(rank: 4, alpha: 4, targets: LoRATarget.allCases, useRSLoRA: true),
                seed: 77, bBound: 0.04)
    }

    /// Removes every adapter from `model`.
    static func detach(_ model: LlamaModel) {
        for block in model.blocks { for t in LoRATarget.allCases { block.linear(t).adapter = nil } }
    }

    /// SmolLM2 with an fp32 base, private to the export tests (adapters are attached and removed here, so the
    /// shared instance of the other tests is never touched).
    nonisolated(unsafe) private static var cached: LlamaModel?
    static func smollm2() throws -> LlamaModel {
        if let m = cached { detach(m); return m }
        let m = try LlamaModel(source: try loadWeights(path: try TestModels.smollm2Path()), storage: { DenseMatrix($1) })
        cached = m
        return m
    }

    /// Removes the adapters of the cached model, if it was loaded.
    static func detachCached() { if let m = cached { detach(m) } }

    /// The prompts the Python fixtures were made on.
    static func promptIDs() throws -> [[Int32]] {
        let fx = try json("prompts.json")
        return try XCTUnwrap(fx["prompts"] as? [[String: Any]]).map { try XCTUnwrap($0["ids"] as? [Int]).map(Int32.init) }
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(name))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// Max |Δlogit| between `model` and a logits fixture (top 20 and the fixed subset at every position);
    /// also checks the argmax at every position.
    static func maxLogitDiff(_ model: LlamaModel, fixture name: String, file: StaticString = #filePath, line: UInt = #line) throws -> Float {
        let fx = try json(name)
        let subset = try XCTUnwrap(fx["subset_ids"] as? [Int])
        var worst: Float = 0
        let V = model.config.vocab
        for (pi, p) in try XCTUnwrap(fx["prompts"] as? [[String: Any]]).enumerated() {
            let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
            let positions = try XCTUnwrap(p["positions"] as? [[String: Any]])
            XCTAssertEqual(positions.count, ids.count)
            let logits = try KVCache(model: model, capacity: ids.count).append(ids)  // (n, V)
            for (t, pos) in positions.enumerated() {
                let row = Array(logits[(t * V)..<((t + 1) * V)])
                XCTAssertEqual(Sampler.argmax(row), pos["argmax"] as? Int, "\(name) prompt \(pi) position \(t): argmax", file: file, line: line)
                for pair in try XCTUnwrap(pos["top"] as? [[Double]]) { worst = max(worst, abs(row[Int(pair[0])] - Float(pair[1]))) }
                for (k, v) in try XCTUnwrap(pos["subset"] as? [Double]).enumerated() { worst = max(worst, abs(row[subset[k]] - Float(v))) }
            }
        }
        return worst
    }

    /// Logits (n, V) of `ids`.
    static func logits(_ model: LlamaModel, _ ids: [Int32]) throws -> [Float] {
        try KVCache(model: model, capacity: ids.count).append(ids)
    }

    /// Max |a − b|.
    static func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    /// The tiny LLaMA / Qwen2 folders of the parity fixtures.
    static func tinyFolder(_ name: String) -> String { TestModels.fixtures.appendingPathComponent("parity/" + name).path }
}

extension ExportSupport {
    /// Max |Δlogit| against a fixture without checking the argmax (for showing how far the base is from it).
    static func maxLogitDiffIgnoringArgmax(_ model: LlamaModel, fixture name: String) throws -> Float {
        let fx = try json(name)
        let subset = try XCTUnwrap(fx["subset_ids"] as? [Int])
        var worst: Float = 0
        let V = model.config.vocab
        for p in try XCTUnwrap(fx["prompts"] as? [[String: Any]]) {
            let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
            let logits = try logits(model, ids)
            for (t, pos) in try XCTUnwrap(p["positions"] as? [[String: Any]]).enumerated() {
                for (k, v) in try XCTUnwrap(pos["subset"] as? [Double]).enumerated() {
                    worst = max(worst, abs(logits[t * V + subset[k]] - Float(v)))
                }
            }
        }
        return worst
    }
}
