import Foundation
import XCTest
@testable import LoRAKit

/// Reads the committed bitsandbytes fixtures (Fixtures/quant, made by make_bnb_fixture.py).
enum QuantFixtures {
    static func url(_ name: String) throws -> URL {
        guard let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw XCTSkip("Fixtures folder missing from the test bundle")
        }
        return dir.appendingPathComponent("quant").appendingPathComponent(name)
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: try url(name))
        guard let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError("\(name): top level is not an object")
        }
        return obj
    }

    static func cases(_ name: String) throws -> [[String: Any]] {
        guard let c = try json(name)["cases"] as? [[String: Any]] else { throw FixtureError("\(name): no cases") }
        return c
    }

    static func bytes(_ e: [String: Any], _ key: String) throws -> [UInt8] {
        guard let s = e[key] as? String, let d = Data(base64Encoded: s) else { throw FixtureError("missing \(key)") }
        return [UInt8](d)
    }

    static func floats(_ e: [String: Any], _ key: String) throws -> [Float] {
        let b = try bytes(e, key)
        return stride(from: 0, to: b.count, by: 4).map {
            Float(bitPattern: UInt32(b[$0]) | UInt32(b[$0 + 1]) << 8 | UInt32(b[$0 + 2]) << 16 | UInt32(b[$0 + 3]) << 24)
        }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}

/// Little-endian bytes of fp32 values (for hashing and byte comparison).
func leBytes(_ x: [Float]) -> [UInt8] {
    var out = [UInt8]()
    out.reserveCapacity(x.count * 4)
    for v in x {
        let b = v.bitPattern
        out += [UInt8(b & 0xFF), UInt8(b >> 8 & 0xFF), UInt8(b >> 16 & 0xFF), UInt8(b >> 24)]
    }
    return out
}

/// Index and bit patterns of the first difference, for failure messages.
func firstBitDifference(_ a: [Float], _ b: [Float]) -> String? {
    if a.count != b.count { return "count \(a.count) vs \(b.count)" }
    for i in 0..<a.count where a[i].bitPattern != b[i].bitPattern {
        return "index \(i): \(a[i]) (0x\(String(a[i].bitPattern, radix: 16))) vs \(b[i]) (0x\(String(b[i].bitPattern, radix: 16)))"
    }
    return nil
}

func firstByteDifference(_ a: [UInt8], _ b: [UInt8]) -> String? {
    if a.count != b.count { return "count \(a.count) vs \(b.count)" }
    for i in 0..<a.count where a[i] != b[i] { return "index \(i): \(a[i]) vs \(b[i])" }
    return nil
}

/// SHA-256 hex digest of `message` (LoRAKit's implementation, itself checked against known vectors).
func sha256Hex(_ message: [UInt8]) -> String {
    message.withUnsafeBytes { SHA256.hex($0) }
}

/// Quantizes `values` like bitsandbytes and returns (codes, scale-state byte arrays by fixture key, output).
func quantizeLikeFixture(rows: Int, cols: Int, values: [Float], kind: String, blockSize: Int, doubleQuant: Bool)
    throws -> (codes: [UInt8], state: [String: [UInt8]], output: [Float])
{
    let dense = DenseMatrix(rows: rows, cols: cols, values: values)
    guard let k = QuantKind(parsing: kind) else { throw FixtureError("unknown kind \(kind)") }
    let q = try Quantizer.quantize(dense, kind: k, blockSize: blockSize, doubleQuant: doubleQuant, name: "fixture")
    let codes: [UInt8]
    let scales: BlockScales
    if let m = q as? Blockwise4BitMatrix {
        codes = m.packedCodes; scales = m.scales
    } else if let m = q as? Int8BlockMatrix {
        codes = m.codeBytes; scales = m.scales
    } else {
        throw FixtureError("unexpected storage \(q.storageName)")
    }
    var state = [String: [UInt8]]()
    if let p = scales.plainValues { state["absmax"] = leBytes(p) }
    if let c = scales.nestedCodes { state["codes2"] = c }
    if let a = scales.nestedAbsmax { state["absmax2"] = leBytes(a) }
    if scales.isNested { state["offset"] = leBytes([scales.offset]) }
    return (codes, state, q.dequantizedArray())
}
