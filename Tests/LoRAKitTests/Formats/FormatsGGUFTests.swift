import Foundation
import XCTest
@testable import LoRAKit

final class FormatsGGUFReaderTests: XCTestCase {
    func testMetadataOfEveryTypeWrittenByGGUFPy() throws {
        let f = try GGUFFile(path: FormatsFixtures.path("written.gguf"))
        XCTAssertEqual(f.version, 3)
        XCTAssertEqual(f.metadataKeys.first, "general.architecture")
        XCTAssertEqual(f.string("general.architecture"), "llama")
        XCTAssertEqual(f.metadata["t.u8"], .uint8(200))
        XCTAssertEqual(f.metadata["t.i8"], .int8(-100))
        XCTAssertEqual(f.metadata["t.u16"], .uint16(60000))
        XCTAssertEqual(f.metadata["t.i16"], .int16(-30000))
        XCTAssertEqual(f.metadata["t.u32"], .uint32(4_000_000_000))
        XCTAssertEqual(f.metadata["t.i32"], .int32(-2_000_000_000))
        XCTAssertEqual(f.metadata["t.u64"], .uint64(UInt64(1) << 63 + 5))
        XCTAssertEqual(f.metadata["t.i64"], .int64(-(Int64(1) << 62)))
        XCTAssertEqual(f.metadata["t.f32"], .float32(0.1))
        XCTAssertEqual(f.metadata["t.f64"], .float64(0.1))
        XCTAssertEqual(f.bool("t.bool"), true)
        XCTAssertEqual(f.string("t.str"), "héllo, GGUF ✓")
        XCTAssertEqual(f.strings("t.strs"), ["a", "", "ccc"])
        XCTAssertEqual(f.ints("t.ints"), [1, -2, 3])
        XCTAssertEqual(f.floats(key: "t.floats"), [0.5, -1.25])
        XCTAssertEqual(f.metadata["t.bools"], .array(.bool, [.bool(true), .bool(false)]))
        XCTAssertEqual(f.metadata["t.nested"], .array(.array, [.array(.int32, [.int32(1), .int32(2)]), .array(.int32, [.int32(3)])]))
        XCTAssertEqual(f.metadata["t.nested_strs"], .array(.array, [.strings(["x"]), .strings(["y", "z"])]))
        XCTAssertEqual(f.int("t.u64"), nil, "a uint64 above Int.max is not an Int")
        XCTAssertEqual(f.int("t.u32"), 4_000_000_000)
        XCTAssertNil(f.strings("t.ints"))
        XCTAssertThrowsError(try f.requireInt("t.str")) { e in
            XCTAssertTrue("\(e)".contains("t.str"), "\(e)")
        }
        XCTAssertEqual(f.tensors.map(\.name), ["m.f32", "m.f16", "m.q8_0", "v.f32"])
        XCTAssertEqual(f.tensor("m.q8_0")?.dims, [64, 2])
        XCTAssertEqual(f.tensor("m.q8_0")?.type, .q8_0)
        XCTAssertEqual(f.tensor("v.f32")?.dims, [5])
        XCTAssertEqual(f.dataOffset % 32, 0)
    }

