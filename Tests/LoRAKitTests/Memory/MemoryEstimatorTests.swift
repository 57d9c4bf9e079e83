import Foundation
import XCTest
#if canImport(Glibc)
import Glibc
#endif
@testable import LoRAKit

/// The what-if estimator: parameter counts of the presets, bits per parameter, the QLoRA paper's 65B-on-48-GB claim.
final class MemoryEstimatorTests: XCTestCase {
    func preset(_ name: String) throws -> ModelConfig {
        guard let p = ModelPreset.named(name) else { throw FixtureError("no preset \(name)") }
        return p.config
    }

    func testPresetParameterCountsMatchPublishedSizes() throws {
        XCTAssertEqual(try preset("smollm2-135m").parameterCount, 134_515_008)
        XCTAssertEqual(Double(try preset("llama-1b").parameterCount) / 1e9, 1.236, accuracy: 0.001)
        XCTAssertEqual(Double(try preset("llama-7b").parameterCount) / 1e9, 6.738, accuracy: 0.001)
        XCTAssertEqual(Double(try preset("llama-13b").parameterCount) / 1e9, 13.016, accuracy: 0.001)
        XCTAssertEqual(Double(try preset("llama-65b").parameterCount) / 1e9, 65.286, accuracy: 0.001)
        XCTAssertEqual(Double(try preset("llama-70b").parameterCount) / 1e9, 68.977, accuracy: 0.001)
        XCTAssertEqual(ModelPreset.named("65B")?.name, "llama-65b")
        XCTAssertNil(ModelPreset.named("gpt-5"))
    }

    func testBlockwiseBitsPerParam() {
        XCTAssertEqual(Estimator.blockwiseBits(codeBits: 4, blockSize: 64, doubleQuant: false), 4.5)
        XCTAssertEqual(Estimator.blockwiseBits(codeBits: 4, blockSize: 64, doubleQuant: true), 4.127, accuracy: 0.0005)
        XCTAssertEqual(Estimator.blockwiseBits(codeBits: 8, blockSize: 64, doubleQuant: false), 8.5)
        XCTAssertEqual(Estimator.blockwiseBits(codeBits: 4, blockSize: 128, doubleQuant: true), 4.0635, accuracy: 0.0001)
    }

    func testAdapterParameterCount() throws {
        // per SmolLM2 block at r 8: q 8·(576+576), k, v 8·(576+192), o 8·(576+576), gate, up, down 8·(576+1536)
        let c = try preset("smollm2")
        XCTAssertEqual(Estimator.adapterParameters(c, rank: 8, targets: LoRATarget.allCases), 30 * 81_408)
        let qv: Int = 30 * 16 * (1152 + 768)
        XCTAssertEqual(Estimator.adapterParameters(c, rank: 16, targets: [.q, .v]), qv)
        XCTAssertEqual(try LoRATarget.parseList("v_proj, q"), [.q, .v])
        XCTAssertEqual(try LoRATarget.parseList("all"), LoRATarget.allCases)
        XCTAssertThrowsError(try LoRATarget.parseList("q,qq"))
    }

    func testMethodsOrderedAndNF4DQRowShows4127Bits() throws {
        let rows = Estimator.estimate(try preset("llama-7b"), EstimateSettings())
        XCTAssertEqual(rows.map(\.method), ["Full fine-tuning", "LoRA, fp32 base", "LoRA, 16-bit base", "QLoRA NF4",
                                            "QLoRA NF4+DQ"])
        for (a, b) in zip(rows, rows.dropFirst()) { XCTAssertGreaterThan(a.total, b.total, "\(a.method) > \(b.method)") }
        XCTAssertEqual(rows[4].linearBitsPerParam, 4.127, accuracy: 0.0005)
        XCTAssertEqual(rows[3].linearBitsPerParam, 4.5)
        XCTAssertEqual(rows[0].ratioToFull, 1)
        XCTAssertLessThan(rows[4].ratioToFull, 0.1)
        // full fine-tuning is 16 bytes per parameter before activations
        XCTAssertGreaterThan(rows[0].total, 16 * 6_738_000_000)
    }

    /// QLoRA paper setting: LLaMA-65B, r 64 on every linear layer, NF4 + double quantization, bf16 compute,
    /// gradient checkpointing, micro-batch 1 of 512 tokens (batch 16 reached by accumulation): under 48 GB.
    func testLLaMA65BQLoRAFitsIn48GB() throws {
        var s = EstimateSettings()
        s.rank = 64
        s.targets = LoRATarget.allCases
        s.batch = 1
        s.seqLen = 512
        s.checkpointing = true
        s.precision = .bf16
        let rows = Estimator.estimate(try preset("llama-65b"), s)
        guard let dq = rows.first(where: { $0.method == "QLoRA NF4+DQ" }) else { return XCTFail("no NF4+DQ row") }
        XCTAssertLessThan(dq.total, 48_000_000_000, "65B QLoRA total \(ByteFormat.binary(dq.total))")
        XCTAssertGreaterThan(dq.total, 35_000_000_000)  // the 4-bit base alone is ~33.4 GB
        XCTAssertGreaterThan(rows[0].total, 1_000_000_000_000)  // full fine-tuning needs > 1 TB
        XCTAssertGreaterThan(rows.first { $0.method == "QLoRA NF4" }?.total ?? 0, dq.total)
    }

