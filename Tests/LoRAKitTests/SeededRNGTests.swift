import XCTest
@testable import LoRAKit

final class SeededRNGTests: XCTestCase {
    func testSameSeedSameSequenceAndStateRestores() {
        var a = SeededRNG(seed: 42)
        var b = SeededRNG(seed: 42)
        for _ in 0..<100 { XCTAssertEqual(a.next(), b.next()) }
        let saved = a.state
        let x = (0..<10).map { _ in a.next() }
        var c = SeededRNG(state: saved)
        XCTAssertEqual(x, (0..<10).map { _ in c.next() })
        XCTAssertNotEqual(SeededRNG(seed: 1).state, SeededRNG(seed: 2).state)
    }

    func testUnitFloatRangeAndMean() {
        var r = SeededRNG(seed: 7)
        var sum = 0.0
        for _ in 0..<10000 {
            let u = r.nextUnitFloat()
            XCTAssert(u >= 0 && u < 1)
            sum += Double(u)
        }
        XCTAssertEqual(sum / 10000, 0.5, accuracy: 0.02)
    }
}

final class DenseMatrixTests: XCTestCase {
    func testWithRowsDenseAndGemm() {
        let m = DenseMatrix(rows: 2, cols: 3, values: [1, 2, 3, 4, 5, 6])
        let scratch = ScratchBuffer()
        let x: [Float] = [1, 0, -1]  // (1, 3)
        var y = [Float](repeating: 0, count: 2)
        m.withRows(0..<2, scratch: scratch) { w in
            x.withUnsafeBufferPointer { xp in
                y.withUnsafeMutableBufferPointer { yp in
                    // y (1,2) = x (1,3) · Wᵀ (3,2)
                    BLAS.gemm(transB: true, m: 1, n: 2, k: 3, a: xp.baseAddress!, lda: 3,
                              b: w, ldb: 3, c: yp.baseAddress!, ldc: 2)
                }
            }
        }
        XCTAssertEqual(y, [-2, -2])
        XCTAssertEqual(m.dequantizedArray(), [1, 2, 3, 4, 5, 6])
    }
}
