import Dispatch

/// A frozen (never trained) weight matrix of shape (rows, cols) = (out, in), row-major, in any storage:
/// dense fp32, bitsandbytes-style NF4/FP4/INT8 blocks, or a GGUF block format read straight from the file.
///
/// Linear layers never expand a whole quantized matrix for good: they ask for a tile of rows as fp32
/// in a reusable scratch buffer (`withRows`), run sgemm on it, and move on.
public protocol FrozenMatrix: AnyObject, Sendable {
    /// Output features (rows).
    var rows: Int { get }
    /// Input features (columns).
    var cols: Int { get }
    /// Short storage name for reports: "f32", "nf4", "nf4+dq", "q4_1", ...
    var storageName: String { get }
    /// Bytes of memory this matrix occupies (codes, scales and nested quantization state).
    var storageBytes: Int { get }
    /// Writes rows `rowRange` as fp32 into `dst` (rowRange.count × cols, row-major).
    func dequantize(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<Float>)
    /// For dense fp32 storage: the first element (row-major, row stride `cols`); nil otherwise.
    var denseBase: UnsafePointer<Float>? { get }
    /// For dense bf16 storage (`BF16Matrix`): the first element's bits (row-major, row stride `cols`); nil otherwise.
    var bf16Base: UnsafePointer<UInt16>? { get }
    /// Writes rows `rowRange` as bf16 bits into `dst` (rowRange.count × cols, row-major): each weight's fp32 value
    /// rounded to nearest (the operand of a bf16 product).
    func dequantizeBF16(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<UInt16>)
}

extension FrozenMatrix {
    /// Number of elements (rows × cols).
    public var count: Int { rows * cols }

    public var bf16Base: UnsafePointer<UInt16>? { nil }

    /// Dense fp32 rounded in place; any other storage through fp32 a few rows at a time (about 16k values: never a
    /// whole fp32 tile).
    public func dequantizeBF16(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<UInt16>) {
        if let base = denseBase {
            BFloat16.convert(base + rowRange.lowerBound * cols, to: dst, count: rowRange.count * cols)
            return
        }
        let step = max(1, (1 << 14) / max(1, cols))
        let buf = UnsafeMutablePointer<Float>.allocate(capacity: max(1, min(step, rowRange.count) * cols))
        defer { buf.deallocate() }
        var r = rowRange.lowerBound
        while r < rowRange.upperBound {
            let r1 = min(rowRange.upperBound, r + step)
            dequantize(rows: r..<r1, into: buf)
            BFloat16.convert(buf, to: dst + (r - rowRange.lowerBound) * cols, count: (r1 - r) * cols)
            r = r1
        }
    }

    /// Calls `body` with rows `rowRange` as dense fp32 (stride `cols`): a pointer into the storage when it
    /// is dense, otherwise the rows dequantized into `scratch` (grown when too small, reused otherwise).
    @inlinable
    public func withRows<R>(
        _ rowRange: Range<Int>, scratch: ScratchBuffer, _ body: (UnsafePointer<Float>) throws -> R
    ) rethrows -> R {
        if let base = denseBase {
            return try body(base + rowRange.lowerBound * cols)
        }
        let p = scratch.reserve(rowRange.count * cols)
        dequantizeInParallel(rows: rowRange, into: p)
        return try body(UnsafePointer(p))
    }

    /// `dequantize(rows:into:)` split by rows over the engine's workers when the tile is large (element-wise work, so
    /// the result does not depend on the split).
    @inlinable
    public func dequantizeInParallel(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        let parts = Parallel.workers
        guard parts > 1, rowRange.count >= 2 * parts, rowRange.count * cols >= 1 << 18 else {
            dequantize(rows: rowRange, into: dst)
            return
        }
        let per = (rowRange.count + parts - 1) / parts
        DispatchQueue.concurrentPerform(iterations: parts) { i in
            let r0 = rowRange.lowerBound + i * per, r1 = min(rowRange.upperBound, r0 + per)
            if r0 < r1 { dequantize(rows: r0..<r1, into: dst + (r0 - rowRange.lowerBound) * cols) }
        }
    }

