import ArgumentParser
import Foundation
import XCTest
@testable import loratop
@testable import LoRAKit

/// `loratop bench --model FILE`: a real file's weights, kept in the file's own blocks with `--quant source`.
final class BenchCommandTests: XCTestCase {
    func testBenchRunsOnAModelFileInItsOwnStorage() throws {
        let dir = NSTemporaryDirectory() + "bench-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let cfg = ModelConfig(layers: 2, dim: 64, heads: 4, kvHeads: 2, ffnDim: 128, vocab: 300, ropeTheta: 10_000, maxPositions: 64)
        let model = try LlamaModel(random: cfg, seed: 3)
        try MergeExport.writeGGUF(model: model, base: ExportBase(architecture: "llama", config: cfg, origin: "test"),
                                  to: dir + "/m.gguf", type: .q8_0)
        for quant in ["source", "nf4"] {
            let cmd = try Bench.parse(["--model", dir + "/m.gguf", "--quant", quant, "--steps", "1", "--warmup", "0",
                                       "--batch-size", "1", "--seq-len", "8", "--threads", "1", "--rank", "4"])
            XCTAssertEqual(cmd.modelPath, dir + "/m.gguf")
            try cmd.run()
        }
        XCTAssertThrowsError(try Bench.parse(["--quant", "source"]), "a random model has no file storage") { e in
            XCTAssertTrue(Bench.message(for: e).contains("--model"), Bench.message(for: e))
        }
        XCTAssertThrowsError(try Bench.parse(["--preset", "llama-65b"])) { e in
            XCTAssertTrue(Bench.message(for: e).contains("qwen3-0.6b"), Bench.message(for: e))
        }
    }
}
