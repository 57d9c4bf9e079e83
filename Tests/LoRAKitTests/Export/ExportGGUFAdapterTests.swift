import Foundation
import XCTest
@testable import LoRAKit

/// llama.cpp LoRA adapter GGUF: metadata and tensor layout as llama-adapter.cpp reads them, rsLoRA as alpha·√r,
/// q/k lora_b rows permuted like the base rows, and a lossless round trip.
final class ExportGGUFAdapterTests: XCTestCase {
    private func tinyLlama() throws -> (LlamaModel, ExportBase) {
        let src = try loadWeights(path: ExportSupport.tinyFolder("tiny-llama-hf"))
        return (try LlamaModel(source: src), ExportBase(source: src))
    }

    func testMetadataAndTensorLayoutMatchLlamaCpp() throws {
        let (model, base) = try tinyLlama()
        let cfg = try LoRAConfig(rank: 3, alpha: 6, targets: [.q, .v, .down], useRSLoRA: true)
        let ad = ExportSupport.adapter(for: model, config: cfg, seed: 5, bBound: 0.1)
        let path = try ExportSupport.tempFolder("meta") + "/a.gguf"
        try GGUFAdapter.write(ad, base: base, to: path)
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.string("general.type"), "adapter")
        XCTAssertEqual(f.string("general.architecture"), "llama")
        XCTAssertEqual(f.string("adapter.type"), "lora")
        guard case let .float32(alpha)? = f.metadata["adapter.lora.alpha"] else { return XCTFail("adapter.lora.alpha is not f32") }
        XCTAssertEqual(alpha / 3, cfg.scale, accuracy: 1e-6, "llama.cpp's alpha / r must equal the rsLoRA scale alpha / √r")
        XCTAssertEqual(f.tensors.count, 2 * 3 * model.config.layers)
        for m in ad.modules {
            let stem = try XCTUnwrap(GGUFAdapter.baseTensorName(module: m.name))
            let a = try XCTUnwrap(f.tensor(stem + ".lora_a"), stem)
            let b = try XCTUnwrap(f.tensor(stem + ".lora_b"), stem)
            XCTAssertEqual(a.dims, [m.inFeatures, 3], "lora_a ggml dims [n_in, r]")
            XCTAssertEqual(b.dims, [3, m.outFeatures], "lora_b ggml dims [r, n_out]")
            XCTAssertEqual(a.type, .f32)
            XCTAssertEqual(try f.floats(a.name), m.a, "lora_a holds A's bytes unchanged")
        }
        XCTAssertNotNil(f.tensor("blk.1.attn_q.weight.lora_b"))
        XCTAssertNotNil(f.tensor("blk.0.ffn_down.weight.lora_a"))
    }

    func testRoundTripRestoresPEFTLayoutAndScale() throws {
        let (model, base) = try tinyLlama()
        let cfg = try LoRAConfig(rank: 2, alpha: 5, targets: LoRATarget.allCases, useRSLoRA: true)
        let ad = ExportSupport.adapter(for: model, config: cfg, seed: 9, bBound: 0.2)
        let dir = try ExportSupport.tempFolder("rt")
        for type in [GGMLType.f32, .f16] {
            let path = dir + "/a-\(type.name).gguf"
            try GGUFAdapter.write(ad, base: base, to: path, type: type)
            let back = try GGUFAdapter.read(path: path, base: base)
            XCTAssertEqual(back.modules.map(\.name), ad.modules.map(\.name))
            XCTAssertEqual(back.config.scale, cfg.scale, accuracy: 1e-6)
            XCTAssertEqual(back.config.targets, LoRATarget.allCases)
            var worst: Float = 0
            for (x, y) in zip(back.modules, ad.modules) {
                XCTAssertEqual([x.rank, x.inFeatures, x.outFeatures], [y.rank, y.inFeatures, y.outFeatures])
                worst = max(worst, ExportSupport.maxDiff(x.a, y.a), ExportSupport.maxDiff(x.b, y.b))
            }
            XCTAssertLessThanOrEqual(worst, type == .f32 ? 0 : 2e-4, type.name)
        }
    }

    /// What llama.cpp computes, W_gguf + (alpha/r)·B_gguf·A with the stored (permuted) base rows, must equal the
    /// merged model's q/k rows in GGUF order.
    func testPermutedLoraBMatchesPermutedBaseRows() throws {
        let (model, base) = try tinyLlama()
        let cfg = try LoRAConfig(rank: 2, alpha: 3, targets: [.q, .k])
        let ad = ExportSupport.adapter(for: model, config: cfg, seed: 3, bBound: 0.3)
        let dir = try ExportSupport.tempFolder("perm")
        try MergeExport.writeGGUF(model: model, base: base, to: dir + "/base.gguf")  // no adapter yet: the GGUF base
        try ad.attach(to: model)
        try MergeExport.writeGGUF(model: model, base: base, to: dir + "/merged.gguf")
        try GGUFAdapter.write(ad, base: base, to: dir + "/a.gguf")
        let baseFile = try GGUFFile(path: dir + "/base.gguf"), merged = try GGUFFile(path: dir + "/merged.gguf")
        let lora = try GGUFFile(path: dir + "/a.gguf")
        let alpha = try XCTUnwrap(lora.float("adapter.lora.alpha"))
        var checked = 0
        for layer in 0..<model.config.layers {
            for kind in ["attn_q", "attn_k"] {
                let name = "blk.\(layer).\(kind).weight"
                let w = try baseFile.matrix(name)  // raw GGUF rows, no un-permutation
                var expect = w.dequantizedArray()
                let a = try lora.floats(name + ".lora_a"), b = try lora.floats(name + ".lora_b")
                let r = cfg.rank, O = w.rows, I = w.cols
                for o in 0..<O { for i in 0..<I {
                    var s: Float = 0
                    for k in 0..<r { s += b[o * r + k] * a[k * I + i] }
                    expect[o * I + i] += alpha / Float(r) * s
                } }
                let got = try merged.floats(name)
                XCTAssertLessThanOrEqual(ExportSupport.maxDiff(got, expect), 1e-5, name)
                XCTAssertGreaterThan(ExportSupport.maxDiff(got, w.dequantizedArray()), 1e-3, "\(name): the adapter must change the rows")
                checked += 1
            }
        }
        XCTAssertEqual(checked, 2 * model.config.layers)
        // And the un-permuted reading gives the HF layout back: the merged GGUF loads to the adapted model.
        let reread = try LlamaModel(source: try loadWeights(path: dir + "/merged.gguf"))
        let ids: [Int32] = [3, 17, 40, 2, 88, 5, 61]
        XCTAssertLessThanOrEqual(ExportSupport.maxDiff(try ExportSupport.logits(reread, ids), try ExportSupport.logits(model, ids)), 1e-5)
    }

    func testQwen2AdapterIsNotPermuted() throws {
        let src = try loadWeights(path: ExportSupport.tinyFolder("tiny-qwen2-hf"))
        let model = try LlamaModel(source: src), base = ExportBase(source: src)
        XCTAssertEqual(base.architecture, "qwen2")
        let ad = ExportSupport.adapter(for: model, config: try LoRAConfig(rank: 2, alpha: 2, targets: [.q]), seed: 1, bBound: 0.1)
        let path = try ExportSupport.tempFolder("qwen") + "/a.gguf"
        try GGUFAdapter.write(ad, base: base, to: path)
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.string("general.architecture"), "qwen2")
        XCTAssertEqual(try f.floats("blk.0.attn_q.weight.lora_b"), ad.modules[0].b)
    }

    func testReadRejectsAnotherArchitectureAndNonAdapters() throws {
        let (model, base) = try tinyLlama()
        let ad = ExportSupport.adapter(for: model, config: try LoRAConfig(rank: 2, alpha: 2, targets: [.v]), seed: 1, bBound: 0.1)
        let dir = try ExportSupport.tempFolder("rej")
        try GGUFAdapter.write(ad, base: base, to: dir + "/a.gguf")
        var other = base
        other.architecture = "qwen2"
        XCTAssertThrowsError(try GGUFAdapter.read(path: dir + "/a.gguf", base: other)) { e in
            XCTAssertTrue("\(e)".contains("general.architecture"), "\(e)")
        }
        try MergeExport.writeGGUF(model: model, base: base, to: dir + "/m.gguf")
        XCTAssertThrowsError(try GGUFAdapter.read(path: dir + "/m.gguf", base: base)) { e in
            XCTAssertTrue("\(e)".contains("not a llama.cpp LoRA adapter"), "\(e)")
        }
        XCTAssertThrowsError(try GGUFAdapter.write(ad, base: base, to: dir + "/q.gguf", type: .q8_0))
    }
}
