import Foundation
import XCTest
@testable import LoRAKit

/// Phi-3 (fused qkv_proj and gate_up_proj, untied head, sliding window 6) against transformers and PEFT
/// (Fixtures/parity/make_phi3_fixture.py): logits at every position of three prompts and greedy continuations; a PEFT
/// adapter on PEFT's Phi-3 module names loads and gives PEFT's logits; the LoRA gradients of a masked batch match torch
/// autograd with and without checkpointing; loratop writes the same module names back.
final class Phi3ParityTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    private var folder: String { TestModels.fixtures.appendingPathComponent("parity/tiny-phi3-hf").path }
    private var peft: String { TestModels.fixtures.appendingPathComponent("parity/tiny-phi3-peft").path }

    func testLogitsAndGreedyMatchTransformers() throws {
        let model = try LlamaModel(source: try loadWeights(path: folder), storage: { DenseMatrix($1) })
        XCTAssertTrue(model.config.fusedProjections)
        XCTAssertEqual(model.config.slidingWindow, 6)
        XCTAssertTrue(model.blocks.allSatisfy(\.fused))
        XCTAssertEqual(model.blocks[0].projections.map(\.linear.name),
                       ["model.layers.0.self_attn.qkv_proj", "model.layers.0.self_attn.o_proj", "model.layers.0.mlp.gate_up_proj",
                        "model.layers.0.mlp.down_proj"])
        let worst = try FamilyParity.checkPrompts(model, expected: "parity/tiny-phi3-hf/expected.json", greedy: true)
        print("phi3: worst |Δlogit| / max |logit| vs transformers \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-4)
    }

    func testLoRAGradientsMatchPEFTAutograd() throws {
        try FamilyParity.checkGradients(folder: folder, peft: peft, grads: "parity/tiny-phi3-grads.json", adapters: 8, label: "phi3")
    }

    /// PEFT's target_modules come back as PEFT's Phi-3 names, and the adapter written is the one read.
    func testAdapterRoundTripKeepsPEFTNames() throws {
        let model = try LlamaModel(source: try loadWeights(path: folder), storage: { DenseMatrix($1) })
        let adapter = try PEFTAdapter.read(folder: peft)
        XCTAssertEqual(Set(adapter.config.targets), [.q, .o, .gate, .down])
        try adapter.attach(to: model)
        let dir = NSTemporaryDirectory() + "phi3-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let written = PEFTAdapter(model: model, config: adapter.config, baseModel: "tiny-phi3-hf")
        try written.write(to: dir)
        let cfg = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json"))) as? [String: Any])
        XCTAssertEqual(cfg["target_modules"] as? [String], ["qkv_proj", "o_proj", "gate_up_proj", "down_proj"])
        XCTAssertEqual(try PEFTAdapter.read(folder: dir).modules, adapter.modules)
    }

    /// Merged exports keep the fused modules: an HF folder (Phi3ForCausalLM, transformers' keys) and a GGUF (llama.cpp's
    /// attn_qkv, ffn_up) load back to the adapted model's logits.
    func testMergedExportsLoadBackToTheAdaptedLogits() throws {
        let dir = NSTemporaryDirectory() + "phi3-merged-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func logits(_ m: LlamaModel) throws -> [Float] { try KVCache(model: m, capacity: 12).append((0..<12).map { Int32($0 * 7 % 96) }) }
        let src = try loadWeights(path: folder)
        let model = try LlamaModel(source: src, storage: { DenseMatrix($1) })
        try PEFTAdapter.read(folder: peft).attach(to: model)
        let want = try logits(model)
        try MergeExport.writeHF(model: model, base: ExportBase(source: src), to: dir + "/hf")
        let back = try LlamaModel(source: try loadWeights(path: dir + "/hf"), storage: { DenseMatrix($1) })
        XCTAssertLessThanOrEqual(FamilyParity.relMaxDiff(try logits(back), want), 1e-5, "merged HF")
        let mine = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/hf/config.json"))) as? NSDictionary)
        let theirs = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/config.json"))) as? NSDictionary)
        for key in ["architectures", "model_type", "sliding_window", "rope_parameters", "tie_word_embeddings", "hidden_act",
                    "num_key_value_heads", "original_max_position_embeddings"] {
            XCTAssertEqual(mine[key] as? NSObject, theirs[key] as? NSObject, "config.json \(key)")
        }
        let ggufDir = GGUFFamilyParityTests.dir("phi3")
        let gsrc = try loadWeights(path: ggufDir + "/model.gguf")
        let gmodel = try LlamaModel(source: gsrc, storage: { DenseMatrix($1) })
        try PEFTAdapter.read(folder: ggufDir + "/peft").attach(to: gmodel)
        let gwant = try logits(gmodel)
        try MergeExport.writeGGUF(model: gmodel, base: ExportBase(source: gsrc), to: dir + "/m.gguf")
        let file = try GGUFFile(path: dir + "/m.gguf")
        XCTAssertEqual(file.string("general.architecture"), "phi3")
        XCTAssertNotNil(file.tensor("blk.1.attn_qkv.weight"))
        XCTAssertEqual(file.tensor("blk.1.ffn_up.weight")?.dims, [64, 192])
        let gback = try LlamaModel(source: try loadWeights(path: dir + "/m.gguf"), storage: { DenseMatrix($1) })
        XCTAssertLessThanOrEqual(FamilyParity.relMaxDiff(try logits(gback), gwant), 1e-5, "merged GGUF")
    }
}
