/// A fused projection's output split into its parts by columns, and the parts' gradients joined back (Phi-3's
/// qkv_proj is q | k | v, gate_up_proj is gate | up). Rows are contiguous in every buffer.
public enum FusedColumns {
    /// parts[i] (n, widths[i]) ← columns of `fused` (n, Σ widths).
    public static func split(_ fused: UnsafePointer<Float>, n: Int, widths: [Int], into parts: [UnsafeMutablePointer<Float>]) {
        let total = widths.reduce(0, +)
        for r in 0..<n {
            var at = 0
            for (p, w) in zip(parts, widths) {
                (p + r * w).update(from: fused + r * total + at, count: w)
                at += w
            }
        }
    }

    /// `fused` (n, Σ widths) ← the parts side by side, row by row.
    public static func join(_ parts: [UnsafePointer<Float>], widths: [Int], n: Int, into fused: UnsafeMutablePointer<Float>) {
        let total = widths.reduce(0, +)
        for r in 0..<n {
            var at = 0
            for (p, w) in zip(parts, widths) {
                (fused + r * total + at).update(from: p + r * w, count: w)
                at += w
            }
        }
    }
}
