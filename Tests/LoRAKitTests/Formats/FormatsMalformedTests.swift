import Foundation
import XCTest
@testable import LoRAKit

/// Damaged files give a FormatError naming the file and field, never a crash or a huge allocation.
final class FormatsMalformedTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws { dir = try FormatsFixtures.tempFolder() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func original(_ name: String) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: FormatsFixtures.path(name))))
    }

    /// Writes `bytes`, opens them with `open`, and returns the error (failing when there is none).
    @discardableResult
    func expectError(_ bytes: [UInt8], _ label: String, contains: String? = nil,
                     open: (String, [UInt8]) throws -> Void, line: UInt = #line) -> FormatError? {
        let p = dir + "/bad.bin"
        do {
            try open(p, bytes)
            XCTFail("\(label): no error", line: line)
        } catch let e as FormatError {
            XCTAssertEqual(e.file, p, label, line: line)
            XCTAssertTrue("\(e)".contains(p), line: line)
            if let contains { XCTAssertTrue("\(e)".contains(contains), "\(label): \(e)", line: line) }
            return e
        } catch {
            XCTFail("\(label): unexpected error type \(error)", line: line)
        }
        return nil
    }

    /// Parses in memory (no disk round trip): the same code path as a mapped file.
    func openGGUF(_ p: String, _ b: [UInt8]) throws { _ = try GGUFFile(mapped: MappedFile(bytes: b, name: p)) }

    func patchU64(_ b: inout [UInt8], at offset: Int, _ v: UInt64) {
        for i in 0..<8 { b[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }

    func testGGUFBadMagicVersionAndCounts() throws {
        let good = try original("written.gguf")
        var b = good
        b[0] = UInt8(ascii: "X")
        expectError(b, "bad magic", contains: "magic", open: openGGUF)
        expectError([], "empty", contains: "magic", open: openGGUF)
        b = good
        b[4] = 1
        expectError(b, "version 1", contains: "version", open: openGGUF)
        b = good
        b[4] = 0; b[7] = 3
        expectError(b, "big-endian", contains: "big-endian", open: openGGUF)
        b = good
        patchU64(&b, at: 8, 1 << 60)
        expectError(b, "2^60 tensors", contains: "tensor count", open: openGGUF)
        b = good
        patchU64(&b, at: 16, UInt64.max)
        expectError(b, "2^64 keys", contains: "metadata count", open: openGGUF)
        b = good
        patchU64(&b, at: 24, 1 << 40)  // first key's length: 1 TB
        expectError(b, "1 TB key", contains: "length", open: openGGUF)
    }

    func testGGUFTruncatedAnywhere() throws {
        let good = try original("written.gguf")
        let f = try GGUFFile(path: FormatsFixtures.path("written.gguf"))
        let lastEnd = f.tensors.map { $0.offset + $0.byteCount }.max() ?? 0
        var cuts = Array(0..<f.dataOffset)
        cuts += [f.dataOffset + 1, lastEnd - 1]
        for n in cuts {
            let e = expectError(Array(good[0..<n]), "cut at \(n)", open: openGGUF)
            if n >= f.dataOffset, let e { XCTAssertTrue(e.field.hasPrefix("tensor "), "\(e)") }
        }
    }

    func testGGUFTensorPastEndAndBadDims() throws {
        let good = try original("written.gguf")
        let f = try GGUFFile(path: FormatsFixtures.path("written.gguf"))
        // Find the offset field of the last tensor info (the 8 bytes before the end of the tensor-info section).
        var c = ByteCursor(f.mapped)
        c.offset = 24
        for _ in 0..<f.metadataKeys.count {
            _ = try c.readString("k")
            _ = try GGUFFile.readValue(&c, tag: try c.read(UInt32.self), depth: 0)
        }
        var infoStarts = [Int]()
        for _ in f.tensors {
            infoStarts.append(c.offset)
            _ = try c.readString("n")
            let nd = Int(try c.read(UInt32.self))
            c.offset += nd * 8 + 4 + 8
        }
        var b = good
        patchU64(&b, at: c.offset - 8, 1 << 20)
        expectError(b, "data past EOF", contains: "past the end of the file", open: openGGUF)
        b = good
        patchU64(&b, at: c.offset - 8, UInt64.max - 31)
        expectError(b, "offset overflow", open: openGGUF)
        b = good
        patchU64(&b, at: c.offset - 8, 4)
        expectError(b, "misaligned offset", contains: "aligned", open: openGGUF)
        // n_dims of the first tensor → 7.
        let nameLen = Int(b[infoStarts[0]])
        b = good
        b[infoStarts[0] + 8 + nameLen] = 7
        expectError(b, "7 dims", contains: "dimensions", open: openGGUF)
        // first dim of the first tensor → 2^40 (too big), then 63 (not a whole Q8_0 block for m.q8_0 is tested below).
        b = good
        patchU64(&b, at: infoStarts[0] + 8 + nameLen + 4, 1 << 40)
        expectError(b, "huge dim", contains: "out of range", open: openGGUF)
        let q = infoStarts[2]
        let qLen = Int(b[q])
        b = good
        patchU64(&b, at: q + 8 + qLen + 4, 63)
        expectError(b, "partial block", contains: "multiple of 32", open: openGGUF)
    }

    /// Flipping any header byte either still parses or gives a FormatError: never a crash.
    func testGGUFBitFlipsInHeader() throws {
        let good = try original("written.gguf")
        let f = try GGUFFile(path: FormatsFixtures.path("written.gguf"))
        var errors = 0
        for i in 0..<f.dataOffset {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var b = good
                b[i] ^= mask
                do { try openGGUF("flip.gguf", b) } catch is FormatError { errors += 1 }
            }
        }
        XCTAssertGreaterThan(errors, f.dataOffset / 2, "most header damage must be detected")
    }

    func openST(_ p: String, _ b: [UInt8]) throws { _ = try SafetensorsFile(mapped: MappedFile(bytes: b, name: p)) }

    func testSafetensorsMalformed() throws {
        let good = try original("small.safetensors")
        let n = Int(good[0]) | Int(good[1]) << 8
        expectError([], "empty", contains: "header length", open: openST)
        var b = good
        patchU64(&b, at: 0, 1 << 63)
        expectError(b, "huge header", contains: "header length", open: openST)
        b = good
        patchU64(&b, at: 0, UInt64(good.count))
        expectError(b, "header past EOF", contains: "header length", open: openST)
        b = good
        b[8] = UInt8(ascii: "[")
        expectError(b, "not JSON object", contains: "JSON", open: openST)
        for cut in [4, 8, 20, n + 8 - 1, n + 8 + 1, good.count - 1] {
            expectError(Array(good[0..<cut]), "cut at \(cut)", open: openST)
        }
        // Rewrite the header with bad entries.
        func withHeader(_ json: String) -> [UInt8] {
            var h = Array(json.utf8)
            while h.count % 8 != 0 { h.append(0x20) }
            var out = [UInt8](repeating: 0, count: 8)
            patchU64(&out, at: 0, UInt64(h.count))
            return out + h + [UInt8](repeating: 0, count: 32)
        }
        expectError(withHeader(#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,20]}}"#), "size mismatch", contains: "expected 16 bytes", open: openST)
        expectError(withHeader(#"{"a":{"dtype":"F32","shape":[4,4],"data_offsets":[0,64]}}"#), "past EOF", contains: "inside", open: openST)
        expectError(withHeader(#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}}"#), "overflow", contains: "overflow", open: openST)
        expectError(withHeader(#"{"a":{"dtype":"Q9","shape":[1],"data_offsets":[0,4]}}"#), "dtype", contains: "dtype", open: openST)
        expectError(withHeader(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#),
                    "overlap", contains: "overlaps", open: openST)
        expectError(withHeader(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#), "negative", open: openST)
        XCTAssertNoThrow(try openST("ok.st", withHeader(#"{"a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}"#)))
    }

    func testSafetensorsBitFlipsInHeader() throws {
        let good = try original("small.safetensors")
        let n = Int(good[0]) | Int(good[1]) << 8
        var errors = 0
        for i in 0..<(8 + n) {
            var b = good
            b[i] ^= 0x55
            do { try openST("flip.st", b) } catch is FormatError { errors += 1 }
        }
        XCTAssertGreaterThan(errors, n / 4)
    }

    func testLoadWeightsOnWrongThings() throws {
        XCTAssertThrowsError(try loadWeights(path: dir + "/nope.gguf")) { XCTAssertTrue("\($0)".contains("no such file"), "\($0)") }
        XCTAssertThrowsError(try loadWeights(path: dir)) { XCTAssertTrue("\($0)".contains("config.json"), "\($0)") }
        XCTAssertThrowsError(try loadWeights(path: FormatsFixtures.path("small.safetensors"))) { XCTAssertTrue("\($0)".contains("GGUF"), "\($0)") }
        // blocks.gguf is a GGUF but not a model: the error names the missing metadata.
        XCTAssertThrowsError(try loadWeights(path: FormatsFixtures.path("blocks.gguf"))) {
            XCTAssertTrue("\($0)".contains("llama.embedding_length"), "\($0)")
        }
    }
}
