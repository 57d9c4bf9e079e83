import Foundation
import XCTest
@testable import LoRAKit

/// The heap merge loop against the textbook one (rescan, merge every occurrence of the best pair): the same tokens on
/// random words under random BPE-style merge tables, where every merge builds on earlier ones as training makes them.
final class BPEMergeTests: XCTestCase {
    /// The textbook loop: find the lowest-ranked pair, merge its occurrences left to right, repeat.
    static func textbook(_ word: [Int32], _ rule: (Int32, Int32) -> (rank: Int32, merged: Int32)?) -> [Int32] {
        var syms = word
        while syms.count > 1 {
            var best: (at: Int, rank: Int32, merged: Int32)?
            for k in 0..<(syms.count - 1) {
                if let m = rule(syms[k], syms[k + 1]), m.rank < (best?.rank ?? .max) { best = (k, m.rank, m.merged) }
            }
            guard let b = best else { break }
            let (x, y) = (syms[b.at], syms[b.at + 1])
            var next = Array(syms[0..<b.at])
            var k = b.at
            while k < syms.count {
                if k + 1 < syms.count && syms[k] == x && syms[k + 1] == y { next.append(b.merged); k += 2 } else { next.append(syms[k]); k += 1 }
            }
            syms = next
        }
        return syms
    }

    func testTheHeapLoopMergesAsTheTextbookLoop() {
        var rng = SeededRNG(seed: 7)
        for table in 0..<40 {
            let alphabet = 2 + table % 4
            var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
            var rules: [(a: Int32, b: Int32, rank: Int32, merged: Int32)] = []
            var next = Int32(alphabet)
            for rank in 0..<(5 + table % 30) {
                let a = Int32(rng.next() % UInt64(next)), b = Int32(rng.next() % UInt64(next))
                let key = MergeTable.key(a, b)
                guard merges[key] == nil else { continue }
                merges[key] = (Int32(rank), next)
                rules.append((a, b, Int32(rank), next))
                next += 1
            }
            let mergeTable = MergeTable(rules)
            for (key, m) in merges {
                let r = mergeTable.rule(Int32(truncatingIfNeeded: key >> 32), Int32(truncatingIfNeeded: key))
                XCTAssertTrue(r?.rank == m.rank && r?.merged == m.merged, "the table finds every rule")
            }
            XCTAssertNil(mergeTable.rule(Int32(alphabet) + 100, 0))
            let rule = { (a: Int32, b: Int32) in merges[MergeTable.key(a, b)] }
            for _ in 0..<50 {
                let word = (0..<Int(1 + rng.next() % 40)).map { _ in Int32(rng.next() % UInt64(alphabet)) }
                let expected = Self.textbook(word, rule)
                XCTAssertEqual(BPEMerge.merge(word, table: mergeTable), expected, "table \(table), word \(word)")
            }
        }
        XCTAssertEqual(BPEMerge.merge([], table: MergeTable([])), [])
        XCTAssertEqual(BPEMerge.merge([3], table: MergeTable([(3, 3, 0, 9)])), [3])
        XCTAssertEqual(BPEMerge.merge([3, 3, 3], table: MergeTable([(3, 3, 0, 9)])), [9, 3], "left to right")
    }

    /// Long words merged in pieces give the tokens of the word merged whole, under tables in training order and under
    /// hand-made ones (ranks in any order, merges into tokens that merge again), where many cuts fail their check.
    func testPiecesMergeAsTheWholeWord() {
        var rng = SeededRNG(seed: 11)
        var held = 0, whole = 0
        for table in 0..<24 {
            let alphabet = 2 + table % 6
            let trained = table % 2 == 0
            var rules: [(a: Int32, b: Int32, rank: Int32, merged: Int32)] = []
            var seen = Set<UInt64>()
            var next = Int32(alphabet)
            let count = 10 + table * 5
            let ranks = (0..<count).map { Int32($0) }.shuffled(using: &rng)
            for k in 0..<count {
                let a = Int32(rng.next() % UInt64(next)), b = Int32(rng.next() % UInt64(next))
                guard seen.insert(MergeTable.key(a, b)).inserted else { continue }
                let merged = trained ? next : Int32(rng.next() % UInt64(next + 1))
                rules.append((a, b, trained ? Int32(k) : ranks[k], merged))
                if merged == next { next += 1 }
            }
            let mergeTable = MergeTable(rules)
            for _ in 0..<3 {
                let n = 2 * BPEMerge.pieceSymbols + Int(rng.next() % 20_000)
                let word = (0..<n).map { _ in Int32(rng.next() % UInt64(alphabet)) }
                let expected = BPEMerge.merge(word, table: mergeTable, pieces: false)
                let r = BPEMerge.mergeInPieces(word, table: mergeTable)
                XCTAssertEqual(r.tokens, expected, "table \(table) (trained \(trained)), \(n) symbols")
                if r.pieces > 1 { held += 1 } else { whole += 1 }
            }
        }
        XCTAssertGreaterThan(held, 10, "words where cuts held")
        XCTAssertGreaterThan(whole, 3, "words where no cut held")
    }

