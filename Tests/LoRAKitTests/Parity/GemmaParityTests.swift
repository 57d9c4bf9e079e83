import Foundation
import XCTest
@testable import LoRAKit

/// Gemma 2 and Gemma 3 against transformers and PEFT (Fixtures/parity/make_gemma_fixture.py): √C embeddings, (1 + w)
/// norms, tanh GeGLU, the output norms, query_pre_attn_scalar, a sliding window shorter than the prompts, Gemma 2's
/// attention and final soft-caps, Gemma 3's q/k norms and local/global RoPE bases. Logits at every position of three
/// prompts, greedy continuations, LoRA gradients of a masked batch against torch autograd; checks that the window,
/// the caps and the local base each matter; merged exports refused before writing.
final class GemmaParityTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    private func folder(_ name: String) -> String { TestModels.fixtures.appendingPathComponent("parity/tiny-\(name)-hf").path }

    private func load(_ name: String) throws -> LlamaModel {
        try LlamaModel(source: try loadWeights(path: folder(name)), storage: { DenseMatrix($1) })
    }

    func testGemma2LogitsAndGreedyMatchTransformers() throws {
        let model = try load("gemma2")
        let g = try XCTUnwrap(model.config.gemma)
        XCTAssertEqual(g.version, 2)
        XCTAssertEqual(g.slidingLayers, [true, false])
        XCTAssertEqual(g.attentionSoftcap, 5)
        XCTAssertEqual(g.finalSoftcap, 3)
        XCTAssertFalse(model.config.qkNorm)
        let worst = try FamilyParity.checkPrompts(model, expected: "parity/tiny-gemma2-hf/expected.json", greedy: true)
        print("gemma2: worst |Δlogit| / max |logit| vs transformers \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-4)
    }

    func testGemma3LogitsAndGreedyMatchTransformers() throws {
        let model = try load("gemma3")
        let g = try XCTUnwrap(model.config.gemma)
        XCTAssertEqual(g.version, 3)
        XCTAssertEqual(g.slidingLayers, [true, false, true])
        XCTAssertEqual(g.localRopeTheta, 10_000)
        XCTAssertEqual(model.config.ropeTheta, 1_000_000)
        XCTAssertNil(g.finalSoftcap)
        XCTAssertTrue(model.config.qkNorm)
        let worst = try FamilyParity.checkPrompts(model, expected: "parity/tiny-gemma3-hf/expected.json", greedy: true)
        print("gemma3: worst |Δlogit| / max |logit| vs transformers \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-4)
    }

    /// The same weights with one Gemma setting changed are far off: the fixtures exercise each of them.
    func testEachSettingMatters() throws {
        func without(_ name: String, _ change: (inout GemmaConfig) -> Void) throws -> Float {
            let m = try load(name)
            var c = m.config
            var g = try XCTUnwrap(c.gemma, "\(name) must load as Gemma")
            change(&g)
            c.gemma = g
            let changed = LlamaModel(config: c, embedding: m.embedding, lmHead: nil, blocks: m.blocks, finalNorm: m.finalNorm)
            return try FamilyParity.lastPromptDifference(changed, expected: "parity/tiny-\(name)-hf/expected.json")
        }
        XCTAssertGreaterThan(try without("gemma2") { $0.slidingLayers = [false, false] }, 1e-2, "gemma2 window")
        XCTAssertGreaterThan(try without("gemma2") { $0.attentionSoftcap = nil }, 1e-2, "gemma2 attention soft-cap")
        XCTAssertGreaterThan(try without("gemma2") { $0.finalSoftcap = nil }, 1e-2, "gemma2 final soft-cap")
        XCTAssertGreaterThan(try without("gemma2") { $0.queryPreAttnScalar = 24 }, 1e-2, "gemma2 query_pre_attn_scalar")
        XCTAssertGreaterThan(try without("gemma3") { $0.slidingLayers = [false, false, false] }, 1e-2, "gemma3 window")
        XCTAssertGreaterThan(try without("gemma3") { $0.localRopeTheta = nil }, 1e-2, "gemma3 local RoPE base")
    }

    func testGemma2LoRAGradientsMatchPEFTAutograd() throws {
        try FamilyParity.checkGradients(folder: folder("gemma2"), peft: TestModels.fixtures.appendingPathComponent("parity/tiny-gemma2-peft").path,
                                        grads: "parity/tiny-gemma2-grads.json", adapters: 14, label: "gemma2")
    }

    func testGemma3LoRAGradientsMatchPEFTAutograd() throws {
        try FamilyParity.checkGradients(folder: folder("gemma3"), peft: TestModels.fixtures.appendingPathComponent("parity/tiny-gemma3-peft").path,
                                        grads: "parity/tiny-gemma3-grads.json", adapters: 21, label: "gemma3")
    }

    /// Merged exports: the HF folder (norms written back as w, transformers' Gemma keys) and the GGUF (norms as
    /// 1 + w, llama.cpp's keys and the layer pattern as flags) load back to the adapted model's logits; a GGUF whose
    /// query scale llama.cpp would derive differently is refused before anything is written.
    func testMergedExportsLoadBackToTheAdaptedLogits() throws {
        let dir = NSTemporaryDirectory() + "gemma-merged-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func logits(_ m: LlamaModel) throws -> [Float] { try KVCache(model: m, capacity: 12).append((0..<12).map { Int32($0 * 7 % 96) }) }
        for name in ["gemma2", "gemma3"] {
            let src = try loadWeights(path: folder(name))
            let model = try LlamaModel(source: src, storage: { DenseMatrix($1) })
            try PEFTAdapter.read(folder: TestModels.fixtures.appendingPathComponent("parity/tiny-\(name)-peft").path).attach(to: model)
            let want = try logits(model)
            try MergeExport.writeHF(model: model, base: ExportBase(source: src), to: dir + "/\(name)-hf")
            let back = try LlamaModel(source: try loadWeights(path: dir + "/\(name)-hf"), storage: { DenseMatrix($1) })
            XCTAssertEqual(back.config.gemma, model.config.gemma, name)
            XCTAssertLessThanOrEqual(FamilyParity.relMaxDiff(try logits(back), want), 1e-5, "\(name) merged HF")
            // transformers' own keys as its config.json has them
            let mine = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/\(name)-hf/config.json"))) as? NSDictionary)
            let theirs = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder(name) + "/config.json"))) as? NSDictionary)
            for key in ["architectures", "model_type", "query_pre_attn_scalar", "sliding_window", "layer_types", "attn_logit_softcapping",
                        "final_logit_softcapping", "head_dim", "hidden_activation", "rope_parameters", "tie_word_embeddings"] {
                XCTAssertEqual(mine[key] as? NSObject, theirs[key] as? NSObject, "\(name) config.json \(key)")
            }
            // the tiny HF fixtures scale queries by a query_pre_attn_scalar llama.cpp would not derive
            XCTAssertThrowsError(try MergeExport.writeGGUF(model: model, base: ExportBase(source: src), to: dir + "/\(name)-bad.gguf")) { e in
                XCTAssertTrue("\(e)".contains("query_pre_attn_scalar"), "\(e)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/\(name)-bad.gguf"))
        }
        for name in ["gemma2", "gemma3"] {
            let src = try loadWeights(path: GGUFFamilyParityTests.dir(name) + "/model.gguf")
            let model = try LlamaModel(source: src, storage: { DenseMatrix($1) })
            try PEFTAdapter.read(folder: GGUFFamilyParityTests.dir(name) + "/peft").attach(to: model)
            let want = try logits(model)
            try MergeExport.writeGGUF(model: model, base: ExportBase(source: src), to: dir + "/\(name).gguf")
            let file = try GGUFFile(path: dir + "/\(name).gguf")
            XCTAssertEqual(file.string("general.architecture"), name)
            XCTAssertNotNil(file.tensor("blk.0.post_ffw_norm.weight"))
            XCTAssertEqual(file.int("\(name).attention.sliding_window"), 6, "the source GGUF's metadata is carried over")
            let back = try LlamaModel(source: try loadWeights(path: dir + "/\(name).gguf"), storage: { DenseMatrix($1) })
            XCTAssertEqual(back.config.gemma, model.config.gemma, name)
            XCTAssertLessThanOrEqual(FamilyParity.relMaxDiff(try logits(back), want), 1e-5, "\(name) merged GGUF")
        }
    }
}

