import Foundation
import XCTest
@testable import LoRAKit

/// Row-range dequantization, storage accounting, errors and throughput of the blockwise kernels.
final class QuantKernelTests: XCTestCase {
    func randomMatrix(rows: Int, cols: Int, seed: UInt64) -> DenseMatrix {
        var rng = SeededRNG(seed: seed)
        return DenseMatrix(rows: rows, cols: cols, values: (0..<rows * cols).map { _ in rng.normal() * 0.02 })
    }

    /// Any row range (odd starts, ranges that split blocks and bytes) equals the same slice of a full dequantize.
    func testRowRangesMatchFullDequantize() throws {
        let m = randomMatrix(rows: 13, cols: 45, seed: 7)  // 45 odd: rows start mid-byte and mid-block
        for kind in [QuantKind.nf4, .fp4, .int8] {
            for dq in [false, true] {
                let q = try Quantizer.quantize(m, kind: kind, blockSize: 32, doubleQuant: dq, name: "m")
                let full = q.dequantizedArray()
                for range in [0..<1, 1..<2, 3..<8, 5..<13, 12..<13, 0..<13] {
                    var out = [Float](repeating: .nan, count: range.count * 45)
                    out.withUnsafeMutableBufferPointer { q.dequantize(rows: range, into: $0.baseAddress!) }
                    let want = Array(full[range.lowerBound * 45..<range.upperBound * 45])
                    XCTAssertNil(firstBitDifference(out, want), "\(q.storageName) rows \(range)")
                }
            }
        }
    }

    func testDequantizedValuesAreCloseToTheSource() throws {
        let m = randomMatrix(rows: 64, cols: 128, seed: 3)
        let src = m.dequantizedArray()
        for (kind, tol) in [(QuantKind.nf4, Float(0.15)), (.fp4, 0.25), (.int8, 0.02)] {
            let q = try Quantizer.quantize(m, kind: kind, blockSize: 64, doubleQuant: true, name: "m")
            let d = q.dequantizedArray()
            var err: Float = 0, norm: Float = 0
            for i in 0..<src.count { err += (d[i] - src[i]) * (d[i] - src[i]); norm += src[i] * src[i] }
            XCTAssertLessThan((err / norm).squareRoot(), tol, "\(kind) relative error")
        }
    }

    func testStorageNamesAndBytes() throws {
        let m = randomMatrix(rows: 576, cols: 576, seed: 1)  // 331776 values, 5184 blocks of 64
        let n = 576 * 576, blocks = n / 64
        let nf4 = try Quantizer.quantize(m, kind: .nf4, blockSize: 64, doubleQuant: false, name: "q")
        XCTAssertEqual(nf4.storageName, "nf4")
        XCTAssertEqual(nf4.storageBytes, n / 2 + 4 * blocks)
        let nf4dq = try Quantizer.quantize(m, kind: .nf4, blockSize: 64, doubleQuant: true, name: "q")
        XCTAssertEqual(nf4dq.storageName, "nf4+dq")
        XCTAssertEqual(nf4dq.storageBytes, n / 2 + blocks + 4 * ((blocks + 255) / 256) + 4)
        XCTAssertEqual(nf4dq.bitsPerParameter, 4.127, accuracy: 0.002, "NF4+DQ bits/param")
        XCTAssertEqual(Double(nf4.storageBytes * 8) / Double(n), 4.5, accuracy: 1e-9)
        let fp4 = try Quantizer.quantize(m, kind: .fp4, blockSize: 128, doubleQuant: true, name: "q")
        XCTAssertEqual(fp4.storageName, "fp4+dq")
        let i8 = try Quantizer.quantize(m, kind: .int8, blockSize: 64, doubleQuant: true, name: "q")
        XCTAssertEqual(i8.storageName, "int8+dq")
        XCTAssertEqual(i8.storageBytes, n + blocks + 4 * blocks / 64 + 4)
        XCTAssertTrue(try Quantizer.quantize(m, kind: .source, name: "q") === m)
        XCTAssertTrue(try Quantizer.quantize(m, kind: .none, name: "q") === m)
        XCTAssertEqual(try Quantizer.quantize(nf4, kind: .none, name: "q").storageName, "f32")
    }

    func testNonFiniteWeightIsNamed() {
        var v = [Float](repeating: 0.5, count: 4 * 100)
        v[2 * 100 + 37] = .nan
        v[3 * 100] = .infinity
        let m = DenseMatrix(rows: 4, cols: 100, values: v)
        for kind in [QuantKind.nf4, .int8, .none] {
            XCTAssertThrowsError(try Quantizer.quantize(m, kind: kind, name: "model.layers.3.mlp.up_proj.weight")) { e in
                let text = String(describing: e)
                XCTAssertTrue(text.contains("model.layers.3.mlp.up_proj.weight"), text)
                XCTAssertTrue(text.contains("[2, 37]") && text.contains("237"), text)
            }
        }
    }

