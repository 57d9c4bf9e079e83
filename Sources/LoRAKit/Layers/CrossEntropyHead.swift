/// The LM head (logits = x Wᵀ, W (V, C) frozen: the tied embedding or its own matrix) fused with masked
/// cross-entropy. Only unmasked rows are computed, in chunks of R rows, so the full (N, V) logits never exist.
///
/// Training runs forward and backward of the head together per chunk: the chunk's (R, V) logits give the
/// row's log-sum-exp, the loss and, in place, dlogits = gradScale·(softmax − onehot); then dx = dlogits · W
/// before the next chunk reuses the buffer. Fusing avoids recomputing the logits in a separate backward.
/// Loss convention: PyTorch CrossEntropyLoss(ignore_index): masked rows cost nothing and get no gradient.
public final class CrossEntropyHead {
    /// Rows per chunk.
    public let chunkRows: Int
    let vocab: Int
    let width: Int
    let logits: FloatBuffer   // (R, V)
    let xs: FloatBuffer       // (R, C) gathered rows
    let dxs: FloatBuffer      // (R, C)
    let rowLoss: FloatBuffer  // (R)
    let scratch = ScratchBuffer()
    /// Gemma's final soft-cap: logits z become cap·tanh(z/cap) before the softmax (and in `logits`); nil for none.
    public var softcap: Float?

    /// Logits budget of a chunk for speed: 64 MiB.
    public static let fastBudget = 1 << 24
    /// Logits budget of a chunk when memory comes first (gradient checkpointing): 16 MiB.
    public static let smallBudget = 1 << 22

    /// Rows per chunk for batches of `rows` positions: as few chunks as a logits budget of `budget` floats allows, of
    /// equal size. Larger chunks matter for speed: each chunk streams the whole (V, C) head matrix through sgemm twice,
    /// and sgemm with fewer than ~200 rows runs well below peak (85-row chunks ran at 66-88 GFLOP/s, 256 rows at 120).
    public static func defaultChunkRows(vocab: Int, rows: Int, budget floats: Int = fastBudget) -> Int {
        let budget = max(8, floats / max(1, vocab))
        let chunks = max(1, (rows + budget - 1) / budget)
        return max(1, (rows + chunks - 1) / chunks)
    }

    /// A workspace for a head of `vocab` × `width` over batches of up to `rows` positions (chunks from
    /// `defaultChunkRows` within `budget` floats), or with exactly `chunkRows` rows per chunk.
    public init(vocab: Int, width: Int, rows: Int = 1 << 20, budget: Int = fastBudget, chunkRows rowsPerChunk: Int? = nil) {
        self.vocab = vocab
        self.width = width
        chunkRows = max(1, rowsPerChunk ?? CrossEntropyHead.defaultChunkRows(vocab: vocab, rows: rows, budget: budget))
        logits = FloatBuffer(count: self.chunkRows * vocab)
        xs = FloatBuffer(count: self.chunkRows * width)
        dxs = FloatBuffer(count: self.chunkRows * width)
        rowLoss = FloatBuffer(count: self.chunkRows)
    }

    /// Sum over unmasked rows of −log softmax(x Wᵀ)[target], and (when `dx` is given) dx (N, C) +=
    /// gradScale · ∂loss/∂x. x (N, C); targets (N) with `Batch.ignore` for masked rows.
    public func forwardBackward(
        dx: UnsafeMutablePointer<Float>?, x: UnsafePointer<Float>, weight: FrozenMatrix,
        targets: UnsafePointer<Int32>, N: Int, gradScale: Float
    ) -> Double {
        let V = vocab, C = width
        var rows: [Int] = []
        rows.reserveCapacity(N)
        for n in 0..<N where targets[n] != Batch.ignore { rows.append(n) }
        var total = 0.0
        var c0 = 0
        while c0 < rows.count {
            let R = min(chunkRows, rows.count - c0)
            let sel = Array(rows[c0..<(c0 + R)])
            for (i, n) in sel.enumerated() { (xs.pointer + i * C).update(from: x + n * C, count: C) }
            // (R, V) = xs Wᵀ
            Linear.forward(out: logits.pointer, x: xs.pointer, weight: weight, bias: nil, N: R, scratch: scratch)
            let lp = logits.pointer, lossp = rowLoss.pointer
            let wantGrad = dx != nil
            let cap = softcap
            sel.withUnsafeBufferPointer { selp in
                Parallel.forRanges(R, minChunk: 4) { rr in
                    // the capped logits of the row, for tanh's derivative (1 − (z/cap)²) in the gradient
                    let capped = cap != nil && wantGrad ? UnsafeMutablePointer<Float>.allocate(capacity: V) : nil
                    defer { capped?.deallocate() }
                    for i in rr {
                        let row = lp + i * V
                        let t = Int(targets[selp[i]])
                        if let cap {
                            Vec.softcap(row, count: V, cap: cap)
                            capped?.update(from: row, count: V)
                        }
                        let lt = row[t]
                        var mx = -Float.infinity
                        var j = 0
                        var m8 = SIMD8<Float>(repeating: -Float.infinity)
                        while j + 8 <= V { m8 = Vec.max(m8, Vec.load(row + j)); j += 8 }
                        mx = m8.max()
                        while j < V { mx = max(mx, row[j]); j += 1 }
                        let mv = SIMD8<Float>(repeating: mx)
                        var s8 = SIMD8<Float>(repeating: 0)
                        var tail: Float = 0
                        j = 0
                        if wantGrad {
                            while j + 8 <= V { let e = Vec.exp(Vec.load(row + j) - mv); Vec.store(e, row + j); s8 += e; j += 8 }
                            while j < V { let e = Vec.exp(row[j] - mx); row[j] = e; tail += e; j += 1 }
                        } else {
                            while j + 8 <= V { s8 += Vec.exp(Vec.load(row + j) - mv); j += 8 }
                            while j < V { tail += Vec.exp(row[j] - mx); j += 1 }
                        }
                        let sum = s8.sum() + tail
                        let logSum = Float(log(Double(sum)))
                        lossp[i] = logSum + mx - lt
                        if wantGrad {
                            let k = gradScale / sum
                            let kv = SIMD8<Float>(repeating: k)
                            j = 0
                            while j + 8 <= V { Vec.store(Vec.load(row + j) * kv, row + j); j += 8 }
                            while j < V { row[j] *= k; j += 1 }
                            row[t] -= gradScale
                            if let cap, let z = capped {
                                for j in 0..<V { let u = z[j] / cap; row[j] *= 1 - u * u }
                            }
                        }
                    }
                }
            }
            for i in 0..<R { total += Double(lossp[i]) }
            if let dx {
                // (R, C) = dlogits (R, V) · W (V, C)
                Linear.backward(dx: dxs.pointer, dout: logits.pointer, weight: weight, N: R, scratch: scratch, beta: 0)
                for (i, n) in sel.enumerated() { Vec.add(dx + n * C, dxs.pointer + i * C, C) }
            }
            c0 += R
        }
        return total
    }

    /// Full logits (N, V) = x Wᵀ for inference (N small: a prompt or one decoding step).
    public func logits(out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, weight: FrozenMatrix, N: Int) {
        Linear.forward(out: out, x: x, weight: weight, bias: nil, N: N, scratch: scratch)
        if let cap = softcap { Vec.softcap(out, count: N * vocab, cap: cap) }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif
