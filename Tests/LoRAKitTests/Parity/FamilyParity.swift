import Foundation
import XCTest
@testable import LoRAKit

/// The checks every model family's parity fixture runs (made by the `make_*_fixture.py` scripts beside them): logits
/// at every position of the fixture's prompts against transformers, their argmax and greedy continuations, and the
/// LoRA gradients of a masked batch against PEFT + torch autograd.
enum FamilyParity {
    /// max |a − b| / max |b|.
    static func relMaxDiff(_ a: [Float], _ b: [Float]) -> Float {
        let top = b.map(abs).max() ?? 1
        return zip(a, b).map { abs($0 - $1) }.max().map { $0 / max(top, 1e-30) } ?? .infinity
    }

    /// The worst relative logit difference over the prompts of `expected` (a fixture path under Fixtures/), with
    /// every position's argmax and, when `greedy`, the 24-token greedy continuations checked.
    static func checkPrompts(_ model: LlamaModel, expected: String, greedy: Bool,
                             file: StaticString = #filePath, line: UInt = #line) throws -> Float {
        let fx = try TestModels.json(expected)
        let V = model.config.vocab
        var worst: Float = 0
        for (pi, p) in try XCTUnwrap(fx["prompts"] as? [[String: Any]]).enumerated() {
            let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
            let want = try XCTUnwrap(p["logits"] as? [Double]).map(Float.init)
            let got = try KVCache(model: model, capacity: ids.count).append(ids)
            worst = max(worst, relMaxDiff(got, want))
            for t in 0..<ids.count {
                XCTAssertEqual(Sampler.argmax(Array(got[(t * V)..<((t + 1) * V)])), Sampler.argmax(Array(want[(t * V)..<((t + 1) * V)])),
                               "prompt \(pi) position \(t)", file: file, line: line)
            }
            if greedy {
                let cont = try Generator.generate(model: model, prompt: ids, maxTokens: 24, sampling: SamplingOptions(), stop: [])
                XCTAssertEqual(cont, try XCTUnwrap(p["greedy"] as? [Int]).map(Int32.init), "prompt \(pi): greedy continuation",
                               file: file, line: line)
            }
        }
        return worst
    }

    /// The logits of the last prompt of `expected` from `model`, against the fixture's (for checks that a feature
    /// matters: a model without it must be far off).
    static func lastPromptDifference(_ model: LlamaModel, expected: String) throws -> Float {
        let fx = try TestModels.json(expected)
        let p = try XCTUnwrap((fx["prompts"] as? [[String: Any]])?.last)
        let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
        let got = try KVCache(model: model, capacity: ids.count).append(ids)
        return relMaxDiff(got, try XCTUnwrap(p["logits"] as? [Double]).map(Float.init))
    }

    /// Loads `folder` with the PEFT adapter `peft` attached, checks PEFT's adapted logits of the first sequence, then
    /// the training graph's loss and every LoRA gradient on the fixture's masked batch (`grads`) within 1e-4 of each
    /// tensor's largest value, with and without checkpointing. Returns the worst gradient difference.
    @discardableResult
    static func checkGradients(folder: String, peft: String, grads gradsPath: String, adapters: Int, label: String,
                               file: StaticString = #filePath, line: UInt = #line) throws -> Float {
        let fx = try TestModels.json(gradsPath)
        let batch = Batch(batch: try XCTUnwrap(fx["batch"] as? Int), seqLen: try XCTUnwrap(fx["seq_len"] as? Int),
                          inputs: try XCTUnwrap(fx["inputs"] as? [Int]).map(Int32.init),
                          targets: try XCTUnwrap(fx["targets"] as? [Int]).map { $0 < 0 ? Batch.ignore : Int32($0) })
        let grads = try XCTUnwrap(fx["grads"] as? [String: [Double]])
        XCTAssertEqual(grads.count, 2 * adapters, file: file, line: line)
        var worstAll: Float = 0
        for checkpointing in [false, true] {
            let model = try LlamaModel(source: try loadWeights(path: folder), storage: { DenseMatrix($1) })
            try PEFTAdapter.read(folder: peft).attach(to: model)
            XCTAssertEqual(model.adapters.count, adapters, file: file, line: line)
            let seq0 = try KVCache(model: model, capacity: batch.seqLen).append(Array(batch.inputs.prefix(batch.seqLen)))
            XCTAssertLessThanOrEqual(relMaxDiff(seq0, try XCTUnwrap(fx["logits_seq0"] as? [Double]).map(Float.init)), 1e-4,
                                     "adapted logits", file: file, line: line)
            for (_, ad) in model.adapters { ad.a.grad.zero(); ad.b.grad.zero() }
            let graph = TrainingGraph(model: model, B: batch.batch, T: batch.seqLen, checkpointing: checkpointing)
            try graph.forward(batch, dropoutSeed: nil)
            let lossSum = graph.backward(batch, gradScale: 1 / Float(batch.trainedTokens))
            let loss = try XCTUnwrap(fx["loss"] as? Double)
            XCTAssertEqual(lossSum / Double(batch.trainedTokens), loss, accuracy: 1e-4 * loss, file: file, line: line)
            var worst: Float = 0
            for (name, ad) in model.adapters {
                let ea = try XCTUnwrap(grads[name + ".lora_A"]).map(Float.init), eb = try XCTUnwrap(grads[name + ".lora_B"]).map(Float.init)
                let da = relMaxDiff(ad.a.grad.array, ea), db = relMaxDiff(ad.b.grad.array, eb)
                XCTAssertLessThanOrEqual(da, 1e-4, "\(name).lora_A checkpointing \(checkpointing)", file: file, line: line)
                XCTAssertLessThanOrEqual(db, 1e-4, "\(name).lora_B checkpointing \(checkpointing)", file: file, line: line)
                worst = max(worst, da, db)
            }
            print("\(label) LoRA gradients vs PEFT autograd (checkpointing \(checkpointing)): worst \(worst)")
            worstAll = max(worstAll, worst)
        }
        return worstAll
    }
}
