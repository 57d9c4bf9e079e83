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

    private func relMaxDiff(_ a: [Float], _ b: [Float]) -> Float {
        let top = b.map(abs).max() ?? 1
        return zip(a, b).map { abs($0 - $1) }.max().map { $0 / max(top, 1e-30) } ?? .infinity
    }

    private func checkPrompts(_ model: LlamaModel, greedy: Bool, file: StaticString = #filePath, line: UInt = #line) throws -> Float {
        let fx = try TestModels.json("parity/tiny-qwen3-hf/expected.json")
        let V = model.config.vocab
        var worst: Float = 0
        for (pi, p) in try XCTUnwrap(fx["prompts"] as? [[String: Any]]).enumerated() {
            let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
            let expected = try XCTUnwrap(p["logits"] as? [Double]).map(Float.init)
            let got = try KVCache(model: model, capacity: ids.count).append(ids)
            worst = max(worst, relMaxDiff(got, expected))
            for t in 0..<ids.count {
                XCTAssertEqual(Sampler.argmax(Array(got[(t * V)..<((t + 1) * V)])), Sampler.argmax(Array(expected[(t * V)..<((t + 1) * V)])),
                               "prompt \(pi) position \(t)", file: file, line: line)
            }
            if greedy {
                let want = try XCTUnwrap(p["greedy"] as? [Int]).map(Int32.init)
                let cont = try Generator.generate(model: model, prompt: ids, maxTokens: 24, sampling: SamplingOptions(), stop: [])
                XCTAssertEqual(cont, want, "prompt \(pi): greedy continuation", file: file, line: line)
            }
        }
        return worst
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
        let fx = try TestModels.json("parity/tiny-qwen3-grads.json")
        let batch = Batch(batch: try XCTUnwrap(fx["batch"] as? Int), seqLen: try XCTUnwrap(fx["seq_len"] as? Int),
                          inputs: try XCTUnwrap(fx["inputs"] as? [Int]).map(Int32.init),
                          targets: try XCTUnwrap(fx["targets"] as? [Int]).map { $0 < 0 ? Batch.ignore : Int32($0) })
        let grads = try XCTUnwrap(fx["grads"] as? [String: [Double]])
        XCTAssertEqual(grads.count, 28)
        for checkpointing in [false, true] {
            let model = try LlamaModel(source: try loadWeights(path: folder), storage: { DenseMatrix($1) })
            let adapter = try PEFTAdapter.read(folder: TestModels.fixtures.appendingPathComponent("parity/tiny-qwen3-peft").path)
            try adapter.attach(to: model)
            XCTAssertEqual(model.adapters.count, 14)
            let seq0 = try KVCache(model: model, capacity: batch.seqLen).append(Array(batch.inputs.prefix(batch.seqLen)))
            XCTAssertLessThanOrEqual(relMaxDiff(seq0, try XCTUnwrap(fx["logits_seq0"] as? [Double]).map(Float.init)), 1e-4, "adapted logits")
            for (_, ad) in model.adapters { ad.a.grad.zero(); ad.b.grad.zero() }
            let graph = TrainingGraph(model: model, B: batch.batch, T: batch.seqLen, checkpointing: checkpointing)
            try graph.forward(batch, dropoutSeed: nil)
            let lossSum = graph.backward(batch, gradScale: 1 / Float(batch.trainedTokens))
            let loss = try XCTUnwrap(fx["loss"] as? Double)
            XCTAssertEqual(lossSum / Double(batch.trainedTokens), loss, accuracy: 1e-4 * loss)
            var worst: Float = 0
            for (name, ad) in model.adapters {
                let ea = try XCTUnwrap(grads[name + ".lora_A"]).map(Float.init), eb = try XCTUnwrap(grads[name + ".lora_B"]).map(Float.init)
                let da = relMaxDiff(ad.a.grad.array, ea), db = relMaxDiff(ad.b.grad.array, eb)
                XCTAssertLessThanOrEqual(da, 1e-4, "\(name).lora_A checkpointing \(checkpointing)")
                XCTAssertLessThanOrEqual(db, 1e-4, "\(name).lora_B checkpointing \(checkpointing)")
                worst = max(worst, da, db)
            }
            print("qwen3 LoRA gradients vs PEFT autograd (checkpointing \(checkpointing)): worst \(worst)")
        }
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
