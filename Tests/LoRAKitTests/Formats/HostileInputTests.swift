import Foundation
import XCTest
@testable import LoRAKit

/// Messages about hostile or damaged files: printable and short, naming the right file; PEFT keys that change what
/// the weights mean are refused, not ignored; a rank no projection can hold is refused.
final class HostileInputTests: XCTestCase {
    func tinyRun() throws -> TrainingRun { try TrainingRun(options: tinyRunOptions(steps: 2)) }

    func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "hostile-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: d) }
        return d
    }

    func testNamesFromAFileArePrintedEscapedAndCut() {
        let binary = String(decoding: [0x62, 0x6C, 0x6B, 0x00, 0x1B, 0x5B, 0x32, 0x4A, 0xFF, 0x0A] + [UInt8](repeating: 0x41, count: 7_452), as: UTF8.self)
        let e = FormatError(file: "/m.gguf", field: "tensor \(binary)", message: "name too long")
        let text = e.description
        XCTAssertTrue(text.hasPrefix("/m.gguf: tensor blk\\0\\x1b[2J\\u{fffd}\\nAAAA"), text)
        XCTAssertTrue(text.contains("… (7469 characters): name too long"), text)
        XCTAssertLessThan(text.count, 200)
        XCTAssertFalse(text.unicodeScalars.contains { $0.value < 0x20 }, "no control character reaches the terminal")
        XCTAssertEqual(Printable.escaped("blk.0.attn_q.weight"), "blk.0.attn_q.weight", "ordinary names unchanged")
    }

    func testAnAdapterThatDoesNotFitNamesItsOwnFile() throws {
        let run = try tinyRun()
        let folder = try tempDir()
        var adapter = PEFTAdapter(model: run.model, config: run.trainer.lora, baseModel: "/somewhere/else/base.gguf")
        adapter.modules.removeLast()
        try adapter.write(to: folder)
        let read = try PEFTAdapter.read(folder: folder)
        XCTAssertThrowsError(try read.attach(to: run.model)) { e in
            XCTAssertTrue("\(e)".hasPrefix(folder + "/adapter_model.safetensors: target_modules:"), "\(e)")
            XCTAssertFalse("\(e)".contains("/somewhere/else"), "not the base path stored inside it: \(e)")
        }
    }

    func testPEFTKeysThatChangeTheWeightsAreRefused() throws {
        let run = try tinyRun()
        let folder = try tempDir()
        try PEFTAdapter(model: run.model, config: run.trainer.lora, baseModel: "base").write(to: folder)
        let path = folder + "/adapter_config.json"
        let original = try Data(contentsOf: URL(fileURLWithPath: path))
        let cases: [(String, Any, String)] = [
            ("fan_in_fan_out", true, "weights stored transposed"), ("bias", "all", "expected \"none\", found \"all\""),
            ("bias", "lora_only", "trained biases"), ("layers_to_transform", [0], "some layers only"),
            ("modules_to_save", ["lm_head"], "fully trained modules (lm_head)"),
        ]
        for (key, value, expected) in cases {
            var obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: original) as? [String: Any])
            obj[key] = value
            try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: path))
            XCTAssertThrowsError(try PEFTAdapter.read(folder: folder), key) { e in
                XCTAssertTrue("\(e)".contains("adapter_config.json: \(key): ") && "\(e)".contains(expected), "\(e)")
            }
        }
        var obj = try XCTUnwrap(try JSONSerialization.jsonObject(with: original) as? [String: Any])
        obj["fan_in_fan_out"] = false
        obj["bias"] = "none"
        obj["layers_to_transform"] = NSNull()
        obj["modules_to_save"] = NSNull()
        try JSONSerialization.data(withJSONObject: obj).write(to: URL(fileURLWithPath: path))
        XCTAssertNoThrow(try PEFTAdapter.read(folder: folder), "PEFT's defaults load")
    }

    func testARankNoProjectionCanHoldIsRefused() throws {
        let run = try tinyRun()
        let narrowest = run.model.blocks.flatMap { b in LoRATarget.allCases.map { min(b.linear($0).base.rows, b.linear($0).base.cols) } }.min() ?? 0
        XCTAssertGreaterThan(narrowest, 1)
        XCTAssertThrowsError(try Trainer(model: run.model, lora: try LoRAConfig(rank: narrowest + 1, alpha: 16),
                                         optimizer: OptimizerConfig(), seed: 0)) { e in
            XCTAssertTrue("\(e)".contains("expected at most \(narrowest)") && "\(e)".contains("found \(narrowest + 1)"), "\(e)")
        }
        XCTAssertThrowsError(try run.apply(.setRank(narrowest * 2))) { XCTAssertTrue("\($0)".contains("expected at most \(narrowest)"), "\($0)") }
        XCTAssertNoThrow(try run.apply(.setRank(narrowest)))
    }
}