    /// All rows as a fresh fp32 array (tests, export, merging; not for the training hot path).
    public func dequantizedArray() -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { buf in
            guard let p = buf.baseAddress, count > 0 else { return }
            if let base = denseBase { p.update(from: base, count: count) } else { dequantize(rows: 0..<rows, into: p) }
        }
        return out
    }
}

/// A growable buffer reused across calls: contents are scratch, it only ever grows.
public final class GrowableBuffer<Element>: @unchecked Sendable {
    @usableFromInline var pointer: UnsafeMutablePointer<Element>
    @usableFromInline var capacity: Int

    /// A buffer of `capacity` elements (at least one); it grows on demand.
    public init(capacity: Int = 0) {
        self.capacity = max(capacity, 1)
        pointer = .allocate(capacity: self.capacity)
    }

    deinit { pointer.deallocate() }

    /// Bytes currently held.
    public var bytes: Int { capacity * MemoryLayout<Element>.stride }

    /// A pointer to at least `count` elements (contents unspecified).
    @inlinable
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Element> {
        if count > capacity {
            pointer.deallocate()
            capacity = count
            pointer = .allocate(capacity: count)
        }
        return pointer
    }
}

/// A growable buffer of bf16 bits (a layer's rounded operands).
public typealias BF16Scratch = GrowableBuffer<UInt16>

/// A growable fp32 buffer reused across calls (one per thread that dequantizes), with the bf16 operand buffers of
/// the same products beside it.
public final class ScratchBuffer: @unchecked Sendable {
    @usableFromInline let floats: GrowableBuffer<Float>

    /// An empty buffer; it grows on first use.
    public init(capacity: Int = 0) { floats = GrowableBuffer(capacity: capacity) }

    /// bf16 operands of the same products (used only when they run in bf16): the rounded activations and weight tiles.
    public let bf16Input = BF16Scratch(), bf16Weights = BF16Scratch()

    /// Bytes currently held.
    public var bytes: Int { floats.bytes + bf16Input.bytes + bf16Weights.bytes }

    /// A pointer to at least `count` floats (contents unspecified).
    @inlinable
    public func reserve(_ count: Int) -> UnsafeMutablePointer<Float> { floats.reserve(count) }
}

/// A dense fp32 frozen matrix that owns its storage.
public final class DenseMatrix: FrozenMatrix, @unchecked Sendable {
    public let rows: Int
    public let cols: Int
    /// The values, row-major (rows × cols).
    public let storage: UnsafeMutableBufferPointer<Float>

    /// Takes a copy of `values` (rows × cols, row-major).
    public init(rows: Int, cols: Int, values: [Float]) {
        precondition(values.count == rows * cols, "DenseMatrix: \(values.count) values for \(rows)×\(cols)")
        self.rows = rows
        self.cols = cols
        storage = .allocate(capacity: max(rows * cols, 1))
        _ = values.withUnsafeBufferPointer { storage.initialize(from: $0) }
    }

    /// rows × cols values written in place by `fill` (row-major), with no array in between: a model-sized matrix
    /// is held once, not twice, while it is made.
    public init(rows: Int, cols: Int, fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        self.rows = rows
        self.cols = cols
        storage = .allocate(capacity: max(rows * cols, 1))
        storage.initialize(repeating: 0)
        fill(UnsafeMutableBufferPointer(rebasing: storage[0..<(rows * cols)]))
    }

    /// Copies any frozen matrix into dense fp32.
    public convenience init(_ other: FrozenMatrix) {
        self.init(rows: other.rows, cols: other.cols, values: other.dequantizedArray())
    }

    deinit { storage.deallocate() }

    public var storageName: String { "f32" }
    public var storageBytes: Int { rows * cols * MemoryLayout<Float>.stride }
    public var denseBase: UnsafePointer<Float>? { UnsafePointer(storage.baseAddress) }

    public func dequantize(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        guard let base = storage.baseAddress else { return }
        dst.update(from: base + rowRange.lowerBound * cols, count: rowRange.count * cols)
    }
}
