/// A linear layer with a frozen weight W (out, in) in any storage and an optional frozen bias:
/// y = x Wᵀ + b. One sgemm over all N rows when W is dense; for quantized storage W is dequantized tile by
/// tile into a reusable scratch buffer, each tile multiplied, and nothing full-precision is kept.
/// When the run computes in bf16 (`Compute.bf16`) the same products run through `LinearBF16` (oneDNN).
public enum Linear {
    /// Rows of W per dequantized tile (about 1 MiB of fp32, at least 64 rows).
    @inlinable
    static func tileRows(_ w: FrozenMatrix) -> Int { max(64, (1 << 18) / max(1, w.cols)) }

    /// out (N, out) = x (N, in) Wᵀ (+ bias); `beta` 1 accumulates into out instead.
    public static func forward(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight w: FrozenMatrix, bias: [Float]?,
        N: Int, scratch: ScratchBuffer, beta: Float = 0
    ) {
        let O = w.rows, I = w.cols
        if Compute.bf16, beta == 0 || beta == 1 {
            LinearBF16.forward(out: out, x: x, weight: w, N: N, scratch: scratch, accumulate: beta == 1)
        } else if let base = w.denseBase {
            Parallel.gemm(transB: true, m: N, n: O, k: I, a: x, lda: I, b: base, ldb: I, beta: beta, c: out, ldc: O)
        } else {
            let tr = tileRows(w)
            var r0 = 0
            while r0 < O {
                let r1 = min(O, r0 + tr)
                w.withRows(r0..<r1, scratch: scratch) { tile in
                    Parallel.gemm(transB: true, m: N, n: r1 - r0, k: I, a: x, lda: I, b: tile, ldb: I,
                                  beta: beta, c: out + r0, ldc: O)
                }
                r0 = r1
            }
        }
        if let bias {
            bias.withUnsafeBufferPointer { bp in
                guard let b = bp.baseAddress else { return }
                Parallel.forRanges(N, minChunk: 64) { rows in for n in rows { Vec.add(out + n * O, b, O) } }
            }
        }
    }

    /// dx (N, in) = dout (N, out) · W + beta · dx: beta 1 (the default) accumulates, 0 overwrites (dx may then hold
    /// anything on entry). W and the bias are frozen: no weight gradient.
    public static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, weight w: FrozenMatrix, N: Int, scratch: ScratchBuffer,
        beta: Float = 1
    ) {
        let O = w.rows, I = w.cols
        if Compute.bf16, beta == 0 || beta == 1 {
            LinearBF16.backward(dx: dx, dout: dout, weight: w, N: N, scratch: scratch, accumulate: beta == 1)
            return
        }
        if let base = w.denseBase {
            Parallel.gemm(m: N, n: I, k: O, a: dout, lda: O, b: base, ldb: I, beta: beta, c: dx, ldc: I)
            return
        }
        let tr = tileRows(w)
        var r0 = 0
        while r0 < O {
            let r1 = min(O, r0 + tr)
            w.withRows(r0..<r1, scratch: scratch) { tile in
                Parallel.gemm(m: N, n: I, k: r1 - r0, a: dout + r0, lda: O, b: tile, ldb: I, beta: r0 == 0 ? beta : 1,
                              c: dx, ldc: I)
            }
            r0 = r1
        }
    }
}
