import CKernels
import Dispatch

/// Where floats stop being numbers: the checks that keep a NaN or an infinity out of a checkpoint, an adapter file,
/// an optimizer step or the base a run trains on.
public enum Finite {
    /// The first element that is NaN or ±infinity (its index and value), or nil when every one is finite.
    public static func firstNonFinite(_ values: UnsafeBufferPointer<Float>) -> (index: Int, value: Float)? {
        guard let base = values.baseAddress else { return nil }
        let i = Int(loratop_first_nonfinite(base, Int64(values.count)))
        return i < 0 ? nil : (i, values[i])
    }

    /// The first element that is NaN or ±infinity, or nil when every one is finite.
    public static func firstNonFinite(_ values: [Float]) -> (index: Int, value: Float)? {
        values.withUnsafeBufferPointer { firstNonFinite($0) }
    }

    /// "nan at element 12 of 4096".
    public static func describe(_ bad: (index: Int, value: Float), of count: Int) -> String {
        "\(word(bad.value)) at element \(bad.index) of \(count)"
    }

    /// "nan", "inf" or "-inf".
    static func word(_ v: Float) -> String { v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
}

extension FrozenMatrix {
    /// The first weight (row-major) that is NaN or ±infinity as the products see it (dequantized), or nil when every
    /// one is finite. Dense storage is read in place; any other is dequantized a few rows at a time, the rows split
    /// over the engine's workers (the answer is the first in row-major order whatever the split).
    public func firstNonFinite() -> (row: Int, col: Int, value: Float)? {
        guard rows > 0, cols > 0 else { return nil }
        let parts = min(Parallel.workers, rows)
        let per = (rows + parts - 1) / parts
        var found = [(row: Int, col: Int, value: Float)?](repeating: nil, count: parts)
        found.withUnsafeMutableBufferPointer { out in
            let out = out
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let r0 = p * per, r1 = min(rows, r0 + per)
                guard r0 < r1 else { return }
                out[p] = firstNonFinite(rows: r0..<r1)
            }
        }
        return found.lazy.compactMap { $0 }.first
    }

    /// The first non-finite weight of rows `rowRange`, by one thread.
    private func firstNonFinite(rows rowRange: Range<Int>) -> (row: Int, col: Int, value: Float)? {
        if let base = denseBase {
            let start = base + rowRange.lowerBound * cols
            guard let bad = Finite.firstNonFinite(UnsafeBufferPointer(start: start, count: rowRange.count * cols)) else { return nil }
            return (rowRange.lowerBound + bad.index / cols, bad.index % cols, bad.value)
        }
        let step = max(1, (1 << 14) / cols)
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: min(step, rowRange.count) * cols)
        defer { buf.deallocate() }
        var r = rowRange.lowerBound
        while r < rowRange.upperBound {
            let r1 = min(rowRange.upperBound, r + step)
            dequantize(rows: r..<r1, into: buf)
            if let bad = Finite.firstNonFinite(UnsafeBufferPointer(start: buf, count: (r1 - r) * cols)) {
                return (r + bad.index / cols, bad.index % cols, bad.value)
            }
            r = r1
        }
        return nil
    }
}
