import Foundation
import XCTest
@testable import LoRAKit

/// Changing the base's storage during a run re-quantizes from the original weights, never from a lossy copy.
final class RequantizeTests: XCTestCase {
    func testSwitchingStorageRequantizesFromTheSource() throws {
        let run = try TrainingRun(options: tinyRunOptions(steps: 10))
        func bases() -> [[Float]] { run.model.blocks.flatMap { b in LoRATarget.allCases.map { b.linear($0).base.dequantizedArray() } } }
        let original = bases()
        _ = try run.trainStep()

        let toNF4 = try run.apply(.setQuantization("nf4"))
        XCTAssertEqual(toNF4.kind, "quant")
        XCTAssertEqual(toNF4.from, "f32")
        XCTAssertEqual(toNF4.to, "nf4+dq")
        XCTAssertTrue(run.model.blocks[0].q.base.storageName.hasPrefix("nf4"))
        XCTAssertNotEqual(bases(), original, "NF4 changes the values")
        _ = try run.trainStep()
        XCTAssertEqual(run.settings.quantization, "nf4+dq")

        // int8 from the source, then back to fp32: bit-identical to the original weights, whatever happened between.
        _ = try run.apply(.setQuantization("int8"))
        _ = try run.apply(.setQuantization("none"))
        XCTAssertEqual(bases(), original)
        XCTAssertThrowsError(try run.apply(.setQuantization("source")), "a random preset has no file to train on as stored")
        XCTAssertTrue((run.memoryReport()?.components.map(\.name) ?? []).contains("base f32"))
    }

    /// The memory report after each transition a person makes (start, `b` to int8, `R` to rank 16, a resume of the
    /// checkpoint): one base row in the current storage, the embeddings apart, adapter rows sized by the current rank.
    func testTheMemoryReportFollowsEveryTransition() throws {
        let run = try TrainingRun(options: tinyRunOptions(steps: 10))
        func check(_ run: TrainingRun, storage: String, _ label: String) throws {
            let report = try XCTUnwrap(run.memoryReport(), label)
            let names = report.components.map(\.name)
            XCTAssertEqual(names.filter { $0.hasPrefix("base ") }, ["base \(storage)"], "\(label): \(names)")
            XCTAssertEqual(names.filter { $0.hasPrefix("embeddings ") }.count, 1, "\(label): \(names)")
            let adapter = try XCTUnwrap(report.components.first { $0.name == "LoRA A/B" }, label)
            XCTAssertEqual(adapter.bytes, run.trainableParameters * 4, label)
            XCTAssertEqual(report.components.first { $0.name == "AdamW m, v" }?.bytes, run.trainableParameters * 8, label)
            XCTAssertEqual(report.bytes(of: .baseWeights), report.components.filter { $0.kind == .baseWeights }.reduce(0) { $0 + $1.bytes }, label)
            XCTAssertNotNil(report.process?.residentBytes, "\(label): resident measured alongside")
        }
        let heapSources = "sources for re-quantizing (heap)"
        try check(run, storage: "f32", "start")
        XCTAssertNil(run.memoryReport()?.components.first { $0.name == heapSources }, "the f32 base is its own source")
        _ = try run.trainStep()
        let f32Base = try XCTUnwrap(run.memoryReport()?.components.first { $0.name == "base f32" }).bytes
        _ = try run.apply(.setQuantization("int8"))
        try check(run, storage: "int8", "after b")
        // the random preset's f32 matrices stay on the heap for the next `b`: counted, so accounted meets resident
        XCTAssertEqual(run.memoryReport()?.components.first { $0.name == heapSources }?.bytes, f32Base)
        let int8Base = try XCTUnwrap(run.memoryReport()?.components.first { $0.name == "base int8" }).bytes
        XCTAssertLessThan(Double(int8Base), 0.3 * Double(f32Base), "int8 is about a quarter of f32 (with its scales)")
        let r8 = run.trainableParameters
        _ = try run.apply(.setRank(16))
        XCTAssertEqual(run.trainableParameters, 2 * r8)
        try check(run, storage: "int8", "after R")
        _ = try run.trainStep()
        let saved = try run.saveCheckpoint(history: TrainingHistory())

        let resumed = try TrainingRun(options: try TrainingRun.storedOptions(resume: saved), resume: saved)
        try check(resumed, storage: "int8", "after resume")
        XCTAssertEqual(resumed.trainableParameters, 2 * r8)
    }

    /// Chat data with no --eval-data: the held-out fraction's records are the questions, so `g` samples and the
    /// evaluation has prompts (they were empty, and `g` said the data had no chat records).
    func testAHeldOutSplitOfChatDataHasItsQuestions() throws {
        var o = tinyRunOptions(data: "tags-train.jsonl", seqLen: 128, steps: 1)
        o.valSetSize = 0.05
        let run = try TrainingRun(options: o)
        XCTAssertEqual(run.evalQuestions.count, 31, "5% of 620 records: as many questions as held-out examples")
        let file = try DatasetFile(url: URL(fileURLWithPath: o.data))
        let all = try EvalExample.extract(from: file)
        for q in run.evalQuestions { XCTAssertEqual(all.first { $0.line == q.line }?.reference, q.reference) }
        XCTAssertTrue(run.evalQuestions.allSatisfy { $0.reference.hasPrefix("LT-") })
        let samples = try run.sample()
        XCTAssertEqual(samples.count, o.sampleCount)
        XCTAssertEqual(samples.first?.reference, run.evalQuestions.first?.reference)
    }
}
