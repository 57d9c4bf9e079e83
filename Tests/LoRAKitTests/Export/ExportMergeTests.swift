import Foundation
import XCTest
@testable import LoRAKit

/// Merged exports (HF folder, GGUF) load back to the adapted model; NaN/Inf, bad outputs and mismatched adapters
/// are refused with clear errors; the runner and its dtype rules.
final class ExportMergeTests: XCTestCase {
    private let ids: [Int32] = [1, 9, 33, 70, 12, 12, 95, 4, 50]

    private func adapted(_ folder: String, seed: UInt64 = 4) throws -> (LlamaModel, ExportBase, PEFTAdapter) {
        let src = try loadWeights(path: ExportSupport.tinyFolder(folder))
        let model = try LlamaModel(source: src)
        let ad = ExportSupport.adapter(for: model, config: try LoRAConfig(rank: 3, alpha: 4, targets: LoRATarget.allCases),
                                       seed: seed, bBound: 0.2)
        try ad.attach(to: model)
        return (model, ExportBase(source: src), ad)
    }

    func testMergedHFFolderReloadsToTheAdaptedModel() throws {
        for folder in ["tiny-llama-hf", "tiny-qwen2-hf"] {
            let (model, base, _) = try adapted(folder)
            let expected = try ExportSupport.logits(model, ids)
            let plain = try LlamaModel(source: try loadWeights(path: ExportSupport.tinyFolder(folder)))
            XCTAssertGreaterThan(ExportSupport.maxDiff(expected, try ExportSupport.logits(plain, ids)), 1e-2, "the adapter must matter")
            let out = try ExportSupport.tempFolder("hf") + "/merged"
            let files = try MergeExport.writeHF(model: model, base: base, to: out)
            XCTAssertEqual(files, ["config.json", "model.safetensors"])
            let src = try loadWeights(path: out)
            XCTAssertEqual(src.config, model.config, folder)
            XCTAssertEqual((src as? HFFolderWeightSource)?.architecture, folder.contains("qwen") ? "Qwen2ForCausalLM" : "LlamaForCausalLM")
            let got = try ExportSupport.logits(try LlamaModel(source: src), ids)
            XCTAssertLessThanOrEqual(ExportSupport.maxDiff(got, expected), 1e-5, folder)
            for dtype in [SafetensorsDType.f16, .bf16] {
                let out2 = out + "-" + dtype.rawValue
                try MergeExport.writeHF(model: model, base: base, to: out2, dtype: dtype)
                let st = try SafetensorsFile(path: out2 + "/model.safetensors")
                XCTAssertTrue(st.tensors.allSatisfy { $0.dtype == dtype })
                let half = try ExportSupport.logits(try LlamaModel(source: try loadWeights(path: out2)), ids)
                XCTAssertLessThanOrEqual(ExportSupport.maxDiff(half, expected), dtype == .f16 ? 2e-2 : 1e-1, "\(folder) \(dtype)")
            }
        }
    }

    func testMergedGGUFReloadsToTheAdaptedModel() throws {
        for folder in ["tiny-llama-hf", "tiny-qwen2-hf"] {
            let (model, base, _) = try adapted(folder)
            let expected = try ExportSupport.logits(model, ids)
            let dir = try ExportSupport.tempFolder("gguf")
            try MergeExport.writeGGUF(model: model, base: base, to: dir + "/m.gguf")
            let src = try XCTUnwrap(try loadWeights(path: dir + "/m.gguf") as? GGUFWeightSource)
            XCTAssertEqual(src.architecture, base.architecture)
            XCTAssertEqual(src.config, model.config)
            XCTAssertEqual(src.file.int("general.file_type"), 0)
            let got = try ExportSupport.logits(try LlamaModel(source: src), ids)
            XCTAssertLessThanOrEqual(ExportSupport.maxDiff(got, expected), 1e-5, folder)
            try MergeExport.writeGGUF(model: model, base: base, to: dir + "/h.gguf", type: .f16)
            let h = try GGUFFile(path: dir + "/h.gguf")
            XCTAssertEqual(h.tensor("blk.0.attn_q.weight")?.type, .f16)
            XCTAssertEqual(h.tensor("blk.0.attn_norm.weight")?.type, .f32, "vectors stay f32")
            let half = try ExportSupport.logits(try LlamaModel(source: try loadWeights(path: dir + "/h.gguf")), ids)
            XCTAssertLessThanOrEqual(ExportSupport.maxDiff(half, expected), 2e-2)
            // The tiny models' 48-wide MLP cannot be Q8_0 (blocks of 32): refused before anything is written.
            XCTAssertThrowsError(try MergeExport.writeGGUF(model: model, base: base, to: dir + "/q.gguf", type: .q8_0)) { e in
                XCTAssertTrue("\(e)".contains("multiple of 32"), "\(e)")
            }
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/q.gguf"))
        }
    }

