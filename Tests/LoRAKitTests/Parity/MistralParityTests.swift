import Foundation
import XCTest
@testable import LoRAKit

/// Mistral's sliding window (Fixtures/parity/make_mistral_fixture.py: a window of 6, shorter than two of the prompts)
/// against transformers: logits at every position, greedy continuations; without the window the same weights are far
/// off; a merged HF folder keeps it (MistralForCausalLM with sliding_window).
final class MistralParityTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    private var folder: String { TestModels.fixtures.appendingPathComponent("parity/tiny-mistral-hf").path }

    func testSlidingWindowMatchesTransformers() throws {
        let model = try LlamaModel(source: try loadWeights(path: folder), storage: { DenseMatrix($1) })
        XCTAssertEqual(model.config.slidingWindow, 6)
        let worst = try FamilyParity.checkPrompts(model, expected: "parity/tiny-mistral-hf/expected.json", greedy: true)
        print("mistral (window 6): worst |Δlogit| / max |logit| vs transformers \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-4)

        var plain = model.config
        plain.slidingWindow = nil
        let without = LlamaModel(config: plain, embedding: model.embedding, lmHead: model.lmHead, blocks: model.blocks,
                                 finalNorm: model.finalNorm)
        XCTAssertGreaterThan(try FamilyParity.lastPromptDifference(without, expected: "parity/tiny-mistral-hf/expected.json"), 1e-2)

        let dir = NSTemporaryDirectory() + "mistral-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let src = try loadWeights(path: folder)
        try MergeExport.writeHF(model: model, base: ExportBase(source: src), to: dir)
        let cfg = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/config.json"))) as? [String: Any])
        XCTAssertEqual(cfg["architectures"] as? [String], ["MistralForCausalLM"])
        XCTAssertEqual(cfg["sliding_window"] as? Int, 6)
        let back = try LlamaModel(source: try loadWeights(path: dir), storage: { DenseMatrix($1) })
        XCTAssertLessThanOrEqual(try FamilyParity.checkPrompts(back, expected: "parity/tiny-mistral-hf/expected.json", greedy: false), 1e-4)
    }
}
