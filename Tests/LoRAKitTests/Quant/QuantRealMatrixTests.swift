import Foundation
import XCTest
@testable import LoRAKit

/// Full fp32 values of a real SmolLM2 matrix for the bit-exact tests, by Hugging Face tensor name, read from the
/// sample GGUF (Q4_1 dequantized, q/k rows un-permuted): the fixture script checked these equal the HF folder's
/// float32 values bit for bit, which were bitsandbytes' input.
enum QuantRealWeights {
    static func load(_ name: String) throws -> (rows: Int, cols: Int, values: [Float]) {
        let source = try loadWeights(path: try TestModels.smollm2Path())
        let m = try source.matrix(name)
        return (m.rows, m.cols, m.dequantizedArray())
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
                let w = try QuantRealWeights.load(tensor)
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
