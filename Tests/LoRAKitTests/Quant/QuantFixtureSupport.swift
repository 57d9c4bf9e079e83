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

/// SHA-256 (FIPS 180-4), hex digest. Small and slow-ish; fine for a few MB in tests.
func sha256Hex(_ message: [UInt8]) -> String {
    let k: [UInt32] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
        0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
        0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
        0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
        0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
        0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
        0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
    ]
    var h: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
    var msg = message
    let bitLen = UInt64(message.count) * 8
    msg.append(0x80)
    while msg.count % 64 != 56 { msg.append(0) }
    for i in (0..<8).reversed() { msg.append(UInt8(bitLen >> (UInt64(i) * 8) & 0xFF)) }
    @inline(__always) func rotr(_ x: UInt32, _ n: UInt32) -> UInt32 { (x >> n) | (x << (32 - n)) }
    var w = [UInt32](repeating: 0, count: 64)
    for chunk in stride(from: 0, to: msg.count, by: 64) {
        for i in 0..<16 {
            let j = chunk + i * 4
            w[i] = UInt32(msg[j]) << 24 | UInt32(msg[j + 1]) << 16 | UInt32(msg[j + 2]) << 8 | UInt32(msg[j + 3])
        }
        for i in 16..<64 {
            let s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3)
            let s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10)
            w[i] = w[i - 16] &+ s0 &+ w[i - 7] &+ s1
        }
        var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7]
        for i in 0..<64 {
            let s1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)
            let ch = (e & f) ^ (~e & g)
            let t1 = hh &+ s1 &+ ch &+ k[i] &+ w[i]
            let s0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)
            let maj = (a & b) ^ (a & c) ^ (b & c)
            let t2 = s0 &+ maj
            hh = g; g = f; f = e; e = d &+ t1; d = c; c = b; b = a; a = t1 &+ t2
        }
        h[0] = h[0] &+ a; h[1] = h[1] &+ b; h[2] = h[2] &+ c; h[3] = h[3] &+ d
        h[4] = h[4] &+ e; h[5] = h[5] &+ f; h[6] = h[6] &+ g; h[7] = h[7] &+ hh
    }
    return h.map { v in (0..<8).map { String((v >> (28 - UInt32($0) * 4)) & 0xF, radix: 16) }.joined() }.joined()
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
