/// An owned, fixed-size fp32 buffer: activations, gradients, LoRA parameters and optimizer moments.
/// Reference semantics so layers can hand pointers to sgemm without copies.
public final class FloatBuffer: @unchecked Sendable {
    /// Number of floats.
    public let count: Int
    /// The first float (valid for `count` elements; at least one element is always allocated).
    public let pointer: UnsafeMutablePointer<Float>

    /// A zero-filled buffer of `count` floats.
    public init(count: Int) {
        self.count = count
        pointer = .allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    /// A buffer holding a copy of `values`.
    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { pointer.update(from: s, count: values.count) }
        }
    }

    deinit { pointer.deallocate() }

    /// Sets every element to zero.
    public func zero() { pointer.update(repeating: 0, count: count) }

    /// A copy of the contents.
    public var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    /// Overwrites the contents with `values` (same count).
    public func assign(_ values: [Float]) {
        precondition(values.count == count, "FloatBuffer.assign: \(values.count) values for \(count)")
        values.withUnsafeBufferPointer { src in
            if let s = src.baseAddress { pointer.update(from: s, count: count) }
        }
    }

    /// Element access (no bounds check in release).
    @inlinable public subscript(i: Int) -> Float {
        get { pointer[i] }
        set { pointer[i] = newValue }
    }
}
