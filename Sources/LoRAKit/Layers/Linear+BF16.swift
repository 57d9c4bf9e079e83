import Dispatch

/// The bf16 backend of `Linear`: the activation (or gradient) operand rounded to bf16 once per call, W as bf16 (a
/// `BF16Matrix`'s own storage, or tiles of any other storage dequantized straight to bf16), oneDNN's matmul with fp32
/// accumulation into the fp32 output. The same products, shapes and tiling as the fp32 path.
enum LinearBF16 {
    /// Rows of W per bf16 tile: equal tiles of at most 2¹⁹ values (1 MiB, an L2's worth), multiples of 16 rows. Fewer,
    /// wider tiles than fp32's: a product over a narrow remainder tile runs well below peak.
    static func tileRows(_ w: FrozenMatrix) -> Int {
        let tiles = max(1, (w.rows * w.cols + (1 << 19) - 1) >> 19)
        return min(w.rows, max(16, ((w.rows + tiles - 1) / tiles + 15) / 16 * 16))
    }

    /// out (N, out) = x (N, in) Wᵀ (+ out when `accumulate`); fp32 x and out.
    static func forward(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight w: FrozenMatrix, N: Int, scratch: ScratchBuffer,
        accumulate: Bool
    ) {
        let O = w.rows, I = w.cols
        let xb = scratch.bf16Input.reserve(N * I)
        convertInParallel(x, to: xb, count: N * I)
        // out[:, rows] = x · tileᵀ
        forEachTile(w, scratch: scratch) { rows, tile in
            product(m: N, n: rows.count, k: I, a: xb, lda: I, b: tile, ldb: I, transB: true, c: out + rows.lowerBound,
                    ldc: O, accumulate: accumulate)
        }
    }

    /// dx (N, in) = dout (N, out) · W (+ dx when `accumulate`); fp32 dout and dx.
    static func backward(
        dx: UnsafeMutablePointer<Float>, dout: UnsafePointer<Float>, weight w: FrozenMatrix, N: Int, scratch: ScratchBuffer,
        accumulate: Bool
    ) {
        let O = w.rows, I = w.cols
        let gb = scratch.bf16Input.reserve(N * O)
        convertInParallel(dout, to: gb, count: N * O)
        // dx += dout[:, rows] · tile, the first tile overwriting unless accumulating
        forEachTile(w, scratch: scratch) { rows, tile in
            product(m: N, n: I, k: rows.count, a: gb + rows.lowerBound, lda: O, b: tile, ldb: I, transB: false, c: dx,
                    ldc: I, accumulate: rows.lowerBound > 0 || accumulate)
        }
    }

    /// Calls `body` with W's rows as bf16, tile by tile (one call with the storage itself when it is bf16).
    static func forEachTile(_ w: FrozenMatrix, scratch: ScratchBuffer, _ body: (Range<Int>, UnsafePointer<UInt16>) -> Void) {
        if let base = w.bf16Base {
            body(0..<w.rows, base)
            return
        }
        let tr = tileRows(w)
        var r0 = 0
        while r0 < w.rows {
            let r1 = min(w.rows, r0 + tr)
            let tile = scratch.bf16Weights.reserve((r1 - r0) * w.cols)
            dequantizeInParallel(w, rows: r0..<r1, into: tile)
            body(r0..<r1, tile)
            r0 = r1
        }
    }

    /// C (m, n) = A · op(B) (+ C), split over the engine's workers along the longer side of C as `Parallel.gemm` does,
    /// each block a single-threaded oneDNN call; a product oneDNN refuses is computed in fp32 from the same bf16 values.
    static func product(
        m: Int, n: Int, k: Int, a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int, transB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        let w = Parallel.workers
        func block(_ i0: Int, _ i1: Int, _ j0: Int, _ j1: Int) {
            let bp = transB ? b + j0 * ldb : b + j0
            if !OneDNN.matmul(m: i1 - i0, n: j1 - j0, k: k, a: a + i0 * lda, lda: lda, b: bp, ldb: ldb, transB: transB,
                              c: c + i0 * ldc + j0, ldc: ldc, accumulate: accumulate) {
                widenedProduct(m: i1 - i0, n: j1 - j0, k: k, a: a + i0 * lda, lda: lda, b: bp, ldb: ldb, transB: transB,
                               c: c + i0 * ldc + j0, ldc: ldc, accumulate: accumulate)
            }
        }
        if w <= 1 || m * n * max(k, 1) < 1 << 18 {
            block(0, m, 0, n)
        } else if m >= 32 * w && (m > n || n < 32 * w) {
            let per = ((m + w - 1) / w + 15) / 16 * 16, parts = (m + per - 1) / per
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let i0 = p * per, i1 = min(m, i0 + per)
                if i0 < i1 { block(i0, i1, 0, n) }
            }
        } else if n >= 32 * w {
            let per = ((n + w - 1) / w + 15) / 16 * 16, parts = (n + per - 1) / per
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let j0 = p * per, j1 = min(n, j0 + per)
                if j0 < j1 { block(0, m, j0, j1) }
            }
        } else {
            block(0, m, 0, n)
        }
    }

    /// The same product through OpenBLAS on the operands widened to fp32 (exact): the fallback when oneDNN cannot run.
    static func widenedProduct(
        m: Int, n: Int, k: Int, a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int, transB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) {
        let af = UnsafeMutablePointer<Float>.allocate(capacity: max(1, m * k))
        let bf = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n * k))
        defer { af.deallocate(); bf.deallocate() }
        for i in 0..<m { BFloat16.widen(a + i * lda, to: af + i * k, count: k) }
        if transB {
            for j in 0..<n { BFloat16.widen(b + j * ldb, to: bf + j * k, count: k) }
        } else {
            for i in 0..<k { BFloat16.widen(b + i * ldb, to: bf + i * n, count: n) }
        }
        BLAS.gemm(transB: transB, m: m, n: n, k: k, a: af, lda: k, b: bf, ldb: transB ? k : n, beta: accumulate ? 1 : 0,
                  c: c, ldc: ldc)
    }

    /// `BFloat16.convert` split over the workers for large operands.
    static func convertInParallel(_ src: UnsafePointer<Float>, to dst: UnsafeMutablePointer<UInt16>, count: Int) {
        guard Parallel.workers > 1, count >= 1 << 16 else {
            BFloat16.convert(src, to: dst, count: count)
            return
        }
        let chunks = (count + 4095) / 4096
        Parallel.forRanges(chunks) { r in
            let lo = r.lowerBound * 4096, hi = min(count, r.upperBound * 4096)
            BFloat16.convert(src + lo, to: dst + lo, count: hi - lo)
        }
    }

    /// `dequantizeBF16` split by rows over the workers when the tile is large (as `dequantizeInParallel`).
    static func dequantizeInParallel(_ w: FrozenMatrix, rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<UInt16>) {
        let parts = Parallel.workers
        guard parts > 1, rowRange.count >= 2 * parts, rowRange.count * w.cols >= 1 << 18 else {
            w.dequantizeBF16(rows: rowRange, into: dst)
            return
        }
        let per = (rowRange.count + parts - 1) / parts
        DispatchQueue.concurrentPerform(iterations: parts) { i in
            let r0 = rowRange.lowerBound + i * per, r1 = min(rowRange.upperBound, r0 + per)
            if r0 < r1 { w.dequantizeBF16(rows: r0..<r1, into: dst + (r0 - rowRange.lowerBound) * w.cols) }
        }
    }
}
