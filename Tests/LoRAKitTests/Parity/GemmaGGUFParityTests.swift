import Foundation
import XCTest
@testable import LoRAKit

/// Gemma 2, Gemma 3 and Phi-3 (fused attn_qkv and ffn_up) GGUF files made by llama.cpp's own converter (Fixtures/parity/make_gemma_gguf_fixture.py): the
/// settings read from the metadata, transformers' logits and greedy continuations from the GGUF alone, PEFT's greedy
/// continuations with the PEFT adapter, and llama.cpp's greedy continuations with loratop's GGUF adapter export of it
/// (committed; a fresh export must be the same bytes).
final class GemmaGGUFParityTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    static func dir(_ name: String) -> String { TestModels.fixtures.appendingPathComponent("parity/tiny-\(name)-gguf").path }

    private func load(_ name: String) throws -> (LlamaModel, WeightSource) {
        let src = try loadWeights(path: Self.dir(name) + "/model.gguf")
        return (try LlamaModel(source: src, storage: { DenseMatrix($1) }), src)
    }

    func testSettingsComeFromTheMetadataAsLlamaCppReadsThem() throws {
        let (g2, _) = try load("gemma2"), (g3, _) = try load("gemma3")
        XCTAssertEqual(g2.config.gemma, GemmaConfig(version: 2, queryPreAttnScalar: 24, attentionSoftcap: 5, finalSoftcap: 8,
                                                    slidingWindow: 6, slidingLayers: [true, false]))
        XCTAssertEqual(g3.config.gemma, GemmaConfig(version: 3, queryPreAttnScalar: 16, slidingWindow: 6,
                                                    slidingLayers: [true, true, true, true, true, false], localRopeTheta: 10_000))
        XCTAssertEqual(g3.config.ropeTheta, 1_000_000)
        XCTAssertTrue(g3.config.qkNorm)
        XCTAssertTrue(g2.config.tiedEmbeddings)
        let (phi, _) = try load("phi3")
        XCTAssertTrue(phi.config.fusedProjections)
        XCTAssertNil(phi.config.slidingWindow)
        XCTAssertEqual(phi.blocks[0].q.outFeatures, 64 + 2 * 2 * 16)
    }

    func testLogitsAndGreedyMatchTransformers() throws {
        for name in ["gemma2", "gemma3", "phi3"] {
            let (model, _) = try load(name)
            let worst = try FamilyParity.checkPrompts(model, expected: "parity/tiny-\(name)-gguf/expected.json", greedy: true)
            print("\(name) GGUF (llama.cpp's converter): worst |Δlogit| / max |logit| vs transformers \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-4, name)
        }
    }

    /// The PEFT adapter gives PEFT's greedy continuations on the GGUF base; its llama.cpp export (byte-identical to
    /// the committed file llama.cpp ran) gives llama.cpp's, and llama.cpp's base continuations are transformers'.
    func testAdapterGreedyMatchesPEFTAndLlamaCpp() throws {
        for name in ["gemma2", "gemma3", "phi3"] {
            let (model, src) = try load(name)
            let adapter = try PEFTAdapter.read(folder: Self.dir(name) + "/peft")
            let tmp = NSTemporaryDirectory() + "gemma-adapter-\(UUID().uuidString).gguf"
            defer { try? FileManager.default.removeItem(atPath: tmp) }
            try GGUFAdapter.write(adapter, base: ExportBase(source: src), to: tmp)
            XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: tmp)),
                           try Data(contentsOf: URL(fileURLWithPath: Self.dir(name) + "/loratop-adapter.gguf")),
                           "\(name): the export is the committed file llama.cpp ran")
            try GGUFAdapter.read(path: tmp, base: ExportBase(source: src)).attach(to: model)
            let expected = try XCTUnwrap(try TestModels.json("parity/tiny-\(name)-gguf/expected.json")["prompts"] as? [[String: Any]])
            let llama = try XCTUnwrap(try TestModels.json("parity/tiny-\(name)-gguf/llamacpp.json")["prompts"] as? [[String: Any]])
            XCTAssertEqual(expected.count, llama.count)
            for (e, l) in zip(expected, llama) {
                let ids = try XCTUnwrap(e["ids"] as? [Int]).map(Int32.init)
                XCTAssertEqual(l["base"] as? [Int], e["greedy"] as? [Int], "\(name): llama.cpp's base tokens are transformers'")
                XCTAssertNotEqual(e["greedy"] as? [Int], e["peft_greedy"] as? [Int], "\(name): the adapter must change the tokens")
                let cont = try Generator.generate(model: model, prompt: ids, maxTokens: 24, sampling: SamplingOptions(), stop: [])
                XCTAssertEqual(cont.map(Int.init), try XCTUnwrap(e["peft_greedy"] as? [Int]), "\(name): PEFT's greedy tokens")
                XCTAssertEqual(cont.map(Int.init), try XCTUnwrap(l["adapter"] as? [Int]), "\(name): llama.cpp's greedy tokens with the adapter")
            }
        }
    }
}

/// Writes tiny-NAME-gguf/loratop-adapter.gguf (committed) when LORATOP_WRITE_FIXTURES=1: the PEFT adapter of each Gemma
/// GGUF fixture exported as a llama.cpp LoRA adapter, for make_gemma_gguf_fixture.py's llama.cpp step.
final class GemmaGGUFFixtureWriter: XCTestCase {
    func testWriteFixtures() throws {
        guard ProcessInfo.processInfo.environment["LORATOP_WRITE_FIXTURES"] == "1" else {
            throw XCTSkip("set LORATOP_WRITE_FIXTURES=1 to rewrite the Gemma GGUF adapter fixtures")
        }
        for name in ["gemma2", "gemma3", "phi3"] {
            let dir = TestModels.sourceFixtures.appendingPathComponent("parity/tiny-\(name)-gguf").path
            let src = try loadWeights(path: dir + "/model.gguf")
            try GGUFAdapter.write(try PEFTAdapter.read(folder: dir + "/peft"), base: ExportBase(source: src), to: dir + "/loratop-adapter.gguf")
        }
    }
}
