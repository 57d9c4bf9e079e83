import Foundation

/// TensorBoard's scalar smoothing.
public enum Smoothing {
    /// Exponential moving average with debiasing, exactly as TensorBoard's scalar dashboard computes it:
    /// `last = last·w + (1−w)·y; n += 1; smoothed = last / (1 − wⁿ)` (no debiasing when w = 1). Non-finite values pass
    /// through unchanged and are not counted; a constant series is returned as is. `weight` is clamped to 0…1.
    public static func exponentialMovingAverage<T: BinaryFloatingPoint>(_ values: [T], weight: Double) -> [T] {
        let w = weight.isFinite ? min(1, max(0, weight)) : 0
        guard let first = values.first else { return [] }
        if values.allSatisfy({ $0 == first }) { return values }
        var last = 0.0
        var n = 0.0
        return values.map { v in
            guard v.isFinite else { return v }
            last = last * w + (1 - w) * Double(v)
            n += 1
            let debias = w == 1 ? 1 : 1 - pow(w, n)
            return T(last / debias)
        }
    }
}
