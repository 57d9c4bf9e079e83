import Foundation
import XCTest
@testable import LoRAKit

final class FormatsSafetensorsTests: XCTestCase {
    func testReadsTheReferenceLibrarysFile() throws {
        let f = try SafetensorsFile(path: FormatsFixtures.path("small.safetensors"))
        XCTAssertEqual(f.metadata, ["format": "pt"])
        let expected = try FormatsFixtures.json("small.json")
        for name in ["w.f32", "w.f16", "w.bf16"] {
            let e = try XCTUnwrap(expected[name] as? [String: Any])
            let shape = try XCTUnwrap(e["shape"] as? [Int])
            let values = try XCTUnwrap(e["values"] as? [Double]).map { Float($0) }
            XCTAssertEqual(f.tensor(name)?.shape, shape, name)
            XCTAssertEqual(try f.floats(name), values, name)
        }
        let m = try f.matrix("w.f32")
        XCTAssertEqual([m.rows, m.cols], [3, 4])
        XCTAssertNotNil(m.denseBase)
        XCTAssertEqual(try f.matrix("w.f16").storageName, "f16")
        XCTAssertEqual(try f.matrix("w.bf16").storageBytes, 8)
    }

    /// Our writer, given the same tensors, produces the reference library's bytes.
    func testWriterBytesIdenticalToReference() throws {
        let expected = try FormatsFixtures.json("small.json")
        var w = SafetensorsWriter(metadata: ["format": "pt"])
        for (name, dtype) in [("w.bf16", SafetensorsDType.bf16), ("w.f32", .f32), ("w.f16", .f16)] {
            let e = try XCTUnwrap(expected[name] as? [String: Any])
            try w.add(name: name, shape: try XCTUnwrap(e["shape"] as? [Int]),
                      values: try XCTUnwrap(e["values"] as? [Double]).map { Float($0) }, dtype: dtype)
        }
        let reference = [UInt8](try Data(contentsOf: URL(fileURLWithPath: FormatsFixtures.path("small.safetensors"))))
        XCTAssertEqual(w.encoded(), reference)
    }

    func testWriterRoundTripRoundingAndAtomicity() throws {
        let dir = try FormatsFixtures.tempFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let values: [Float] = [1, -2.5, 1e-8, 65504, 3.14159, -0.0, 1.00390625, 70000]
        var w = SafetensorsWriter(metadata: ["format": "pt", "note": "quote \" and \\ and \n"])
        try w.add(name: "a/b \"q\"", shape: [2, 4], values: values)
        try w.add(name: "h", shape: [8], values: values, dtype: .f16)
        try w.add(name: "z", shape: [8], values: values, dtype: .bf16)
        XCTAssertThrowsError(try w.add(name: "h", shape: [8], values: values))
        XCTAssertThrowsError(try w.add(name: "bad", shape: [3], values: values))
        let p = dir + "/x.safetensors"
        try w.write(to: p)
        try w.write(to: p)  // overwrite in place
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["x.safetensors"])
        let f = try SafetensorsFile(path: p)
        XCTAssertEqual(f.metadata["note"], "quote \" and \\ and \n")
        XCTAssertEqual(try f.floats("a/b \"q\""), values)
        XCTAssertEqual(try f.floats("h"), values.map { Float(Float16($0)) })
        XCTAssertEqual(try f.floats("z")[6], 1.0, "1 + 2^-8 rounds to even (1.0) in bf16")
        XCTAssertEqual(try f.floats("z")[4], 3.140625)
        XCTAssertEqual(f.tensors.first?.name, "a/b \"q\"", "4-byte types first")
    }
}

final class FormatsHFFolderTests: XCTestCase {
    func testShardedQwen2FolderLoadsWithBiasesAndChecksShapes() throws {
        let folder = FormatsFixtures.path("tiny-qwen2")
        let w = try XCTUnwrap(try loadWeights(path: folder) as? HFFolderWeightSource)
        let c = w.config
        XCTAssertEqual(w.architecture, "Qwen2ForCausalLM")
        XCTAssertEqual([c.layers, c.dim, c.heads, c.kvHeads, c.headDim, c.ffnDim, c.vocab], [2, 16, 2, 1, 8, 24, 40])
        XCTAssertEqual(c.ropeTheta, 1_000_000)
        XCTAssertTrue(c.attentionBias)
        XCTAssertFalse(c.tiedEmbeddings)
        let expected = try XCTUnwrap(try FormatsFixtures.json("tiny-qwen2/expected.json") as? [String: String])
        XCTAssertEqual(expected.count, 27)  // 3 + 2 layers × 12
        for (name, sha) in expected {
            XCTAssertTrue(w.has(name), name)
            let values = name.hasSuffix("norm.weight") || name.hasSuffix("bias") ? try w.vector(name) : try w.matrix(name).dequantizedArray()
            XCTAssertEqual(FormatsFixtures.sha(values), sha, name)
        }
        XCTAssertEqual(try w.matrix("model.layers.0.self_attn.q_proj.weight").storageName, "f16")
        XCTAssertEqual(try w.matrix("lm_head.weight").storageName, "bf16")
        XCTAssertThrowsError(try w.matrix("model.layers.2.mlp.up_proj.weight"))
        XCTAssertThrowsError(try w.matrix("model.norm.weight"))
    }

    func testFolderWithWrongShapeOrMissingTensorIsRejected() throws {
        let dir = try FormatsFixtures.tempFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let src = FormatsFixtures.path("tiny-qwen2")
        for f in try FileManager.default.contentsOfDirectory(atPath: src) {
            try FileManager.default.copyItem(atPath: src + "/" + f, toPath: dir + "/" + f)
        }
        let cfgPath = dir + "/config.json"
        let cfg = try String(contentsOfFile: cfgPath, encoding: .utf8)
        try cfg.replacingOccurrences(of: "\"intermediate_size\": 24", with: "\"intermediate_size\": 32")
            .write(toFile: cfgPath, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HFFolderWeightSource(folder: dir)) { e in
            XCTAssertTrue("\(e)".contains("mlp.") && "\(e)".contains("expected shape"), "\(e)")
        }
        try cfg.replacingOccurrences(of: "\"num_hidden_layers\": 2", with: "\"num_hidden_layers\": 3")
            .write(toFile: cfgPath, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HFFolderWeightSource(folder: dir)) { e in
            XCTAssertTrue("\(e)".contains("model.layers.2.") && "\(e)".contains("missing"), "\(e)")
        }
        try cfg.replacingOccurrences(of: "Qwen2ForCausalLM", with: "GPT2LMHeadModel").write(toFile: cfgPath, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try HFFolderWeightSource(folder: dir)) { XCTAssertTrue("\($0)".contains("GPT2LMHeadModel"), "\($0)") }
    }
}
