import ArgumentParser
import Foundation
import XCTest
@testable import loratop
@testable import LoRAKit

/// `loratop estimate`: flag parsing, model resolution and the printed table.
final class EstimateCommandTests: XCTestCase {
    func testPresetTableHasFiveMethodsAndBits() throws {
        let cmd = try Estimate.parse(["--preset", "llama-65b", "--rank", "64", "--batch-size", "1", "--seq-len", "512",
                                      "--checkpointing", "--precision", "bf16"])
        let (title, config) = try cmd.resolveModel()
        XCTAssertEqual(title, "LLaMA-65B")
        var s = EstimateSettings()
        s.rank = 64; s.batch = 1; s.seqLen = 512; s.checkpointing = true; s.precision = .bf16
        let text = EstimateTable.render(title: title, config: config, settings: s, rows: Estimator.estimate(config, s))
        for needle in ["Full fine-tuning", "LoRA, fp32 base", "LoRA, 16-bit base", "QLoRA NF4 ", "QLoRA NF4+DQ",
                       "4.127", "4.500", "16.000", "1.000×", "65.29B parameters", "GiB"] {
            XCTAssertTrue(text.contains(needle), "missing \(needle) in\n\(text)")
        }
    }

    func testModelFromHFConfigJSON() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("estimate-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let json = #"{"num_hidden_layers": 2, "hidden_size": 64, "num_attention_heads": 4, "num_key_value_heads": 2,"#
            + #" "intermediate_size": 128, "vocab_size": 1000, "tie_word_embeddings": true}"#
        try json.write(to: dir.appendingPathComponent("config.json"), atomically: true, encoding: .utf8)
        let cmd = try Estimate.parse(["--model", dir.path])
        let (_, config) = try cmd.resolveModel()
        XCTAssertEqual(config.layers, 2)
        XCTAssertEqual(config.kvHeads, 2)
        XCTAssertEqual(config.headDim, 16)
        let bad = try Estimate.parse(["--model", dir.appendingPathComponent("missing").path])
        XCTAssertThrowsError(try bad.resolveModel()) { XCTAssertTrue("\($0)".contains("no such file")) }
    }

    func testBadFlagsAreRejected() {
        XCTAssertThrowsError(try Estimate.parse(["--preset", "llama-7b", "--block-size", "48"]))
        XCTAssertThrowsError(try Estimate.parse(["--preset", "llama-7b", "--quant", "nf5"]))
        XCTAssertThrowsError(try Estimate.parse(["--preset", "llama-7b", "--targets", "q,zz"]))
        XCTAssertThrowsError(try Estimate.parse([]))
        XCTAssertThrowsError(try Estimate.parse(["--preset", "nope"]).resolveModel())
    }
}
