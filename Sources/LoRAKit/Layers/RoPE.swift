import Foundation

/// Rotary position embedding, Hugging Face rotate-half convention: for i < hd/2,
/// out[i] = x[i]·cos − x[i+hd/2]·sin, out[i+hd/2] = x[i+hd/2]·cos + x[i]·sin, angle = pos · θ^(−2i/hd).
public final class RoPETable: @unchecked Sendable {
    /// Head width hd.
    public let headDim: Int
    /// Base θ.
    public let theta: Float
    /// Frequency scaling (Llama 3.x, linear, dynamic NTK), nil for none.
    public let scaling: RoPEScaling?
    /// The first position covered: 0, except for a table of one forward's positions (`frames(for:)`).
    public let first: Int
    /// Positions covered: first..<first + length.
    public private(set) var length: Int
    var cosTable: [Float]  // (length, hd/2)
    var sinTable: [Float]  // (length, hd/2)

    /// Tables for positions 0..<length.
    public init(headDim: Int, theta: Float, length: Int, scaling: RoPEScaling? = nil) {
        self.headDim = headDim
        self.theta = theta
        self.scaling = scaling
        self.first = 0
        self.length = 0
        cosTable = []
        sinTable = []
        ensure(length)
    }

    /// Tables of the inverse frequencies `inv` for `positions` alone (fixed: `ensure` does nothing to them).
    private init(headDim: Int, theta: Float, scaling: RoPEScaling?, inverse inv: [Float], positions: Range<Int>) {
        self.headDim = headDim
        self.theta = theta
        self.scaling = scaling
        self.first = positions.lowerBound
        self.length = positions.count
        (cosTable, sinTable) = Self.tables(inv, positions)
    }

    /// Grows the tables to cover positions 0..<n.
    public func ensure(_ n: Int) {
        guard n > length, first == 0 else { return }
        (cosTable, sinTable) = Self.tables(RoPEScaling.inverseFrequencies(headDim: headDim, theta: theta, scaling: scaling), 0..<n)
        length = n
    }

    /// The table a forward over `positions` uses (its length L is positions.upperBound, as transformers takes the
    /// largest position + 1): this one, which must already cover them (`ensure`), unless the frequencies depend on
    /// L (dynamic NTK past its context), when it is a table of L's frequencies for just those positions.
    public func frames(for positions: Range<Int>) -> RoPETable {
        guard case .dynamic(_, let context)? = scaling, positions.upperBound > context else { return self }
        let inv = RoPEScaling.inverseFrequencies(headDim: headDim, theta: theta, scaling: scaling, length: positions.upperBound)
        return RoPETable(headDim: headDim, theta: theta, scaling: scaling, inverse: inv, positions: positions)
    }

    /// cos and sin of position · inv[i] for each position and pair, in transformers' float32 arithmetic:
    /// angle = float(pos)·inv_freq.
    private static func tables(_ inv: [Float], _ positions: Range<Int>) -> (cos: [Float], sin: [Float]) {
        let half = inv.count
        var c = [Float](repeating: 0, count: positions.count * half), s = c
        for (row, p) in positions.enumerated() {
            for i in 0..<half {
                let a = Float(p) * inv[i]
                c[row * half + i] = Float(cos(Double(a)))
                s[row * half + i] = Float(sin(Double(a)))
            }
        }
        return (c, s)
    }
}

/// Applies RoPE in place to every head of every row.
public enum RoPE {
    /// x (N, heads·hd) rotated in place; row n sits at position `offset + n % T`, which `table` covers.
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
                        let row = offset + n % T - table.first
                        let c = cp + row * half, s = sp + row * half
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