    /// Version 2 has the same layout as version 3 (64-bit counts); both parse the same.
    func testVersion2ParsesLikeVersion3() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: FormatsFixtures.path("written.gguf"))))
        bytes[4] = 2
        let v2 = try GGUFFile(mapped: MappedFile(bytes: bytes, name: "v2.gguf"))
        let v3 = try GGUFFile(path: FormatsFixtures.path("written.gguf"))
        XCTAssertEqual(v2.version, 2)
        XCTAssertEqual(v2.metadata, v3.metadata)
        XCTAssertEqual(v2.tensors.map(\.name), v3.tensors.map(\.name))
        XCTAssertEqual(try v2.floats("m.q8_0"), try v3.floats("m.q8_0"))
    }

    func testTensorValuesAndCustomAlignment() throws {
        let src = try FormatsFixtures.floats("written_source.f32.bin")
        let f = try GGUFFile(path: FormatsFixtures.path("written.gguf"))
        XCTAssertEqual(try f.floats("m.f32"), Array(src[0..<128]))
        XCTAssertEqual(try f.floats("v.f32"), Array(src[192..<197]))
        let f16 = try f.floats("m.f16")
        XCTAssertEqual(f16, src[128..<192].map { Float(Float16($0)) })
        let a = try GGUFFile(path: FormatsFixtures.path("align64.gguf"))
        XCTAssertEqual(a.alignment, 64)
        XCTAssertEqual(a.dataOffset % 64, 0)
        XCTAssertEqual(a.tensors.map { $0.offset % 64 }, [0, 0])
        XCTAssertEqual(try a.floats("b"), Array(src[5..<69]))
        let m = try a.matrix("b")
        XCTAssertEqual(m.rows, 2)
        XCTAssertEqual(m.cols, 32)
        XCTAssertNotNil(m.denseBase, "an aligned F32 tensor is used in place")
    }

    /// Each tensor `names` of the fixture `file` (3 × 512 random valid blocks) against gguf-py's dequantize
    /// (`blocks_NAME.f32.bin`): bit-exact, whole and for every single row.
    private func checkBitExact(_ file: String, _ names: [String], file path: StaticString = #filePath, line: UInt = #line) throws {
        let f = try GGUFFile(path: FormatsFixtures.path(file))
        for name in names {
            let expected = try FormatsFixtures.floats("blocks_\(name).f32.bin")
            let m = try f.matrix(name)
            XCTAssertEqual(m.storageName, name, file: path, line: line)
            XCTAssertEqual(m.rows, 3, file: path, line: line)
            XCTAssertEqual(m.cols, 512, file: path, line: line)
            XCTAssertEqual(m.storageBytes, 3 * (GGMLType.allCases.first { $0.name == name }!.rowBytes(512) ?? 0), file: path, line: line)
            let mismatches = zip(m.dequantizedArray(), expected).filter { $0.bitPattern != $1.bitPattern }.count
            XCTAssertEqual(mismatches, 0, "\(name): \(mismatches) values differ from gguf-py", file: path, line: line)
            for r in 0..<3 {  // a row range on its own gives the same rows
                var row = [Float](repeating: .nan, count: 512)
                row.withUnsafeMutableBufferPointer { m.dequantize(rows: r..<(r + 1), into: $0.baseAddress!) }
                XCTAssertEqual(row, Array(expected[(r * 512)..<((r + 1) * 512)]), "\(name) row \(r)", file: path, line: line)
            }
        }
    }

    /// Every block type against gguf-py's dequantize on random valid blocks: bit-exact.
    func testDequantizeMatchesGGUFPyBitExact() throws {
        try checkBitExact("blocks.gguf", ["q4_0", "q4_1", "q8_0", "q4_k", "q5_k", "q6_k", "f16", "bf16", "f32"])
    }

    /// Q5_0 and Q5_1 (what llama.cpp's K-quant mixes fall back to on rows that are not a multiple of 256) against
    /// gguf-py, bit-exact (Fixtures/formats/make_extra_blocks.py).
    func testQ5DequantizeMatchesGGUFPyBitExact() throws {
        try checkBitExact("blocks_q5.gguf", ["q5_0", "q5_1"])
    }

    /// Q2_K and Q3_K (llama.cpp's Q2_K and Q3_K_S/M/L files) against gguf-py, bit-exact
    /// (Fixtures/formats/make_extra_blocks.py).
    func testQ2KAndQ3KDequantizeMatchGGUFPyBitExact() throws {
        try checkBitExact("blocks_q23k.gguf", ["q2_k", "q3_k"])
    }

    func testLlamaUnpermuteOrderAndReorderedMatrix() throws {
        // 2 heads of width 4: HF rows (h, j, i) ← GGUF rows h·4 + 2i + j.
        XCTAssertEqual(GGUFMatrix.llamaUnpermuteOrder(rows: 8, heads: 2), [0, 2, 1, 3, 4, 6, 5, 7])
        XCTAssertNil(GGUFMatrix.llamaUnpermuteOrder(rows: 6, heads: 2))
        let f = try GGUFFile(path: FormatsFixtures.path("blocks.gguf"))
        let expected = try FormatsFixtures.floats("blocks_q4_1.f32.bin")
        let m = try f.matrix("q4_1").reordered([2, 0, 1])
        XCTAssertNil(m.denseBase)
        XCTAssertEqual(m.dequantizedArray(), Array(expected[1024..<1536] + expected[0..<1024]))
    }
}