/// A merged GGUF of a Gemma base that came from a Hugging Face folder writes llama.cpp's Gemma keys itself (there is
/// no source GGUF to copy): window, the layer pattern as flags, soft-caps and the local RoPE base; it loads back as
/// the same model.
final class GemmaMergedGGUFMetadataTests: XCTestCase {
    func testKeysForAnHFSourcedBase() throws {
        for (name, layers) in [("gemma2", 2), ("gemma3", 6)] {
            let src = try loadWeights(path: GGUFFamilyParityTests.dir(name) + "/model.gguf")
            var c = src.config
            c.gemma?.slidingLayers = (0..<layers).map { $0 % 3 != 2 }  // not the default pattern: only flags can say it
            let base = ExportBase(architecture: name, config: c, origin: "tiny")
            let meta = Dictionary(MergeExport.ggufMetadata(base: base, type: .f32), uniquingKeysWith: { a, _ in a })
            XCTAssertEqual(meta["\(name).attention.sliding_window"], .uint32(6))
            XCTAssertEqual(meta["\(name).attention.sliding_window_pattern"], .array(.bool, c.gemma?.slidingLayers.map { .bool($0) } ?? []))
            XCTAssertEqual(meta["\(name).attn_logit_softcapping"], name == "gemma2" ? .float32(5) : nil)
            XCTAssertEqual(meta["\(name).rope.freq_base_swa"], name == "gemma3" ? .float32(10_000) : nil)
            let model = try LlamaModel(source: src, storage: { DenseMatrix($1) })
            let changed = LlamaModel(config: c, embedding: model.embedding, lmHead: nil, blocks: model.blocks, finalNorm: model.finalNorm)
            let path = NSTemporaryDirectory() + "gemma-meta-\(UUID().uuidString).gguf"
            defer { try? FileManager.default.removeItem(atPath: path) }
            try MergeExport.writeGGUF(model: changed, base: base, to: path)
            XCTAssertEqual(try GGUFWeightSource(path: path).config.gemma, c.gemma, name)
        }
    }
}