    func testMergeRefusesNonFiniteWeightsAndLeavesNoFile() throws {
        let (model, base, _) = try adapted("tiny-llama-hf")
        let lin = model.blocks[1].up
        lin.adapter?.b.value[7] = .infinity
        let dir = try ExportSupport.tempFolder("nan")
        XCTAssertThrowsError(try MergeExport.writeHF(model: model, base: base, to: dir + "/hf")) { e in
            XCTAssertTrue("\(e)".contains("model.layers.1.mlp.up_proj") && "\(e)".contains("non-finite"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/hf/model.safetensors"))
        lin.adapter?.b.value[7] = .nan
        XCTAssertThrowsError(try MergeExport.writeGGUF(model: model, base: base, to: dir + "/m.gguf"))
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/m.gguf"))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir + "/hf"), [], "no temp files left behind")
    }

    func testUnwritableOutputIsAClearError() throws {
        let (model, base, ad) = try adapted("tiny-llama-hf")
        let dir = try ExportSupport.tempFolder("unwritable")
        let blocker = dir + "/a-file"
        try AtomicFile.write([1, 2, 3], to: blocker)
        XCTAssertThrowsError(try MergeExport.writeHF(model: model, base: base, to: blocker + "/out")) { e in
            XCTAssertTrue(e is ExportError && "\(e)".contains("cannot create the output folder"), "\(e)")
        }
        XCTAssertThrowsError(try ExportRunner.export(model: model, adapter: ad, base: base, format: .ggufAdapter, out: blocker + "/x/a.gguf")) { e in
            XCTAssertTrue("\(e)".contains("writable --out"), "\(e)")
        }
    }

    func testRunnerExportsEveryFormatFromFiles() throws {
        let (model, _, ad) = try adapted("tiny-llama-hf", seed: 8)
        let dir = try ExportSupport.tempFolder("runner")
        try ad.write(to: dir + "/adapter")
        let modelPath = ExportSupport.tinyFolder("tiny-llama-hf")
        let expected = try ExportSupport.logits(model, ids)

        let p = try ExportRunner.run(model: modelPath, adapterFolder: dir + "/adapter", format: .peft, out: dir + "/peft")
        XCTAssertEqual(p.modules, ad.modules.count)
        XCTAssertEqual(try PEFTAdapter.read(folder: dir + "/peft").modules, ad.modules)

        _ = try ExportRunner.run(model: modelPath, adapterFolder: dir + "/adapter", format: .ggufAdapter, out: dir + "/a.gguf", dtype: .f16)
        XCTAssertEqual(try GGUFFile(path: dir + "/a.gguf").tensor("blk.0.attn_q.weight.lora_a")?.type, .f16)

        let hf = try ExportRunner.run(model: modelPath, adapterFolder: dir + "/adapter", format: .mergedHF, out: dir + "/hf")
        XCTAssertTrue(hf.notes.contains { $0.contains("tokenizer.json") })
        XCTAssertLessThanOrEqual(ExportSupport.maxDiff(try ExportSupport.logits(try LlamaModel(source: try loadWeights(path: dir + "/hf")), ids), expected), 1e-5)

        let g = try ExportRunner.run(model: modelPath, adapterFolder: dir + "/adapter", format: .mergedGGUF, out: dir + "/m.gguf")
        XCTAssertTrue(g.notes.contains { $0.contains("tokenizer metadata") })
        XCTAssertLessThanOrEqual(ExportSupport.maxDiff(try ExportSupport.logits(try LlamaModel(source: try loadWeights(path: dir + "/m.gguf")), ids), expected), 1e-5)
    }

    func testRunnerErrorsNameTheProblem() throws {
        let (_, _, ad) = try adapted("tiny-llama-hf")
        let dir = try ExportSupport.tempFolder("errors")
        try ad.write(to: dir + "/adapter")
        XCTAssertThrowsError(try ExportRunner.run(model: ExportSupport.tinyFolder("tiny-llama-hf"), adapterFolder: dir + "/nope",
                                                  format: .peft, out: dir + "/o")) { e in
            XCTAssertTrue("\(e)".contains("no such adapter folder") && "\(e)".contains(dir + "/nope"), "\(e)")
        }
        // An adapter made for the tiny LLaMA (width 32) on a model of width 64: same module names, other shapes.
        let other = try LlamaModel(random: ModelConfig(layers: 2, dim: 64, heads: 4, kvHeads: 2, ffnDim: 96, vocab: 96), seed: 1)
        XCTAssertThrowsError(try ExportRunner.attach(ad, adapterPath: dir + "/adapter", to: other, modelPath: "random")) { e in
            XCTAssertTrue("\(e)".contains("does not fit the model") && "\(e)".contains("hint"), "\(e)")
        }
        XCTAssertThrowsError(try ExportRunner.checkDType(.q8_0, for: .mergedHF)) { e in
            XCTAssertTrue("\(e)".contains("f32, f16, bf16"), "\(e)")
        }
        XCTAssertThrowsError(try ExportRunner.checkDType(.bf16, for: .mergedGGUF))
        XCTAssertThrowsError(try ExportRunner.checkDType(.f16, for: .peft))
        XCTAssertNoThrow(try ExportRunner.checkDType(.q8_0, for: .mergedGGUF))
    }

    func testHFConfigJSONDecodesToTheSameShape() throws {
        let base = ExportBase(architecture: "llama", config: ModelConfig(), origin: "x")
        let json = try MergeExport.hfConfigJSON(base: base, dtype: .f32)
        let obj = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        XCTAssertEqual(obj["architectures"] as? [String], ["LlamaForCausalLM"])
        XCTAssertEqual(obj["model_type"] as? String, "llama")
        XCTAssertEqual(try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8)), ModelConfig())
    }
}
