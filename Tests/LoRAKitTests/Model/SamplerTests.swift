import XCTest
@testable import LoRAKit

final class SamplerTests: XCTestCase {
    func testGreedyIsArgmaxFirstOnTies() {
        var s = Sampler(SamplingOptions())
        XCTAssertEqual(s.next([0.1, 3, 3, -1]), 1)
    }

    func testTopKOneIsGreedyWhateverTheTemperature() {
        var s = Sampler(SamplingOptions(temperature: 5, topK: 1, seed: 3))
        for _ in 0..<20 { XCTAssertEqual(s.next([0.1, 2, 1.9, -1]), 1) }
    }

    func testTopPKeepsTheSmallestNucleus() {
        // Probabilities ≈ [0.64, 0.24, 0.09, 0.03]: top-p 0.7 keeps the first two only.
        let logits: [Float] = [2, 1.02, 0.04, -1.1]
        var s = Sampler(SamplingOptions(temperature: 1, topP: 0.7, seed: 9))
        var seen = Set<Int32>()
        for _ in 0..<500 { seen.insert(s.next(logits)) }
        XCTAssertEqual(seen, [0, 1])
    }

    func testSameSeedSameSamplesAndFrequenciesFollowTheSoftmax() {
        let logits: [Float] = [0, Float(log(3.0))]  // p = [0.25, 0.75]
        var a = Sampler(SamplingOptions(temperature: 1, seed: 42)), b = Sampler(SamplingOptions(temperature: 1, seed: 42))
        var ones = 0
        for _ in 0..<4000 {
            let x = a.next(logits)
            XCTAssertEqual(x, b.next(logits))
            ones += Int(x)
        }
        XCTAssertEqual(Double(ones) / 4000, 0.75, accuracy: 0.03)
    }

    func testNonFiniteLogitsAreNeverChosen() {
        var s = Sampler(SamplingOptions(temperature: 1, seed: 1))
        for _ in 0..<100 { XCTAssertNotEqual(s.next([-.infinity, 0, .nan, 0]), 0) }
    }
}
