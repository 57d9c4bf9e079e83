// Dimension letters used throughout Layers/: B batch, T sequence, N = B*T rows, C model width,
// Cq = heads*hd, Ckv = kvHeads*hd, hd head width, F feed-forward width, V vocabulary, r LoRA rank.

/// Token embedding lookup from a frozen (possibly quantized) table. The table is never trained, so there is
/// no backward: gradients stop at the first block's input.
public enum Embedding {
    /// out (N, C) = table[tokens[n]] for each row; each row is dequantized on its own.
    /// Tokens must already be checked against the table's rows (`LlamaModel.checkTokens`).
    public static func forward(
        out: UnsafeMutablePointer<Float>, tokens: UnsafePointer<Int32>, table: FrozenMatrix, N: Int
    ) {
        let C = table.cols
        if let base = table.denseBase {
            for n in 0..<N { (out + n * C).update(from: base + Int(tokens[n]) * C, count: C) }
            return
        }
        Parallel.forRanges(N, minChunk: 32) { rows in
            for n in rows {
                let id = Int(tokens[n])
                table.dequantize(rows: id..<(id + 1), into: out + n * C)
            }
        }
    }

    /// x ← x·factor over `count` floats (Gemma's √C on the embeddings); nothing when the factor is 1.
    public static func scale(_ x: UnsafeMutablePointer<Float>, count: Int, by factor: Float) {
        guard factor != 1 else { return }
        for i in 0..<count { x[i] *= factor }
    }
}
