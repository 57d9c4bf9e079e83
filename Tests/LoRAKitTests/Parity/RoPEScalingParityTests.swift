import Foundation
import XCTest
@testable import LoRAKit

/// RoPE scaling (Llama 3.x's `llama3`, `linear` and dynamic NTK): tiny folders written by transformers give its logits at every
/// position of three prompts and its greedy continuations (Fixtures/parity/make_rope_scaling_fixture.py); the
/// merged GGUF export carries the scaling to a GGUF that loads to the same logits; config errors name the key.
final class RoPEScalingParityTests: XCTestCase {
    private func folder(_ name: String) -> String { TestModels.fixtures.appendingPathComponent("parity/" + name).path }

    /// Worst |Δlogit| / largest |logit| over every position of every prompt, with argmax checks.
    private func worst(_ model: LlamaModel, _ name: String, argmax: Bool = true, file: StaticString = #filePath,
                       line: UInt = #line) throws -> Float {
        let fx = try TestModels.json("parity/\(name)/expected.json")
        let prompts = try XCTUnwrap(fx["prompts"] as? [[String: Any]])
        XCTAssertEqual(prompts.count, 3)
        let V = model.config.vocab
        var worst: Float = 0
        for (pi, p) in prompts.enumerated() {
            let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
            let expected = try XCTUnwrap(p["logits"] as? [Double]).map(Float.init)
            let got = try KVCache(model: model, capacity: ids.count).append(ids)
            XCTAssertEqual(got.count, expected.count, file: file, line: line)
            let top = expected.map(abs).max() ?? 1
            for i in got.indices { worst = max(worst, abs(got[i] - expected[i]) / top) }
            for t in 0..<ids.count where argmax {
                XCTAssertEqual(Sampler.argmax(Array(got[(t * V)..<((t + 1) * V)])), Sampler.argmax(Array(expected[(t * V)..<((t + 1) * V)])),
                               "\(name) prompt \(pi) position \(t)", file: file, line: line)
            }
        }
        return worst
    }

    private func greedy(_ model: LlamaModel, _ name: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let fx = try TestModels.json("parity/\(name)/expected.json")
        for (pi, p) in try XCTUnwrap(fx["prompts"] as? [[String: Any]]).enumerated() {
            let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
            let want = try XCTUnwrap(p["greedy"] as? [Int]).map(Int32.init)
            XCTAssertEqual(want.count, 24)
            let got = try Generator.generate(model: model, prompt: ids, maxTokens: 24, sampling: SamplingOptions(), stop: [])
            XCTAssertEqual(got, want, "\(name) prompt \(pi): greedy continuation", file: file, line: line)
        }
    }

    /// A folder's scaling and head tying as config.json says, its logits within 1e-4 of the largest and its greedy
    /// continuations.
    private func checkFolder(_ name: String, scaling: RoPEScaling, tied: Bool, file: StaticString = #filePath, line: UInt = #line) throws {
        let model = try LlamaModel(source: try loadWeights(path: folder(name)), storage: { DenseMatrix($1) })
        XCTAssertEqual(model.config.ropeScaling, scaling, file: file, line: line)
        XCTAssertEqual(model.config.tiedEmbeddings, tied, file: file, line: line)
        let w = try worst(model, name, file: file, line: line)
        print("rope scaling \(name): worst |Δlogit| / max |logit| vs transformers \(w)")
        XCTAssertLessThanOrEqual(w, 1e-4, file: file, line: line)
        try greedy(model, name, file: file, line: line)
    }

