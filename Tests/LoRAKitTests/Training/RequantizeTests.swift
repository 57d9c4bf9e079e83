import Foundation
import XCTest
@testable import LoRAKit

/// Changing the base's storage during a run re-quantizes from the original weights, never from a lossy copy.
final class RequantizeTests: XCTestCase {
    func testSwitchingStorageRequantizesFromTheSource() throws {
        var o = RunOptions()
        o.model = "preset:tiny"
        o.data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("sample-data/logbook.txt").path
        o.seqLen = 32
        o.batchSize = 2
        o.maxSteps = 10
        o.output = NSTemporaryDirectory() + "requant-\(UUID().uuidString)"
        let run = try TrainingRun(options: o)
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
}
