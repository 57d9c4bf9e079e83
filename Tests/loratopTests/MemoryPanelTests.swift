@testable import LoRAKit
import TerminalUI
import XCTest
@testable import loratop

/// The memory panel keeps every byte on screen however short it is, and the what-if table follows the run's storage.
final class MemoryPanelTests: XCTestCase {
    /// A run's parts as TrainingRun reports them: projections, embeddings, adapters, optimizer, activations and the
    /// three measured costs of the process.
    static func figures(resident: Int? = 1100 << 20) -> MemoryFigures {
        let mib = 1 << 20
        let parts: [MemoryFigures.Part] = [
            .init(name: "base int8", bytes: 108 * mib, kind: .baseWeights),
            .init(name: "embeddings bf16", bytes: 54 * mib, kind: .baseWeights),
            .init(name: "LoRA A, B", bytes: 9 * mib, kind: .adapters),
            .init(name: "LoRA gradients", bytes: 9 * mib, kind: .gradients),
            .init(name: "AdamW m, v", bytes: 18 * mib, kind: .optimizerState),
            .init(name: "activations", bytes: 400 * mib, kind: .activations),
            .init(name: "runtime (measured)", bytes: 300 * mib, kind: .other),
            .init(name: "tokenizer (measured)", bytes: 20 * mib, kind: .other),
            .init(name: "data (measured)", bytes: 4 * mib, kind: .other)]
        let methods: [MemoryFigures.Method] = [
            .init(name: "Full fine-tuning", totalBytes: 2048 * mib, ratioToFull: 1, linearBitsPerParam: 32),
            .init(name: "LoRA fp32", totalBytes: 1200 * mib, ratioToFull: 0.58, linearBitsPerParam: 32),
            .init(name: "LoRA bf16", totalBytes: 1000 * mib, ratioToFull: 0.49, linearBitsPerParam: 16),
            .init(name: "QLoRA NF4+DQ", totalBytes: 800 * mib, ratioToFull: 0.39, linearBitsPerParam: 4.13),
            .init(name: "loratop, this run", totalBytes: 922 * mib, ratioToFull: 0.45, linearBitsPerParam: 8.5)]
        return MemoryFigures(parts: parts, residentBytes: resident, peakResidentBytes: resident, methods: methods)
    }

    func total(_ parts: [MemoryFigures.Part]) -> Int { parts.reduce(0) { $0 + $1.bytes } }

    func testEveryPartAndTheUnaccountedRestShowWhenThereIsRoom() {
        let m = Self.figures()
        let rows = MemoryView.fitParts(m, rows: 12)
        XCTAssertEqual(rows.map(\.name), m.parts.map(\.name) + ["unaccounted"])
        XCTAssertEqual(total(rows), m.residentBytes)
    }

    func testShortPanelsMergeTheMeasuredCostsThenTheSmallestParts() {
        let m = Self.figures()
        let eight = MemoryView.fitParts(m, rows: 8)
        XCTAssertEqual(eight.map(\.name), ["base int8", "embeddings bf16", "LoRA A, B", "LoRA gradients", "AdamW m, v",
                                           "activations", "runtime + data", "unaccounted"])
        XCTAssertEqual(total(eight), m.residentBytes, "merging keeps the sum")
        let four = MemoryView.fitParts(m, rows: 4)
        XCTAssertEqual(four.count, 4)
        XCTAssertEqual(four.map(\.name).prefix(3), ["base int8", "activations", "runtime + data"])
        XCTAssertEqual(four.last?.name, "4 smaller parts", "embeddings, LoRA A, B, gradients and AdamW m, v")
        XCTAssertEqual(total(four), m.accountedBytes, "no room for unaccounted: the parts still add up to accounted")
        for rows in 1...12 {
            let fit = MemoryView.fitParts(m, rows: rows)
            XCTAssertLessThanOrEqual(fit.count, rows, "\(rows) rows")
            XCTAssertGreaterThanOrEqual(total(fit), m.accountedBytes, "\(rows) rows lose no part")
        }
    }

    func testNoUnaccountedRowWhenResidentIsBelowAccounted() {
        let m = Self.figures(resident: 500 << 20)
        XCTAssertFalse(MemoryView.fitParts(m, rows: 20).contains { $0.name == "unaccounted" })
        XCTAssertEqual(MemoryView.fitParts(m, rows: 20).count, m.parts.count)
    }

    func testShortMethodTablesKeepFullFineTuningAndThisRun() {
        let m = Self.figures()
        for height in [3, 4, 6] {
            var buf = CellBuffer(size: Size(width: 80, height: height))
            MemoryView.renderMethods(m, .standard, into: &buf, area: Rect(x: 0, y: 0, width: 80, height: height))
            let text = buf.lines().joined(separator: "\n")
            XCTAssertTrue(text.contains("Full fine-tuning"), "height \(height):\n\(text)")
            XCTAssertTrue(text.contains("loratop, this run"), "height \(height):\n\(text)")
        }
        var tall = CellBuffer(size: Size(width: 80, height: 8))
        MemoryView.renderMethods(m, .standard, into: &tall, area: Rect(x: 0, y: 0, width: 80, height: 8))
        for method in m.methods { XCTAssertTrue(tall.lines().joined().contains(method.name), method.name) }
    }

    func testStorageLabelsNameTheEstimatorsStorage() {
        XCTAssertEqual(RunHost.storage(label: "nf4+dq")?.kind, .nf4)
        XCTAssertEqual(RunHost.storage(label: "nf4+dq")?.doubleQuant, true)
        XCTAssertEqual(RunHost.storage(label: "nf4")?.doubleQuant, false)
        XCTAssertEqual(RunHost.storage(label: "int8")?.kind, .int8)
        XCTAssertEqual(RunHost.storage(label: "f32")?.kind, QuantKind(parsing: "f32"))
        XCTAssertEqual(RunHost.storage(label: "bf16")?.kind, QuantKind.none)
        XCTAssertEqual(RunHost.storage(label: "source (q4_1)")?.kind, .source)
        XCTAssertNil(RunHost.storage(label: "banana"))
        XCTAssertNil(RunHost.storage(label: ""))
    }
}