final class FormatsGGUFWriterTests: XCTestCase {
    func writtenEquivalent() throws -> GGUFWriter {
        let src = try FormatsFixtures.floats("written_source.f32.bin")
        var w = GGUFWriter()
        w.set("general.architecture", .string("llama"))
        w.set("t.u8", .uint8(200)); w.set("t.i8", .int8(-100))
        w.set("t.u16", .uint16(60000)); w.set("t.i16", .int16(-30000))
        w.set("t.u32", .uint32(4_000_000_000)); w.set("t.i32", .int32(-2_000_000_000))
        w.set("t.u64", .uint64(UInt64(1) << 63 + 5)); w.set("t.i64", .int64(-(Int64(1) << 62)))
        w.set("t.f32", .float32(0.1)); w.set("t.f64", .float64(0.1))
        w.set("t.bool", .bool(true)); w.set("t.str", .string("héllo, GGUF ✓"))
        w.set("t.strs", .strings(["a", "", "ccc"])); w.set("t.ints", .int32s([1, -2, 3]))
        w.set("t.floats", .float32s([0.5, -1.25])); w.set("t.bools", .array(.bool, [.bool(true), .bool(false)]))
        w.set("t.nested", .array(.array, [.int32s([1, 2]), .int32s([3])]))
        w.set("t.nested_strs", .array(.array, [.strings(["x"]), .strings(["y", "z"])]))
        try w.add(name: "m.f32", shape: [2, 64], values: Array(src[0..<128]))
        try w.add(name: "m.f16", shape: [1, 64], values: Array(src[128..<192]), as: .f16)
        try w.add(name: "m.q8_0", shape: [2, 64], values: Array(src[0..<128]), as: .q8_0)
        try w.add(name: "v.f32", shape: [5], values: Array(src[192..<197]))
        return w
    }

    /// Same content as the gguf-py writer produced → the same bytes (F16 rounding and Q8_0 quantization included).
    func testBytesIdenticalToGGUFPy() throws {
        let expected = [UInt8](try Data(contentsOf: URL(fileURLWithPath: FormatsFixtures.path("written.gguf"))))
        let got = try writtenEquivalent().encoded()
        XCTAssertEqual(got.count, expected.count)
        let firstDiff = zip(got, expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        XCTAssertNil(firstDiff, "first differing byte at \(firstDiff ?? -1)")
    }

    func testAtomicWriteRoundTripAndCustomAlignment() throws {
        let dir = try FormatsFixtures.tempFolder()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var w = try writtenEquivalent()
        w.set("general.alignment", .uint32(64))
        try w.add(name: "x.q8_0", shape: [3, 32], values: (0..<96).map { Float($0) / 10 - 4 }, as: .q8_0)
        let path = dir + "/out.gguf"
        try w.write(to: path)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["out.gguf"], "no temp file left behind")
        let f = try GGUFFile(path: path)
        XCTAssertEqual(f.alignment, 64)
        XCTAssertEqual(f.strings("t.strs"), ["a", "", "ccc"])
        XCTAssertEqual(f.metadata["t.nested"], .array(.array, [.int32s([1, 2]), .int32s([3])]))
        XCTAssertTrue(f.tensors.allSatisfy { ($0.offset - f.dataOffset) % 64 == 0 })
        let x = try f.floats("x.q8_0")
        for (i, v) in x.enumerated() { XCTAssertEqual(v, Float(i) / 10 - 4, accuracy: 0.03) }
        XCTAssertThrowsError(try w.add(name: "x.q8_0", shape: [1], values: [0]))
        XCTAssertThrowsError(try w.add(name: "bad", shape: [1, 33], values: [Float](repeating: 0, count: 33), as: .q8_0))
    }
}