    func testBadBlockSizeIsRejected() {
        let m = randomMatrix(rows: 2, cols: 64, seed: 0)
        for bs in [0, 16, 48, 8192] {
            XCTAssertThrowsError(try Quantizer.quantize(m, kind: .nf4, blockSize: bs, name: "w")) { e in
                XCTAssertTrue(String(describing: e).contains("block size \(bs)"))
            }
        }
    }

    func testMismatchedStateIsRejected() throws {
        let scales = BlockScales(plain: [1, 1])
        XCTAssertThrowsError(try Blockwise4BitMatrix(rows: 2, cols: 64, type: .nf4, blockSize: 64,
                                                     packed: [UInt8](repeating: 0, count: 63), scales: scales,
                                                     name: "blk.0.attn_q.weight")) { e in
            XCTAssertTrue("\(e)".contains("blk.0.attn_q.weight") && "\(e)".contains("needs 64 code bytes"), "\(e)")
        }
        XCTAssertThrowsError(try Int8BlockMatrix(rows: 2, cols: 64, blockSize: 32, codes: [UInt8](repeating: 0, count: 128),
                                                 scales: scales))
        XCTAssertNoThrow(try Int8BlockMatrix(rows: 2, cols: 64, blockSize: 64, codes: [UInt8](repeating: 0, count: 128),
                                             scales: scales))
    }

    func testQuantKindParsing() {
        XCTAssertEqual(QuantKind(parsing: "NF4"), .nf4)
        XCTAssertEqual(QuantKind(parsing: "fp4"), .fp4)
        XCTAssertEqual(QuantKind(parsing: "int8"), .int8)
        XCTAssertEqual(QuantKind(parsing: "none"), QuantKind.none)
        XCTAssertEqual(QuantKind(parsing: "source"), .source)
        XCTAssertNil(QuantKind(parsing: "nf5"))
        XCTAssertEqual(QuantKind.allCases.count, 5)
    }

    /// torch's cascade sum differs from a running sum; expected bit patterns come from torch 2.13 (AVX2):
    /// x = ((i·7919) mod 2003) / 2003 · 0.1 in fp32, `x.sum()`.
    func testTorchFloatSumMatchesTorchOrder() {
        for (n, torchBits, runningBits) in [(13824, UInt32(1_143_782_554), UInt32(1_143_782_565)),
                                            (1000, 1_112_068_272, 1_112_068_270)] {
            let x: [Float] = (0..<n).map { (i: Int) -> Float in
                let a: Float = Float((i * 7919) % 2003) / Float(2003)
                return a * Float(0.1)
            }
            var running: Float = 0
            for v in x { running += v }
            XCTAssertEqual(running.bitPattern, runningBits, "running sum n \(n)")
            let s = x.withUnsafeBufferPointer { TorchFloatSum.sum($0) }
            XCTAssertEqual(s.bitPattern, torchBits, "torch-order sum n \(n)")
        }
        XCTAssertEqual(TorchFloatSum.mean([2, 4]), 3)
        XCTAssertTrue(TorchFloatSum.mean([]).isNaN)
    }

    static func threadCPUSeconds() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    /// Measures fp32 produced per second by row-tile dequantization (what every forward/backward does).
    func testDequantizeThroughput() throws {
        let rows = 1536, cols = 576
        let m = randomMatrix(rows: rows, cols: cols, seed: 11)
        let tile = 64
        var out = [Float](repeating: 0, count: tile * cols)
        for (kind, dq) in [(QuantKind.nf4, false), (.nf4, true), (.fp4, true), (.int8, true)] {
            let q0 = Self.threadCPUSeconds()
            let q = try Quantizer.quantize(m, kind: kind, blockSize: 64, doubleQuant: dq, name: "w")
            let qs = Self.threadCPUSeconds() - q0
            print("quantize \(q.storageName): \(String(format: "%.1f", Double(rows * cols) / max(qs, 1e-9) / 1e6)) M weights "
                  + "per CPU-second, \(String(format: "%.3f", q.bitsPerParameter)) bits/param")
            let reps = 40
            let t0 = DispatchTime.now().uptimeNanoseconds
            let c0 = Self.threadCPUSeconds()
            out.withUnsafeMutableBufferPointer { p in
                for _ in 0..<reps {
                    var r = 0
                    while r < rows { q.dequantize(rows: r..<min(rows, r + tile), into: p.baseAddress!); r += tile }
                }
            }
            let cpu = Self.threadCPUSeconds() - c0
            let secs = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            let bytes = Double(reps * rows * cols * 4)
            let gbs = bytes / secs / 1e9
            print("dequantize \(q.storageName): \(String(format: "%.2f", gbs)) GB/s of fp32 wall, "
                  + "\(String(format: "%.2f", bytes / max(cpu, 1e-9) / 1e9)) GB/s per CPU-second "
                  + "(\(rows)x\(cols), tiles of \(tile) rows, one thread)")
            XCTAssertGreaterThan(gbs, 0.2, "\(q.storageName) dequantize too slow")
        }
    }
}
