/// Where floats stop being numbers: the checks that keep a NaN or an infinity out of a checkpoint, an adapter file or
/// an optimizer step.
public enum Finite {
    /// The first element that is NaN or ±infinity (its index and value), or nil when every one is finite.
    public static func firstNonFinite(_ values: UnsafeBufferPointer<Float>) -> (index: Int, value: Float)? {
        for (i, v) in values.enumerated() where !v.isFinite { return (i, v) }
        return nil
    }

    /// The first element that is NaN or ±infinity, or nil when every one is finite.
    public static func firstNonFinite(_ values: [Float]) -> (index: Int, value: Float)? {
        values.withUnsafeBufferPointer { firstNonFinite($0) }
    }

    /// "nan at element 12 of 4096".
    public static func describe(_ bad: (index: Int, value: Float), of count: Int) -> String {
        "\(bad.value.isNaN ? "nan" : (bad.value > 0 ? "inf" : "-inf")) at element \(bad.index) of \(count)"
    }
}
