import Foundation
import XCTest
@testable import LoRAKit

/// Qwen3 (per-head q/k RMSNorm before RoPE, no q/k/v bias, head_dim ≠ hidden/heads, tied head) against transformers
/// and PEFT (Fixtures/parity/make_qwen3_fixture.py): logits at every position of three prompts, greedy continuations,
/// and the LoRA gradients of a masked batch against torch autograd, with and without checkpointing; a merged GGUF
/// (llama.cpp's qwen3 tensor names) loads back to the same logits.
final class Qwen3ParityTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    private var folder: String { TestModels.fixtures.appendingPathComponent("parity/tiny-qwen3-hf").path }

    private func relMaxDiff(_ a: [Float], _ b: [Float]) -> Float { FamilyParity.relMaxDiff(a, b) }

    private func checkPrompts(_ model: LlamaModel, greedy: Bool, file: StaticString = #filePath, line: UInt = #line) throws -> Float {
        try FamilyParity.checkPrompts(model, expected: "parity/tiny-qwen3-hf/expected.json", greedy: greedy, file: file, line: line)
    }

    func testLogitsAndGreedyMatchTransformers() throws {
        let model = try LlamaModel(source: try loadWeights(path: folder), storage: { DenseMatrix($1) })
        XCTAssertTrue(model.config.qkNorm)
        XCTAssertEqual(model.config.headDim, 24)
        XCTAssertFalse(model.config.attentionBias)
        let worst = try checkPrompts(model, greedy: true)
        print("qwen3: worst |Δlogit| / max |logit| vs transformers \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-4)
    }

    /// Without the q/k norms the same weights are far off: the fixture exercises them.
    func testTheNormsMatter() throws {
        let m = try LlamaModel(source: try loadWeights(path: folder), storage: { DenseMatrix($1) })
        var plain = m.config
        plain.qkNorm = false
        let blocks = m.blocks.map { b in
            LlamaBlock(inputNorm: b.inputNorm, postNorm: b.postNorm, q: b.q, k: b.k, v: b.v, o: b.o, gate: b.gate, up: b.up, down: b.down)
        }
        let without = LlamaModel(config: plain, embedding: m.embedding, lmHead: nil, blocks: blocks, finalNorm: m.finalNorm)
        let fx = try TestModels.json("parity/tiny-qwen3-hf/expected.json")
        let p = try XCTUnwrap((fx["prompts"] as? [[String: Any]])?.last)
        let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
        let got = try KVCache(model: without, capacity: ids.count).append(ids)
        XCTAssertGreaterThan(relMaxDiff(got, try XCTUnwrap(p["logits"] as? [Double]).map(Float.init)), 1e-2)
    }

    /// The PEFT adapter loads, gives PEFT's logits, and the training graph's loss and LoRA gradients on a masked batch
    /// match torch autograd within 1e-4 of each tensor's largest value, with and without checkpointing.
    func testLoRAGradientsMatchPEFTAutograd() throws {
        try FamilyParity.checkGradients(folder: folder, peft: TestModels.fixtures.appendingPathComponent("parity/tiny-qwen3-peft").path,
                                        grads: "parity/tiny-qwen3-grads.json", adapters: 14, label: "qwen3")
    }

    /// The merged GGUF names the architecture qwen3 and carries attn_q_norm / attn_k_norm, and loads back.
    func testMergedGGUFRoundTrip() throws {
        let src = try loadWeights(path: folder)
        let model = try LlamaModel(source: src, storage: { DenseMatrix($1) })
        let dir = NSTemporaryDirectory() + "qwen3-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try MergeExport.writeGGUF(model: model, base: ExportBase(source: src), to: dir + "/m.gguf")
        let file = try GGUFFile(path: dir + "/m.gguf")
        XCTAssertEqual(file.string("general.architecture"), "qwen3")
        XCTAssertNotNil(file.tensor("blk.1.attn_k_norm.weight"))
        let back = try LlamaModel(source: try loadWeights(path: dir + "/m.gguf"), storage: { DenseMatrix($1) })
        XCTAssertTrue(back.config.qkNorm)
        XCTAssertLessThanOrEqual(try checkPrompts(back, greedy: false), 1e-4)
        try MergeExport.writeHF(model: model, base: ExportBase(source: src), to: dir + "/hf")
        let cfg = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/hf/config.json"))) as? [String: Any])
        XCTAssertEqual(cfg["architectures"] as? [String], ["Qwen3ForCausalLM"])
        let again = try LlamaModel(source: try loadWeights(path: dir + "/hf"), storage: { DenseMatrix($1) })
        XCTAssertLessThanOrEqual(try checkPrompts(again, greedy: false), 1e-4)
    }
}
