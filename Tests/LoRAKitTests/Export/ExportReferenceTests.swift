import Foundation
import XCTest
@testable import LoRAKit

/// loratop against the reference tools on SmolLM2 (committed fixtures; see Fixtures/export/make_export_fixtures.py
/// and make_llamacpp_fixture.py): PEFT → loratop, loratop → PEFT, the merged HF folder in transformers, and llama.cpp.
final class ExportReferenceTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }  // the same sgemm splits whatever ran before

    override func tearDown() {
        ExportSupport.detachCached()
        super.tearDown()
    }

    /// An adapter PEFT made (random nonzero A and B) loads into loratop and gives PEFT's logits.
    func testPEFTAdapterFromTransformersGivesPEFTLogits() throws {
        let model = try ExportSupport.smollm2()
        let baseDiff = try ExportSupport.maxLogitDiffIgnoringArgmax(model, fixture: "peft_logits.json")
        XCTAssertGreaterThan(baseDiff, 0.05, "the PEFT adapter must change the logits, or this test proves nothing")
        let ad = try PEFTAdapter.read(folder: ExportSupport.fixtures.appendingPathComponent("peft_from_transformers").path)
        XCTAssertEqual(Set(ad.config.targets), [.q, .v, .down])
        XCTAssertEqual(ad.modules.count, 90)
        try ad.attach(to: model)
        let worst = try ExportSupport.maxLogitDiff(model, fixture: "peft_logits.json")
        print("PEFT → loratop: max |Δlogit| = \(worst) (base vs PEFT: \(baseDiff))")
        XCTAssertLessThanOrEqual(worst, 1e-3)
    }

    /// loratop's adapter written as PEFT files is what the fixture holds, and PEFT's logits with it match loratop's.
    func testLoratopAdapterInPEFTGivesLoratopLogits() throws {
        let model = try ExportSupport.smollm2()
        let ad = try ExportSupport.fixtureAdapter(for: model)
        let committed = try PEFTAdapter.read(folder: ExportSupport.fixtures.appendingPathComponent("peft_from_loratop").path)
        XCTAssertEqual(committed.modules, ad.modules, "the committed adapter is the one regenerated in memory")
        XCTAssertEqual(committed.config, ad.config)
        try ad.attach(to: model)
        let worst = try ExportSupport.maxLogitDiff(model, fixture: "peft_from_loratop_logits.json")
        print("loratop → PEFT: max |Δlogit| = \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-3)
    }

    /// transformers' logits from loratop's merged HF folder (written by the fixture writer) match loratop's adapted model.
    func testMergedHFFolderInTransformersMatchesAdaptedLogits() throws {
        let model = try ExportSupport.smollm2()
        try ExportSupport.allTargetsAdapter(for: model).attach(to: model)
        let worst = try ExportSupport.maxLogitDiff(model, fixture: "merged_hf_logits.json")
        print("merged HF in transformers: max |Δlogit| = \(worst)")
        XCTAssertLessThanOrEqual(worst, 1e-3)
    }

    /// The merged F32 GGUF of the sample (q/k permuted back, tokenizer metadata copied) loads in loratop and gives
    /// the same logits and greedy tokens as base + adapter.
    func testMergedGGUFOfTheSampleEqualsBasePlusAdapter() throws {
        let model = try ExportSupport.smollm2()
        let path = try TestModels.smollm2Path()
        let src = try loadWeights(path: path)
        try ExportSupport.allTargetsAdapter(for: model).attach(to: model)
        let out = try ExportSupport.tempFolder("sample") + "/merged.gguf"
        defer { try? FileManager.default.removeItem(atPath: out) }
        try MergeExport.writeGGUF(model: model, base: ExportBase(source: src), to: out)
        let merged = try XCTUnwrap(try loadWeights(path: out) as? GGUFWeightSource)
        let original = try GGUFFile(path: path)
        for key in ["tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.chat_template"] {
            XCTAssertEqual(merged.file.metadata[key], original.metadata[key], key)
        }
        XCTAssertEqual(merged.file.strings("tokenizer.ggml.merges")?.count, original.strings("tokenizer.ggml.merges")?.count)
        let reloaded = try LlamaModel(source: merged)
        for ids in try ExportSupport.promptIDs() {
            // fp32 rounding of W + scale·B·A against the two products taken apart, over 30 blocks, relative to the
            // largest logit (27-38 here): 1.4e-4-1.9e-4. Measured 5.5e-5 / 9.9e-5 / 5.9e-5 with 1 thread; how sgemm
            // splits over 2 threads moves the middle one to 1.1e-4
            let reference = try ExportSupport.logits(model, ids)
            let d = ExportSupport.maxDiff(try ExportSupport.logits(reloaded, ids), reference)
            let scale = reference.map(abs).max() ?? 1
            XCTAssertLessThanOrEqual(d, 5e-6 * scale, "max |Δlogit| \(d) against max |logit| \(scale)")
        }
        let ids = try ExportSupport.promptIDs()[0]
        let a = try Generator.generate(model: model, prompt: ids, maxTokens: 12, sampling: SamplingOptions(), stop: [])
        let b = try Generator.generate(model: reloaded, prompt: ids, maxTokens: 12, sampling: SamplingOptions(), stop: [])
        XCTAssertEqual(a, b)
    }

    /// llama.cpp (llama-cpp-python, CPU) greedy tokens against loratop's. Exact for the F32 runs: loratop's GGUF
    /// adapter on the F32 base, and loratop's merged F32 GGUF, both equal loratop with the adapter attached; the
    /// base alone equals loratop's base. On the Q4_1 sample llama.cpp multiplies with 8-bit-quantized activations,
    /// so its greedy path leaves loratop's fp32 one at near-ties; those runs are reported and must show the
    /// adapter changing llama.cpp's output.
    func testLlamaCppGreedyTokensMatchLoratop() throws {
        let fx: [String: Any]
        do { fx = try ExportSupport.json("llamacpp_tokens.json") } catch {
            throw XCTSkip("llamacpp_tokens.json not made yet (needs llama-cpp-python)")
        }
        let model = try ExportSupport.smollm2()
        let runs = try XCTUnwrap(fx["prompts"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(runs.count, 3)
        var report: [String] = []
        var q4AdapterChanged = false
        func agree(_ x: [Int32], _ y: [Int32]) -> Int { zip(x, y).prefix { $0 == $1 }.count }
        for (pi, run) in runs.enumerated() {
            let ids = try XCTUnwrap(run["ids"] as? [Int]).map(Int32.init)
            let n = try XCTUnwrap(run["n"] as? Int)
            XCTAssertGreaterThanOrEqual(n, 32)
            func cpp(_ key: String) throws -> [Int32] { try XCTUnwrap(run[key] as? [Int], key).map(Int32.init) }
            if pi == 0 {  // the base run once (it costs as much as the adapted one): the prompt where the adapter matters
                ExportSupport.detach(model)
                let base = try Generator.generate(model: model, prompt: ids, maxTokens: n, sampling: SamplingOptions(), stop: [])
                XCTAssertEqual(try cpp("base_f32"), base, "prompt \(pi): llama.cpp F32 base vs loratop base")
                XCTAssertNotEqual(try cpp("adapter_f32"), base, "prompt \(pi): the adapter must change the greedy output")
                report.append("prompt 0: Q4_1 base \(agree(try cpp("base_q4"), base))/\(n), F32 base \(agree(try cpp("base_f32"), base))/\(n)")
                try ExportSupport.allTargetsAdapter(for: model).attach(to: model)
            }
            let adapted = try Generator.generate(model: model, prompt: ids, maxTokens: n, sampling: SamplingOptions(), stop: [])
            XCTAssertEqual(try cpp("adapter_f32"), adapted, "prompt \(pi): llama.cpp F32 base + loratop's GGUF adapter vs loratop with the adapter")
            XCTAssertEqual(try cpp("merged"), adapted, "prompt \(pi): llama.cpp on loratop's merged GGUF vs loratop with the adapter")
            if try cpp("adapter_q4") != cpp("base_q4") { q4AdapterChanged = true }
            report.append("prompt \(pi): Q4_1 + adapter \(agree(try cpp("adapter_q4"), adapted))/\(n), "
                          + "F32 + adapter \(agree(try cpp("adapter_f32"), adapted))/\(n), merged \(agree(try cpp("merged"), adapted))/\(n)")
        }
        XCTAssertTrue(q4AdapterChanged, "llama.cpp must apply the adapter on the Q4_1 sample too")
        print("llama.cpp vs loratop, greedy tokens equal before the first difference: " + report.joined(separator: "; "))
    }
}

/// Writes the fixtures the Python scripts need when LORATOP_WRITE_FIXTURES=1 (skipped otherwise):
/// Fixtures/export/peft_from_loratop/ (committed) and, under /tmp/loratop-export/, merged-hf/, adapter.gguf,
/// base-f32.gguf (the sample's weights as F32, no adapter) and merged.gguf (not committed; the scripts turn them into logits and token fixtures).
final class ExportFixtureWriter: XCTestCase {
    func testWriteFixtures() throws {
        guard ExportSupport.writeFixtures else { throw XCTSkip("set LORATOP_WRITE_FIXTURES=1 to rewrite the export fixtures") }
        let model = try ExportSupport.smollm2()
        defer { ExportSupport.detach(model) }
        let src = try loadWeights(path: try TestModels.smollm2Path())
        let base = ExportBase(source: src)
        let fixture = try ExportSupport.fixtureAdapter(for: model)
        let peftDir = ExportSupport.sourceFixtures.appendingPathComponent("peft_from_loratop").path
        try fixture.write(to: peftDir)
        XCTAssertEqual(try PEFTAdapter.read(folder: peftDir).modules, fixture.modules)

        let tmp = ExportSupport.scratch
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        ExportSupport.detach(model)
        try MergeExport.writeGGUF(model: model, base: base, to: tmp + "/base-f32.gguf")  // the sample dequantized, no adapter
        let all = try ExportSupport.allTargetsAdapter(for: model)
        try all.attach(to: model)
        try all.write(to: tmp + "/adapter-peft")
        try MergeExport.writeHF(model: model, base: base, to: tmp + "/merged-hf")
        try GGUFAdapter.write(all, base: base, to: tmp + "/adapter.gguf")
        try MergeExport.writeGGUF(model: model, base: base, to: tmp + "/merged.gguf")
    }
}
