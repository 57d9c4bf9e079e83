/// Norms of frozen matrices, read one row tile at a time (never a full fp32 copy of a quantized matrix).
public enum MatrixNorms {
    /// Rows per tile: about 64k values.
    static func tileRows(_ m: FrozenMatrix) -> Int { max(1, (1 << 16) / max(1, m.cols)) }

    /// ‖W‖_F, accumulated in double.
    public static func frobenius(_ m: FrozenMatrix) -> Double {
        let tile = tileRows(m)
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: max(1, tile * m.cols))
        defer { buf.deallocate() }
        var sum = 0.0, r = 0
        while r < m.rows {
            let r1 = min(m.rows, r + tile)
            m.dequantize(rows: r..<r1, into: buf)
            for i in 0..<((r1 - r) * m.cols) { sum += Double(buf[i]) * Double(buf[i]) }
            r = r1
        }
        return sum.squareRoot()
    }

    /// Relative RMS error of `stored` against `source`: ‖stored − source‖_F / ‖source‖_F (0 for a zero source).
    /// Both are read as fp32 tile by tile; the shapes must agree.
    public static func relativeError(stored: FrozenMatrix, source: FrozenMatrix) -> Double {
        precondition(stored.rows == source.rows && stored.cols == source.cols, "relativeError: shapes differ")
        let tile = tileRows(source), n = max(1, tile * source.cols)
        let q = UnsafeMutablePointer<Float>.allocate(capacity: n), s = UnsafeMutablePointer<Float>.allocate(capacity: n)
        defer { q.deallocate(); s.deallocate() }
        var diff = 0.0, ref = 0.0, r = 0
        while r < source.rows {
            let r1 = min(source.rows, r + tile)
            stored.dequantize(rows: r..<r1, into: q)
            source.dequantize(rows: r..<r1, into: s)
            for i in 0..<((r1 - r) * source.cols) {
                let d = Double(q[i]) - Double(s[i])
                diff += d * d
                ref += Double(s[i]) * Double(s[i])
            }
            r = r1
        }
        return ref > 0 ? (diff / ref).squareRoot() : 0
    }
}
