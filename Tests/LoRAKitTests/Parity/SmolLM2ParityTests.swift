import Foundation
import XCTest
@testable import LoRAKit

/// SmolLM2-135M from the sample GGUF against transformers' float32 model loaded from the same GGUF.
final class SmolLM2ParityTests: XCTestCase {
    func testLogitsMatchTransformersAtEveryPosition() throws {
        let model = try TestModels.smollm2Dense()
        let fx = try TestModels.json("parity/smollm2_logits.json")
        let subset = try XCTUnwrap(fx["subset_ids"] as? [Int])
        let prompts = try XCTUnwrap(fx["prompts"] as? [[String: Any]])
        XCTAssertGreaterThanOrEqual(prompts.count, 5)
        var worst: Float = 0
        for (pi, p) in prompts.enumerated() {
            let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
            let positions = try XCTUnwrap(p["positions"] as? [[String: Any]])
            let cache = KVCache(model: model, capacity: ids.count)
            let logits = try cache.append(ids)  // (n, V)
            let V = model.config.vocab
            for (t, pos) in positions.enumerated() {
                let row = Array(logits[(t * V)..<((t + 1) * V)])
                XCTAssertEqual(Sampler.argmax(row), pos["argmax"] as? Int, "prompt \(pi) position \(t): argmax differs")
                let top = try XCTUnwrap(pos["top"] as? [[Double]])
                let sub = try XCTUnwrap(pos["subset"] as? [Double])
                for pair in top { worst = max(worst, abs(row[Int(pair[0])] - Float(pair[1]))) }
                for (k, id) in subset.enumerated() { worst = max(worst, abs(row[id] - Float(sub[k]))) }
            }
        }
        XCTAssertLessThanOrEqual(worst, 1e-3, "max |Δlogit| over top-20 and 256 fixed ids at every position")
        print("SmolLM2 parity: max |Δlogit| = \(worst)")
    }

    func testGreedyGenerationMatchesTransformers() throws {
        let model = try TestModels.smollm2Dense()
        let fx = try TestModels.json("parity/smollm2_logits.json")
        let stop = Set(try XCTUnwrap(fx["stop_ids"] as? [Int]).map(Int32.init))
        for (pi, p) in try XCTUnwrap(fx["prompts"] as? [[String: Any]]).enumerated() {
            let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
            var expected = try XCTUnwrap(p["greedy"] as? [Int]).map(Int32.init)
            if let last = expected.last, stop.contains(last) { expected.removeLast() }  // transformers keeps the EOS it stopped on
            let got = try Generator.generate(model: model, prompt: ids, maxTokens: 48, sampling: SamplingOptions(), stop: stop)
            XCTAssertEqual(got, expected, "prompt \(pi): greedy continuation differs")
        }
    }
}

/// Tiny Llama and Qwen2 folders written by transformers load and give transformers' logits.
final class HFFolderParityTests: XCTestCase {
    private func check(_ folder: String) throws {
        let dir = TestModels.fixtures.appendingPathComponent("parity/" + folder).path
        let model = try LlamaModel(source: try loadWeights(path: dir), storage: { DenseMatrix($1) })
        let fx = try TestModels.json("parity/\(folder)/expected_logits.json")
        let ids = try XCTUnwrap(fx["ids"] as? [Int]).map(Int32.init)
        let expected = try XCTUnwrap(fx["logits"] as? [Double])
        let got = try KVCache(model: model, capacity: ids.count).append(ids)
        XCTAssertEqual(got.count, expected.count)
        var worst: Float = 0
        for i in got.indices { worst = max(worst, abs(got[i] - Float(expected[i]))) }
        XCTAssertLessThanOrEqual(worst, 1e-4, folder)
        let V = model.config.vocab
        for t in 0..<ids.count {
            let row = Array(got[(t * V)..<((t + 1) * V)]), ref = expected[(t * V)..<((t + 1) * V)].map(Float.init)
            XCTAssertEqual(Sampler.argmax(row), Sampler.argmax(ref), "\(folder) position \(t)")
        }
    }

    func testTinyLlamaFolder() throws { try check("tiny-llama-hf") }
    func testTinyQwen2FolderWithBiases() throws { try check("tiny-qwen2-hf") }
}