    func testLlama3ScalingMatchesTransformers() throws {
        try checkFolder("tiny-llama3-hf", scaling: .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 32),
                        tied: true)
        try FamilyParity.checkGradients(folder: folder("tiny-llama3-hf"), peft: folder("tiny-llama3-peft"),
                                        grads: "parity/tiny-llama3-grads.json", adapters: 14, label: "llama3 RoPE")
    }

    func testLinearScalingMatchesTransformers() throws {
        try checkFolder("tiny-llama-linear-hf", scaling: .linear(factor: 4), tied: false)
    }

    /// Dynamic NTK (max_position_embeddings 12): prompts inside and past the context, greedy continuations whose every
    /// token leaves it (each new position with its own length's frequencies, as transformers generates), and the LoRA
    /// gradients of a 16-position batch against PEFT + autograd.
    func testDynamicScalingMatchesTransformers() throws {
        try checkFolder("tiny-llama-dynamic-hf", scaling: .dynamic(factor: 4, originalContext: 12), tied: false)
        try FamilyParity.checkGradients(folder: folder("tiny-llama-dynamic-hf"), peft: folder("tiny-llama-dynamic-peft"),
                                        grads: "parity/tiny-llama-dynamic-grads.json", adapters: 14, label: "dynamic RoPE")
    }

    /// Up to its context dynamic NTK is plain RoPE; past it, a forward over 0..<L has the grown base
    /// θ·(f·L/ctx − (f − 1))^(hd/(hd−2)) at every position, the table of a forward's own positions.
    func testDynamicFrequenciesFollowTheForwardLength() throws {
        let s = RoPEScaling.dynamic(factor: 4, originalContext: 12)
        let plain = RoPEScaling.inverseFrequencies(headDim: 16, theta: 10_000, scaling: nil)
        XCTAssertEqual(RoPEScaling.inverseFrequencies(headDim: 16, theta: 10_000, scaling: s, length: 12), plain)
        let grown = RoPEScaling.inverseFrequencies(headDim: 16, theta: 10_000, scaling: s, length: 20)
        let theta = 10_000 * pow(4 * 20 / 12 - 3, 16 / 14.0)
        for i in 0..<8 { XCTAssertEqual(Double(grown[i]), 1 / pow(theta, Double(2 * i) / 16), accuracy: Double(plain[i]) * 1e-5) }
        XCTAssertLessThan(grown[7], plain[7])
        let table = RoPETable(headDim: 16, theta: 10_000, length: 32, scaling: s)
        XCTAssertTrue(table.frames(for: 0..<12) === table, "inside the context: the shared table")
        let step = table.frames(for: 19..<20)
        XCTAssertEqual(step.first, 19)
        XCTAssertEqual(step.length, 1)
        XCTAssertEqual(step.cosTable[7], Float(cos(Double(Float(19) * grown[7]))), accuracy: 1e-6)
    }

    /// llama.cpp has no dynamic NTK: a merged GGUF of such a base is refused before anything is written; the HF folder
    /// export keeps the type (and transformers' context, max_position_embeddings).
    func testDynamicExports() throws {
        let src = try loadWeights(path: folder("tiny-llama-dynamic-hf"))
        let model = try LlamaModel(source: src, storage: { DenseMatrix($1) })
        let dir = NSTemporaryDirectory() + "rope-dyn-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try MergeExport.writeGGUF(model: model, base: ExportBase(source: src), to: dir + "/m.gguf")) { e in
            XCTAssertTrue("\(e)".contains("dynamic NTK"), "\(e)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/m.gguf"))
        try MergeExport.writeHF(model: model, base: ExportBase(source: src), to: dir + "/hf")
        let back = try LlamaModel(source: try loadWeights(path: dir + "/hf"), storage: { DenseMatrix($1) })
        XCTAssertEqual(back.config.ropeScaling, .dynamic(factor: 4, originalContext: 12))
        XCTAssertLessThanOrEqual(try worst(back, "tiny-llama-dynamic-hf"), 1e-4)
    }

    /// The fixtures test the scaling: without it the same weights are far from transformers' logits.
    func testTheFixturesDependOnTheScaling() throws {
        for name in ["tiny-llama3-hf", "tiny-llama-linear-hf", "tiny-llama-dynamic-hf"] {
            let src = try loadWeights(path: folder(name))
            let scaled = try LlamaModel(source: src, storage: { DenseMatrix($1) })
            var plain = scaled.config
            plain.ropeScaling = nil
            let model = LlamaModel(config: plain, embedding: scaled.embedding, lmHead: scaled.config.tiedEmbeddings ? nil : scaled.lmHead,
                                   blocks: scaled.blocks, finalNorm: scaled.finalNorm)
            XCTAssertGreaterThan(try worst(model, name, argmax: false), 1e-2, name)
        }
    }

    /// The llama3 band rule on its own: kept above the high-frequency wavelength, divided below the low one, blended
    /// between (transformers' _compute_llama3_parameters).
    func testLlama3BandsAndDivisors() throws {
        let s = RoPEScaling.llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 32)
        let base = RoPEScaling.inverseFrequencies(headDim: 16, theta: 10_000, scaling: nil)
        let scaled = s.apply(base)
        XCTAssertEqual(scaled[0], base[0], "wavelength 6.3 < 8: kept")
        XCTAssertEqual(scaled[2], base[2] / 8, "wavelength 62.8 > 32: stretched")
        let smooth = (32 / (2 * Float.pi / base[1]) - 1) / 3
        XCTAssertEqual(scaled[1], (1 - smooth) * base[1] / 8 + smooth * base[1], accuracy: 1e-7)
        let d = try XCTUnwrap(s.divisors(headDim: 16, theta: 10_000))
        for i in 0..<8 { XCTAssertEqual(base[i] / d[i], scaled[i], accuracy: scaled[i] * 1e-6) }
        XCTAssertNil(RoPEScaling.linear(factor: 2).divisors(headDim: 16, theta: 10_000), "linear goes in metadata")
    }

    /// The merged GGUF export writes the scaling as llama.cpp does (rope_freqs.weight for llama3, rope.scaling.* for
    /// linear), and the GGUF loads back to the same logits; an HF export of a rope_freqs base says the llama3
    /// parameters that give its divisors, and is refused before writing when none do.
    func testMergedGGUFCarriesTheScaling() throws {
        for name in ["tiny-llama3-hf", "tiny-llama-linear-hf"] {
            let src = try loadWeights(path: folder(name))
            let model = try LlamaModel(source: src, storage: { DenseMatrix($1) })
            let dir = NSTemporaryDirectory() + "rope-\(UUID().uuidString)"
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try MergeExport.writeGGUF(model: model, base: ExportBase(source: src), to: dir + "/m.gguf")
            let gguf = try loadWeights(path: dir + "/m.gguf")
            let back = try LlamaModel(source: gguf, storage: { DenseMatrix($1) })
            if name == "tiny-llama3-hf" {
                guard case .divisors(let d)? = back.config.ropeScaling else { return XCTFail("expected rope_freqs divisors, found \(String(describing: back.config.ropeScaling))") }
                XCTAssertEqual(d.count, 8)
                // the HF export of the GGUF says the llama3 parameters the divisors came from, and loads back the same
                try MergeExport.writeHF(model: back, base: ExportBase(source: gguf), to: dir + "/hf")
                let hf = try LlamaModel(source: try loadWeights(path: dir + "/hf"), storage: { DenseMatrix($1) })
                XCTAssertEqual(hf.config.ropeScaling, .llama3(factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 32))
                XCTAssertLessThanOrEqual(try worst(hf, name), 1e-4, "HF export of the GGUF")
                // divisors no Llama 3 parameters give are refused before anything is written
                var odd = back.config
                odd.ropeScaling = .divisors(d.enumerated().map { $0.offset == 1 ? $0.element * 1.5 : $0.element })
                let oddModel = LlamaModel(config: odd, embedding: back.embedding, lmHead: nil, blocks: back.blocks, finalNorm: back.finalNorm)
                XCTAssertThrowsError(try MergeExport.writeHF(model: oddModel, base: ExportBase(architecture: "llama", config: odd, origin: "odd"),
                                                             to: dir + "/odd")) { e in
                    XCTAssertTrue("\(e)".contains("no Llama 3 parameters"), "\(e)")
                }
                XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/odd/model.safetensors"), "nothing written")
            } else {
                XCTAssertEqual(back.config.ropeScaling, .linear(factor: 4))
            }
            XCTAssertLessThanOrEqual(try worst(back, name), 1e-4, name)
        }
    }

    /// transformers 4's spelling (rope_scaling beside rope_theta) reads the same; unsupported types and bad values are
    /// refused naming the key.
    func testConfigSpellingsAndErrors() throws {
        func decode(_ extra: String) throws -> ModelConfig {
            let json = #"{"hidden_size": 64, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 96, "vocab_size": 96, "rope_theta": 500000.0, "# + extra + "}"
            return try JSONDecoder().decode(ModelConfig.self, from: Data(json.utf8))
        }
        let old = try decode(#""rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}"#)
        XCTAssertEqual(old.ropeScaling, .llama3(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: 8192))
        XCTAssertEqual(old.ropeTheta, 500_000)
        XCTAssertEqual(try decode(#""rope_scaling": {"type": "linear", "factor": 2}"#).ropeScaling, .linear(factor: 2))
        XCTAssertNil(try decode(#""rope_scaling": null"#).ropeScaling)
        XCTAssertNil(try decode(#""rope_parameters": {"rope_type": "default", "rope_theta": 10000.0}"#).ropeScaling)
        XCTAssertEqual(try decode(#""max_position_embeddings": 4096, "rope_scaling": {"type": "dynamic", "factor": 2.0}"#).ropeScaling,
                       .dynamic(factor: 2, originalContext: 4096))
        let refusals: [(String, String)] = [
            (#""rope_scaling": {"rope_type": "dynamic", "factor": 0.5}"#, "rope_scaling.factor"),
            (#""rope_scaling": {"rope_type": "dynamic"}"#, "rope_scaling.factor"),
            (#""rope_parameters": {"rope_type": "yarn", "factor": 4.0, "rope_theta": 10000.0}"#, "rope_parameters.rope_type"),
            (#""rope_scaling": {"rope_type": "linear"}"#, "rope_scaling.factor"),
            (#""rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 4, "high_freq_factor": 1, "original_max_position_embeddings": 8192}"#, "rope_scaling.high_freq_factor"),
            (#""rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 1, "high_freq_factor": 4, "original_max_position_embeddings": 81.5}"#, "rope_scaling.original_max_position_embeddings"),
            (#""rope_scaling": {"rope_type": "linear", "factor": -1}"#, "rope_scaling.factor"),
        ]
        for (extra, field) in refusals {
            XCTAssertThrowsError(try decode(extra), extra) { e in
                XCTAssertEqual((e as? ModelConfigError)?.field, field, "\(extra): \(e)")
            }
        }
    }
}
