import Foundation
import XCTest
@testable import LoRAKit

/// Gemma 2, Gemma 3, Phi-3 (fused attn_qkv and ffn_up), Llama 3.x (rope_freqs) and Qwen3 GGUF files made by llama.cpp's own
/// converter (Fixtures/parity/make_gguf_fixtures.py): the
/// settings read from the metadata, transformers' logits and greedy continuations from the GGUF alone, PEFT's greedy
/// continuations with the PEFT adapter, and llama.cpp's greedy continuations with loratop's GGUF adapter export of it
/// (committed; a fresh export must be the same bytes).
final class GGUFFamilyParityTests: XCTestCase {
    static let families = ["gemma2", "gemma3", "phi3", "llama3", "qwen3"]

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
        // Llama 3's scaling as the converter writes it: a divisor per frequency (factor 8, original context 32, head 16:
        // the first pair kept, the second blended, the rest stretched by 8)
        let (llama, _) = try load("llama3")
        guard case .divisors(let divisors)? = llama.config.ropeScaling else {
            return XCTFail("llama3: expected rope_freqs.weight's divisors, got \(String(describing: llama.config.ropeScaling))")
        }
        XCTAssertEqual(divisors.count, 8)
        XCTAssertEqual(divisors[0], 1)
        XCTAssertGreaterThan(divisors[1], 1)
        XCTAssertLessThan(divisors[1], 8)
        XCTAssertEqual(Array(divisors[2...]), Array(repeating: 8, count: 6))
        XCTAssertTrue(llama.config.tiedEmbeddings)
        let (qwen, _) = try load("qwen3")
        XCTAssertTrue(qwen.config.qkNorm)
        XCTAssertFalse(qwen.config.attentionBias)
        XCTAssertEqual(qwen.config.headDim, 24)
    }

    func testLogitsAndGreedyMatchTransformers() throws {
        for name in Self.families {
            let (model, _) = try load(name)
            let worst = try FamilyParity.checkPrompts(model, expected: "parity/tiny-\(name)-gguf/expected.json", greedy: true)
            print("\(name) GGUF (llama.cpp's converter): worst |Δlogit| / max |logit| vs transformers \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-4, name)
        }
    }

    /// The PEFT adapter gives PEFT's greedy continuations on the GGUF base; its llama.cpp export (byte-identical to
    /// the committed file llama.cpp ran) gives llama.cpp's, and llama.cpp's base continuations are transformers'.
    func testAdapterGreedyMatchesPEFTAndLlamaCpp() throws {
        for name in Self.families {
            let (model, src) = try load(name)
            let adapter = try PEFTAdapter.read(folder: Self.dir(name) + "/peft")
            let tmp = NSTemporaryDirectory() + "family-adapter-\(UUID().uuidString).gguf"
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

/// Writes tiny-NAME-gguf/loratop-adapter.gguf (committed) when LORATOP_WRITE_FIXTURES=1: the PEFT adapter of each GGUF
/// fixture exported as a llama.cpp LoRA adapter, for make_gguf_fixtures.py's llama.cpp step.
final class GGUFFamilyFixtureWriter: XCTestCase {
    func testWriteFixtures() throws {
        guard ProcessInfo.processInfo.environment["LORATOP_WRITE_FIXTURES"] == "1" else {
            throw XCTSkip("set LORATOP_WRITE_FIXTURES=1 to rewrite the GGUF adapter fixtures")
        }
        for name in GGUFFamilyParityTests.families {
            let dir = TestModels.sourceFixtures.appendingPathComponent("parity/tiny-\(name)-gguf").path
            let src = try loadWeights(path: dir + "/model.gguf")
            try GGUFAdapter.write(try PEFTAdapter.read(folder: dir + "/peft"), base: ExportBase(source: src), to: dir + "/loratop-adapter.gguf")
        }
    }
}
