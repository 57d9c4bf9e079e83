import Foundation

/// Rotary position embedding, Hugging Face rotate-half convention: for i < hd/2,
/// out[i] = x[i]·cos − x[i+hd/2]·sin, out[i+hd/2] = x[i+hd/2]·cos + x[i]·sin, angle = pos · θ^(−2i/hd).
public final class RoPETable: @unchecked Sendable {
    /// Head width hd.
    public let headDim: Int
    /// Base θ.
    public let theta: Float
    /// Frequency scaling (Llama 3.x), nil for none.
    public let scaling: RoPEScaling?
    /// Positions covered.
    public private(set) var length: Int
    var cosTable: [Float]  // (length, hd/2)
    var sinTable: [Float]  // (length, hd/2)

    /// Tables for positions 0..<length.
    public init(headDim: Int, theta: Float, length: Int, scaling: RoPEScaling? = nil) {
        self.headDim = headDim
        self.theta = theta
        self.scaling = scaling
        self.length = 0
        cosTable = []
        sinTable = []
        ensure(length)
    }

    /// Grows the tables to cover positions 0..<n.
    public func ensure(_ n: Int) {
        guard n > length else { return }
        let half = headDim / 2
        // Same float32 arithmetic as transformers: inv_freq = 1/θ^(2i/hd), angle = float(pos)·inv_freq.
        let inv = RoPEScaling.inverseFrequencies(headDim: headDim, theta: theta, scaling: scaling)
        var c = [Float](repeating: 0, count: n * half), s = c
        for p in 0..<n {
            for i in 0..<half {
                let a = Float(p) * inv[i]
                c[p * half + i] = Float(cos(Double(a)))
                s[p * half + i] = Float(sin(Double(a)))
            }
        }
        cosTable = c
        sinTable = s
        length = n
    }
}

/// Applies RoPE in place to every head of every row.
public enum RoPE {
    /// x (N, heads·hd) rotated in place; row n sits at position `offset + n % T`.
    public static func forward(
        x: UnsafeMutablePointer<Float>, table: RoPETable, N: Int, T: Int, heads: Int, offset: Int = 0
    ) {
        apply(x, table, N, T, heads, offset, sign: 1)
    }

    /// dx (N, heads·hd) in place: the transpose (inverse) rotation of the forward.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, table: RoPETable, N: Int, T: Int, heads: Int, offset: Int = 0
    ) {
        apply(dx, table, N, T, heads, offset, sign: -1)
    }

    static func apply(
        _ x: UnsafeMutablePointer<Float>, _ table: RoPETable, _ N: Int, _ T: Int, _ heads: Int, _ offset: Int,
        sign: Float
    ) {
        let hd = table.headDim, half = hd / 2, width = heads * hd
        table.cosTable.withUnsafeBufferPointer { cb in
            table.sinTable.withUnsafeBufferPointer { sb in
                guard let cp = cb.baseAddress, let sp = sb.baseAddress else { return }
                Parallel.forRanges(N, minChunk: 32) { rows in
                    for n in rows {
                        let pos = offset + n % T
                        let c = cp + pos * half, s = sp + pos * half
                        for h in 0..<heads {
                            let lo = x + n * width + h * hd, hi = lo + half
                            var i = 0
                            while i + 8 <= half {
                                let a = Vec.load(lo + i), b = Vec.load(hi + i)
                                let cv = Vec.load(c + i), sv = Vec.load(s + i) * sign
                                Vec.store(a * cv - b * sv, lo + i)
                                Vec.store(b * cv + a * sv, hi + i)
                                i += 8
                            }
                            while i < half {
                                let a = lo[i], b = hi[i], sv = s[i] * sign
                                lo[i] = a * c[i] - b * sv
                                hi[i] = b * c[i] + a * sv
                                i += 1
                            }
                        }
                    }
                }
            }
        }
    }
}