    func testCheckpointingAndBatchScaleActivations() throws {
        let c = try preset("smollm2")
        let plain = Estimator.activationValues(c, batch: 4, seqLen: 128, rank: 8, targets: 7, checkpointing: false)
        let ckpt = Estimator.activationValues(c, batch: 4, seqLen: 128, rank: 8, targets: 7, checkpointing: true)
        let double = Estimator.activationValues(c, batch: 8, seqLen: 128, rank: 8, targets: 7, checkpointing: false)
        XCTAssertLessThan(ckpt * 5, plain)
        XCTAssertEqual(double, 2 * plain)
        var s = EstimateSettings()
        s.quant = .int8
        s.doubleQuant = true
        let rows = Estimator.estimate(c, s)
        XCTAssertEqual(rows.last?.method, "LoRA, int8+dq base")
        let int8dq: Double = 8 + 8.0 / 64 + 32.0 / 4096
        XCTAssertEqual(rows.last?.linearBitsPerParam ?? 0, int8dq, accuracy: 1e-9)
    }
}

/// MemoryReport accounting and the process's measured resident set.
final class MemoryReportTests: XCTestCase {
    func testParseProcStatus() {
        let text = "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\nThreads:\t3\n"
        XCTAssertEqual(ProcessMemory.parse(status: text), ProcessMemory(residentBytes: 1_048_576, peakResidentBytes: 2_097_152))
        XCTAssertNil(ProcessMemory.parse(status: "Name: x\n"))
    }

    func testBaseWeightsGroupByStorageAndTotal() throws {
        var rng = SeededRNG(seed: 5)
        let a = DenseMatrix(rows: 64, cols: 64, values: (0..<4096).map { _ in rng.normal() })
        let q1 = try Quantizer.quantize(a, kind: .nf4, blockSize: 64, doubleQuant: true, name: "a")
        let q2 = try Quantizer.quantize(a, kind: .nf4, blockSize: 64, doubleQuant: true, name: "b")
        let parts = MemoryReport.baseWeights([q1, a, q2], vectorFloats: 100)
        XCTAssertEqual(parts.map(\.name), ["base nf4+dq", "base f32", "base f32 vectors"])
        let nf4dqBytes: Int = 2 * (2048 + 64 + 4 + 4)
        XCTAssertEqual(parts[0].bytes, nf4dqBytes)
        XCTAssertEqual(MemoryComponent.floats("x", count: 250, kind: .adapters).bytes, 1000)
        var report = MemoryReport(components: parts + [MemoryComponent.floats("LoRA A, B", count: 250, kind: .adapters)])
        let expected: Int = parts[0].bytes + 16384 + 400 + 1000
        XCTAssertEqual(report.total, expected)
        XCTAssertEqual(report.bytes(of: .baseWeights), report.total - 1000)
        let text = report.summaryLines().joined(separator: "\n")
        XCTAssertTrue(text.contains("base nf4+dq 4.14 KiB"), text)
        XCTAssertTrue(text.contains("adapters: LoRA A, B 1000 B"), text)
        report.process = ProcessMemory(residentBytes: 1 << 30, peakResidentBytes: 1 << 31)
        let data = try JSONEncoder().encode(report)
        XCTAssertTrue(String(decoding: data, as: UTF8.self).contains("\"total\":\(report.total)"))
        let back = try JSONDecoder().decode(MemoryReport.self, from: data)
        XCTAssertEqual(back, report)
        XCTAssertEqual(ByteFormat.binary(56_832_000), "54.2 MiB")
        let threeAndHalfGiB: Int = 3 * (1 << 30) + (1 << 29)
        XCTAssertEqual(ByteFormat.binary(threeAndHalfGiB), "3.50 GiB")
    }

    /// The accounting and the OS agree: resident memory grows by at least the bytes a quantized matrix declares.
    func testMeasuredResidentGrowsWithQuantizedStorage() throws {
        // Earlier tests leave freed memory inside the process that malloc would reuse without the resident set growing:
        // give it back to the system first, so what this test allocates shows as growth.
        if let sym = dlsym(nil, "malloc_trim") {
            _ = unsafeBitCast(sym, to: (@convention(c) (Int) -> Int32).self)(0)
        }
        guard let before = ProcessMemory.current() else { throw XCTSkip("no /proc/self/status on this system") }
        XCTAssertGreaterThan(before.residentBytes, 0)
        XCTAssertGreaterThanOrEqual(before.peakResidentBytes, before.residentBytes)
        let rows = 4096, cols = 2048  // 8 Mi values: 4 MiB of codes + scales
        final class Source: FrozenMatrix, @unchecked Sendable {
            let rows: Int, cols: Int
            init(rows: Int, cols: Int) { self.rows = rows; self.cols = cols }
            var storageName: String { "synthetic" }
            var storageBytes: Int { 0 }
            var denseBase: UnsafePointer<Float>? { nil }
            func dequantize(rows r: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
                for i in 0..<(r.count * cols) { dst[i] = Float((r.lowerBound * cols + i) % 97) - 48 }
            }
        }
        var kept = [FrozenMatrix]()
        for i in 0..<4 {
            kept.append(try Quantizer.quantize(Source(rows: rows, cols: cols), kind: .nf4, blockSize: 64,
                                               doubleQuant: false, name: "s\(i)"))
        }
        let declared = kept.reduce(0) { $0 + $1.storageBytes }
        guard let after = ProcessMemory.current() else { return XCTFail("reading vanished") }
        XCTAssertGreaterThanOrEqual(after.residentBytes - before.residentBytes, declared * 9 / 10,
                                    "RSS grew \(after.residentBytes - before.residentBytes) for \(declared) declared")
        let report = MemoryReport(components: MemoryReport.baseWeights(kept), measure: true)
        XCTAssertNotNil(report.process)
        XCTAssertEqual(report.total, declared)
    }
}
