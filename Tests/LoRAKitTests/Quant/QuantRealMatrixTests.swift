import Foundation
import XCTest
@testable import LoRAKit

/// Full fp32 values of a real SmolLM2 matrix for the bit-exact tests, by Hugging Face tensor name.
/// Today: the HF folder's model.safetensors when present. The lead wires `loader` to the GGUF reader
/// (the fixture script checked these three matrices are bit-identical to the GGUF's Q4_1 dequantized).
enum QuantRealWeights {
    nonisolated(unsafe) static var loader: (String) throws -> (rows: Int, cols: Int, values: [Float])? = fromSafetensors

    static let hfFile: String = {
        let home = ProcessInfo.processInfo.environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        return home + "/.cache/loratop-ref/models/smollm2-135m-hf/model.safetensors"
    }()

    /// Reads one F32 2-D tensor from the HF folder's safetensors file; nil when the file is absent.
    static func fromSafetensors(_ name: String) throws -> (rows: Int, cols: Int, values: [Float])? {
        guard let fh = FileHandle(forReadingAtPath: hfFile) else { return nil }
        defer { try? fh.close() }
        guard let lenData = try fh.read(upToCount: 8), lenData.count == 8 else { throw FixtureError("short header") }
        let len = lenData.enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        guard let headerData = try fh.read(upToCount: len),
              let header = try JSONSerialization.jsonObject(with: headerData) as? [String: Any],
              let info = header[name] as? [String: Any], let shape = info["shape"] as? [Int],
              let offs = info["data_offsets"] as? [Int], info["dtype"] as? String == "F32", shape.count == 2
        else { throw FixtureError("\(hfFile): tensor \(name) missing or not 2-D F32") }
        try fh.seek(toOffset: UInt64(8 + len + offs[0]))
        guard let raw = try fh.read(upToCount: offs[1] - offs[0]), raw.count == shape[0] * shape[1] * 4 else {
            throw FixtureError("\(hfFile): tensor \(name) truncated")
        }
        var values = [Float](repeating: 0, count: shape[0] * shape[1])
        _ = values.withUnsafeMutableBytes { raw.copyBytes(to: $0) }
        return (shape[0], shape[1], values)
    }
}

/// Bit-exact agreement with bitsandbytes on three real SmolLM2 matrices (q_proj 576×576, down_proj 576×1536,
/// up_proj 1536×576), NF4/FP4/INT8 with and without double quantization: SHA-256 of codes, scales and output,
/// and the first 4096 outputs verbatim.
final class QuantRealMatrixTests: XCTestCase {
    func testRealSmolLM2MatricesAreBitExact() throws {
        let cases = try QuantFixtures.cases("bnb_real.json")
        XCTAssertEqual(cases.count, 18)
        var loaded = [String: (rows: Int, cols: Int, values: [Float])]()
        for e in cases {
            guard let tensor = e["tensor"] as? String, let kind = e["kind"] as? String, let bs = e["blockSize"] as? Int,
                  let dq = e["doubleQuant"] as? Bool else { throw FixtureError("malformed case") }
            let label = "\(tensor) \(kind)\(dq ? "+dq" : "")"
            if loaded[tensor] == nil {
                guard let w = try QuantRealWeights.loader(tensor) else {
                    throw XCTSkip("real SmolLM2 weights not available (no \(QuantRealWeights.hfFile)); "
                                  + "wire QuantRealWeights.loader to the GGUF reader to run this in CI")
                }
                XCTAssertEqual(sha256Hex(leBytes(w.values)), e["inputSHA256"] as? String, "\(tensor): input hash")
                XCTAssertNil(firstBitDifference(Array(w.values[0..<4096]), try QuantFixtures.floats(e, "input4096")))
                loaded[tensor] = w
            }
            guard let w = loaded[tensor] else { continue }
            XCTAssertEqual([w.rows, w.cols], [e["rows"] as? Int ?? -1, e["cols"] as? Int ?? -1], label)
            let got = try quantizeLikeFixture(rows: w.rows, cols: w.cols, values: w.values, kind: kind,
                                              blockSize: bs, doubleQuant: dq)
            XCTAssertEqual(sha256Hex(got.codes), e["codesSHA256"] as? String, "\(label): codes")
            for key in dq ? ["codes2", "absmax2"] : ["absmax"] {
                XCTAssertEqual(sha256Hex(got.state[key] ?? []), e[key + "SHA256"] as? String, "\(label): \(key)")
            }
            if dq { XCTAssertEqual(got.state["offset"], try QuantFixtures.bytes(e, "offset"), "\(label): offset") }
            XCTAssertNil(firstBitDifference(Array(got.output[0..<4096]), try QuantFixtures.floats(e, "output4096")),
                         "\(label): first 4096 outputs")
            XCTAssertEqual(sha256Hex(leBytes(got.output)), e["outputSHA256"] as? String, "\(label): output")
        }
    }
}