    /// The real tokenizer's merges on long words of letters, digits and one letter: pieces and whole agree.
    func testPiecesMergeAsTheWholeWordWithTheSmolLM2Tokenizer() throws {
        let tok = try BPETokenizer(tokenizerJSON: try TokenizerFixtures.url("tokenizer.json"))
        var rng = SeededRNG(seed: 9)
        let letters = (0..<60_000).map { _ in UInt8(ascii: "a") + UInt8(rng.next() % 26) }
        let mixed = (0..<60_000).map { _ in Array("etaoinshrdlu ETAOIN".utf8)[Int(rng.next() % 19)] }.filter { $0 != 32 }
        for bytes in [letters, mixed, [UInt8](repeating: UInt8(ascii: "a"), count: 30_000)] {
            let symbols = bytes.map { tok.byteTokens[Int($0)] }
            let r = BPEMerge.mergeInPieces(symbols, table: tok.merges)
            XCTAssertEqual(r.tokens, BPEMerge.merge(symbols, table: tok.merges, pieces: false))
            XCTAssertEqual(r.pieces > 1, bytes[0] != bytes[1], "random letters are cut; one letter repeated cannot be")
        }
    }
}

/// BPE's cost on adversarial words against ordinary text, cold cache (run by hand: LORATOP_BENCH=1 swift test
/// --filter BPECostBench). The bound: 1 MB without spaces within 2× the time of 1 MB of ordinary text.
final class BPECostBench: XCTestCase {
    func testCost() throws {
        guard ProcessInfo.processInfo.environment["LORATOP_BENCH"] == "1" else { throw XCTSkip("LORATOP_BENCH=1 to run") }
        let corpus = try TokenizerFixtures.corpus().joined(separator: "\n")
        let mb = 1 << 20
        var ordinary = ""
        while ordinary.utf8.count < mb { ordinary += corpus + "\n" }
        ordinary = String(decoding: Array(ordinary.utf8.prefix(mb)).filter { $0 < 0x80 }, as: UTF8.self)
        var rng = SeededRNG(seed: 3)
        let letters = String(decoding: (0..<mb).map { _ in UInt8(ascii: "a") + UInt8(rng.next() % 26) }, as: UTF8.self)
        let same = String(repeating: "a", count: mb)
        func median(_ text: String) throws -> Double {
            var times: [Double] = []
            for _ in 0..<5 {
                let tok = try BPETokenizer(tokenizerJSON: try TokenizerFixtures.url("tokenizer.json"))  // empty word cache
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = tok.encode(text)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            return times.sorted()[2]
        }
        let tok = try BPETokenizer(tokenizerJSON: try TokenizerFixtures.url("tokenizer.json"))
        let symbols = Array(letters.utf8).map { tok.byteTokens[Int($0)] }
        for pieces in [false, true] {
            var times: [Double] = []
            for _ in 0..<5 {
                let t0 = DispatchTime.now().uptimeNanoseconds
                _ = BPEMerge.merge(symbols, table: tok.merges, pieces: pieces)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            print(String(format: "BPECostBench: the merge loop alone on the 1 MB word, %@: median %.3f s", pieces ? "in pieces" : "whole",
                         times.sorted()[2]))
        }
        let base = try median(ordinary), random = try median(letters), one = try median(same)
        print(String(format: "BPECostBench: 1 MB ordinary %.3f s; 1 MB random letters, no space %.3f s (%.2f×); 1 MB of 'a' %.3f s (%.2f×)",
                     base, random, random / base, one, one / base))
    }
}
