import Foundation
import XCTest
@testable import LoRAKit

/// The whole SmolLM2 model with every block projection in NF4 + double quantization (block 64), as loratop trains
/// a QLoRA base, against transformers + bitsandbytes running the same model on CPU (qlora_model.json, made by
/// make_qlora_model_fixture.py): logits, argmax and loss agree, and so does the size of the damage 4-bit storage does
/// to this small model (the same loss increase in both).
final class QLoRAModelReferenceTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    func testNF4DoubleQuantModelMatchesBitsandbytesEndToEnd() throws {
        let fx = try QuantFixtures.json("qlora_model.json")
        let fixed = try XCTUnwrap(fx["fixed_ids"] as? [Int])
        let prompts = try XCTUnwrap(fx["prompts"] as? [[String: Any]])
        XCTAssertEqual(prompts.count, 3)
        let path = try TestModels.smollm2Path()
        for (label, kind) in [("f32", QuantKind.none), ("nf4_dq", .nf4)] {
            let model = try LlamaModel(source: try loadWeights(path: path)) { name, m in
                try TrainingRun.store(m, name: name, kind: kind, blockSize: 64, doubleQuant: true)
            }
            if kind == .nf4 { XCTAssertEqual(model.blocks[0].q.base.storageName, "nf4+dq") }
            let V = model.config.vocab
            for p in prompts {
                let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
                let ref = try XCTUnwrap(p[label] as? [String: Any])
                let refLogits = try XCTUnwrap(ref["logits"] as? [[Double]])
                let logits = try KVCache(model: model, capacity: ids.count).append(ids)  // (T, V)
                var worst = 0.0, scale = 0.0, loss = 0.0
                for t in 0..<ids.count {
                    let row = Array(logits[(t * V)..<((t + 1) * V)])
                    for (j, id) in fixed.enumerated() {
                        worst = max(worst, abs(Double(row[id]) - refLogits[t][j]))
                        scale = max(scale, abs(refLogits[t][j]))
                    }
                    let best = row.indices.max { row[$0] < row[$1] } ?? 0
                    XCTAssertEqual(best, (ref["argmax"] as? [Int])?[t], "\(label): argmax at position \(t)")
                    if t + 1 < ids.count {
                        let mx = Double(row.max() ?? 0)
                        let lse = mx + log(row.reduce(0.0) { $0 + exp(Double($1) - mx) })
                        loss += lse - Double(row[Int(ids[t + 1])])
                    }
                }
                loss /= Double(ids.count - 1)
                let refLoss = try XCTUnwrap(ref["loss"] as? Double)
                print("\(label), \(ids.count) tokens: loss \(loss) (transformers + bitsandbytes \(refLoss)), max |Δlogit| \(worst)")
                XCTAssertLessThanOrEqual(worst, 1e-5 * scale + 1e-4, "\(label): logits")
                XCTAssertEqual(loss, refLoss, accuracy: 1e-4 * refLoss, "\(label): loss")
            }
        }
    }
}
