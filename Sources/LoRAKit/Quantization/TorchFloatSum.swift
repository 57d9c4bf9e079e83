/// The float32 sum torch's CPU kernel computes for a contiguous 1-D tensor (`t.sum()`), reproduced operation by
/// operation so double quantization's `offset = absmax.mean()` matches bitsandbytes bit for bit.
///
/// torch sums `lanes`-wide vectors (8 on AVX2, 16 on AVX-512) in 4 interleaved rows with a 4-level cascade,
/// then the scalar tail, then the lanes. Exact for one thread, i.e. inputs up to torch's grain size (32768);
/// larger inputs are split across threads by torch, so there a result within an ulp or two is all we claim.
public enum TorchFloatSum {
    /// Sum of `x` in torch's order (vector width `lanes`).
    public static func sum(_ x: UnsafeBufferPointer<Float>, lanes: Int = 8) -> Float {
        let n = x.count
        guard n > 0, let base = x.baseAddress else { return 0 }
        let vecCount = n / lanes
        // row_sum over vectors: (vecCount / 4, 4) rows through multi_row_sum, then leftover vectors, then fold.
        let ilp = 4
        let sizeILP = vecCount / ilp
        var partial = multiRowSum(base, rows: sizeILP, lanes: lanes, ilp: ilp)  // [ilp][lanes]
        for v in (sizeILP * ilp)..<vecCount {
            for l in 0..<lanes { partial[0][l] += base[v * lanes + l] }
        }
        for k in 1..<ilp {
            for l in 0..<lanes { partial[0][l] += partial[k][l] }
        }
        var acc: Float = 0
        for k in (vecCount * lanes)..<n { acc += base[k] }
        for l in 0..<lanes { acc += partial[0][l] }
        return Float(0) + acc
    }

    /// Mean as torch computes it on CPU: sum, then divide by the count in fp32.
    public static func mean(_ x: [Float], lanes: Int = 8) -> Float {
        guard !x.isEmpty else { return .nan }
        return x.withUnsafeBufferPointer { sum($0, lanes: lanes) } / Float(x.count)
    }

    // torch's multi_row_sum: `rows` rows of `ilp` vectors, cascaded in 4 levels of 2^levelPower rows.
    private static func multiRowSum(_ p: UnsafePointer<Float>, rows size: Int, lanes: Int, ilp: Int) -> [[Float]] {
        let levels = 4
        let levelPower = max(4, ceilLog2(size) / levels)
        let levelStep = 1 << levelPower
        let levelMask = levelStep - 1
        var acc = [[[Float]]](repeating: [[Float]](repeating: [Float](repeating: 0, count: lanes), count: ilp),
                              count: levels)
        @inline(__always) func addRow(_ i: Int) {
            for k in 0..<ilp {
                let v = p + (i * ilp + k) * lanes
                for l in 0..<lanes { acc[0][k][l] += v[l] }
            }
        }
        var i = 0
        while i + levelStep <= size {
            for _ in 0..<levelStep { addRow(i); i += 1 }
            for j in 1..<levels {
                for k in 0..<ilp {
                    for l in 0..<lanes { acc[j][k][l] += acc[j - 1][k][l]; acc[j - 1][k][l] = 0 }
                }
                if (i & (levelMask << (j * levelPower))) != 0 { break }
            }
        }
        while i < size { addRow(i); i += 1 }
        for j in 1..<levels {
            for k in 0..<ilp {
                for l in 0..<lanes { acc[0][k][l] += acc[j][k][l] }
            }
        }
        return acc[0]
    }

    // c10's CeilLog2: 0 for 0 and 1, else the bit width of (x - 1).
    private static func ceilLog2(_ x: Int) -> Int {
        if x <= 2 { return x <= 1 ? 0 : 1 }
        return Int.bitWidth - (x - 1).leadingZeroBitCount
    }
}
