import Foundation
import XCTest
@testable import LoRAKit

/// Bit-exact agreement with bitsandbytes 0.50.2 (CPU) on the edge-case fixture: all-zero and -0.0 blocks, tiny
/// (subnormal) values, values exactly on NF4 midpoints, odd and unaligned lengths, several block sizes.
final class QuantBnbEdgeTests: XCTestCase {
    /// The fixture's many_blocks input, recomputed in fp32 exactly as the generator script does.
    static func manyBlocksInput(count: Int) -> [Float] {
        (0..<count).map { (i: Int) -> Float in
            let numerator: Int = (i * 7919) % 2003 - 1001
            let base: Float = Float(numerator) / Float(40000)
            let bump: Float = i % 13 == 0 ? Float(0.1) : Float(0)
            return base + bump
        }
    }

    func testDynamicMapMatchesBitsandbytes() throws {
        let data = [UInt8](try Data(contentsOf: try QuantFixtures.url("dynamic_map.bin")))
        XCTAssertEqual(data.count, 1024)
        XCTAssertNil(firstByteDifference(leBytes(DynamicMap.values), data))
        XCTAssertEqual(DynamicMap.values[127], 0)
        XCTAssertEqual(DynamicMap.values[255], 1)
        XCTAssertEqual(DynamicMap.values, DynamicMap.values.sorted())
    }

    func testEveryEdgeCaseIsBitExact() throws {
        let cases = try QuantFixtures.cases("bnb_edge.json")
        XCTAssertGreaterThanOrEqual(cases.count, 30)
        var checked = 0
        for e in cases {
            guard let name = e["name"] as? String, let kind = e["kind"] as? String, let bs = e["blockSize"] as? Int,
                  let dq = e["doubleQuant"] as? Bool, let rows = e["rows"] as? Int, let cols = e["cols"] as? Int
            else { throw FixtureError("malformed case") }
            let label = "\(name) \(kind) bs\(bs)\(dq ? " dq" : "")"
            let input: [Float]
            if e["input"] != nil {
                input = try QuantFixtures.floats(e, "input")
            } else {
                input = Self.manyBlocksInput(count: rows * cols)
                XCTAssertEqual(sha256Hex(leBytes(input)), e["inputSHA256"] as? String, "\(label): recipe input")
            }
            let got = try quantizeLikeFixture(rows: rows, cols: cols, values: input, kind: kind, blockSize: bs,
                                              doubleQuant: dq)
            let codes = try QuantFixtures.bytes(e, "codes")
            XCTAssertNil(firstByteDifference(got.codes, codes), "\(label): codes")
            for key in dq ? ["codes2", "absmax2", "offset"] : ["absmax"] {
                let want = try QuantFixtures.bytes(e, key)
                XCTAssertNil(firstByteDifference(got.state[key] ?? [], want), "\(label): \(key)")
            }
            if e["output"] != nil {
                XCTAssertNil(firstBitDifference(got.output, try QuantFixtures.floats(e, "output")), "\(label): output")
            }
            XCTAssertEqual(sha256Hex(leBytes(got.output)), e["outputSHA256"] as? String, "\(label): output hash")
            checked += 1
        }
        XCTAssertEqual(checked, cases.count)
    }
}
