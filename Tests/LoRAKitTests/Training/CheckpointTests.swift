import Foundation
import XCTest
@testable import LoRAKit

final class CheckpointTests: XCTestCase {
    struct SessionInfo: Codable, Sendable, Equatable { var cursor: Int; var note: String }

    private func makeTrainer() throws -> Trainer {
        let model = try LlamaModel(random: LiveChangeTestsConfig.config, seed: 3)
        var opt = OptimizerConfig(learningRate: 5e-3)
        opt.schedule = LRSchedule(kind: .cosine, warmupSteps: 2, totalSteps: 10)
        return try Trainer(model: model, lora: try LoRAConfig(rank: 4, alpha: 8, dropout: 0.1), optimizer: opt, seed: 21)
    }

    private func batch(_ s: Int) -> Batch {
        var rng = SeededRNG(seed: UInt64(s))
        let ids = (0..<(2 * 10)).map { _ in Int32(rng.next() % 64) }
        return Batch(batch: 2, seqLen: 10, inputs: ids, targets: Array(ids.dropFirst()) + [Batch.ignore])
    }

    private func tempDir() -> String {
        let d = NSTemporaryDirectory() + "ckpt-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    /// Stopped at step k, saved, loaded into a fresh trainer and resumed: steps k+1…n give bit-identical losses to an
    /// uninterrupted run, including across a rank change before k.
    func testResumeIsBitIdenticalAcrossARankChange() throws {
        let full = try makeTrainer()
        var expected: [Float] = []
        for s in 0..<10 {
            if s == 3 { try full.resize(rank: 8) }
            expected.append(try full.step(microBatches: [batch(s)]).loss)
        }

        let first = try makeTrainer()
        for s in 0..<6 {
            if s == 3 { try first.resize(rank: 8) }
            _ = try first.step(microBatches: [batch(s)])
        }
        let dir = tempDir()
        var history = TrainingHistory()
        history.trainLoss = [LossPoint(step: 1, value: 2.5)]
        history.changes = [ChangeEvent(step: 3, kind: "rank", from: "4", to: "8")]
        let path = try Checkpoint.save(trainer: first, history: history, session: SessionInfo(cursor: 6, note: "x"),
                                       baseModel: "random", outputDir: dir, keep: 2)
        XCTAssertTrue(path.hasSuffix("checkpoint-000006"))

        let (state, meta) = try Checkpoint.load(try Checkpoint.resolve(dir), as: SessionInfo.self)
        XCTAssertEqual(meta.session, SessionInfo(cursor: 6, note: "x"))
        XCTAssertEqual(meta.history, history)
        XCTAssertEqual(state.lora.rank, 8)
        let resumed = try makeTrainer()
        try resumed.restore(state)
        var got: [Float] = []
        for s in 6..<10 { got.append(try resumed.step(microBatches: [batch(s)]).loss) }
        XCTAssertEqual(got, Array(expected[6...]), "resumed losses must be bit-identical")
    }

    func testKeepsTheNewestAndIgnoresInterruptedSaves() throws {
        let t = try makeTrainer()
        let dir = tempDir()
        for s in 0..<4 {
            _ = try t.step(microBatches: [batch(s)])
            _ = try Checkpoint.save(trainer: t, history: TrainingHistory(), session: SessionInfo(cursor: s, note: ""),
                                    baseModel: "random", outputDir: dir, keep: 2)
        }
        XCTAssertEqual(Checkpoint.list(outputDir: dir).map(\.step), [3, 4])
        // A crashed save leaves a hidden partial folder behind (or, from older versions, a `checkpoint-…tmp-PID`): it is
        // not a checkpoint, resolve skips it, and the next look at the folder removes it once its process is gone.
        let fm = FileManager.default
        for n in [".checkpoint-000009.partial-999999", ".checkpoint-000002.removing-999999", "checkpoint-000009.tmp-999999",
                  "checkpoint-000001.old-999999", ".checkpoint-000010.partial-\(getpid())"] {
            try fm.createDirectory(atPath: dir + "/" + n, withIntermediateDirectories: true)
        }
        XCTAssertEqual(Checkpoint.list(outputDir: dir).map(\.step), [3, 4])
        XCTAssertTrue(try Checkpoint.resolve(dir).hasSuffix("checkpoint-000004"))
        XCTAssertEqual(Set(Checkpoint.removeLeftovers(outputDir: dir)),
                       [".checkpoint-000009.partial-999999", ".checkpoint-000002.removing-999999", "checkpoint-000009.tmp-999999",
                        "checkpoint-000001.old-999999"], "a live process's partial folder stays")
        XCTAssertEqual(try fm.contentsOfDirectory(atPath: dir).sorted(),
                       [".checkpoint-000010.partial-\(getpid())", "checkpoint-000003", "checkpoint-000004"])
        try fm.removeItem(atPath: dir + "/.checkpoint-000010.partial-\(getpid())")
        // Saving the same step twice replaces the folder.
        _ = try Checkpoint.save(trainer: t, history: TrainingHistory(), session: SessionInfo(cursor: 9, note: ""),
                                baseModel: "random", outputDir: dir, keep: 2)
        XCTAssertEqual(try Checkpoint.load(dir + "/checkpoint-000004", as: SessionInfo.self).1.session.cursor, 9)
        XCTAssertThrowsError(try Checkpoint.resolve(tempDir())) { XCTAssertTrue("\($0)".contains("no checkpoint")) }
    }

    func testPEFTFilesHaveTheKeysAndShapesPEFTExpects() throws {
        let t = try makeTrainer()
        let dir = tempDir()
        try PEFTAdapter(model: t.model, config: t.lora, baseModel: "HuggingFaceTB/SmolLM2-135M-Instruct").write(to: dir)
        let st = try SafetensorsFile(path: dir + "/adapter_model.safetensors")
        XCTAssertEqual(st.metadata["format"], "pt")
        let a = try XCTUnwrap(st.tensor("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"))
        let b = try XCTUnwrap(st.tensor("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"))
        XCTAssertEqual(a.shape, [4, 32])
        XCTAssertEqual(b.shape, [32, 4])
        XCTAssertEqual(st.tensors.count, 2 * 7 * 2)
        let cfg = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/adapter_config.json"))) as? [String: Any])
        XCTAssertEqual(cfg["peft_type"] as? String, "LORA")
        XCTAssertEqual(cfg["r"] as? Int, 4)
        XCTAssertEqual(cfg["lora_alpha"] as? Double, 8)
        XCTAssertEqual(cfg["use_rslora"] as? Bool, false)
        XCTAssertEqual(cfg["target_modules"] as? [String], LoRATarget.allCases.map(\.rawValue))
        let back = try PEFTAdapter.read(folder: dir)
        XCTAssertEqual(back.modules, PEFTAdapter(model: t.model, config: t.lora, baseModel: "").modules)
    }
}

/// The tiny shape shared by trainer-level tests.
enum LiveChangeTestsConfig {
    static let config = LiveChangeTests.config
}
