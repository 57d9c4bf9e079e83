import Dispatch

/// A GGUF tensor as a FrozenMatrix (rows = ne1·ne2·ne3, cols = ne0) read straight from the mapped file:
/// `dequantize(rows:into:)` decodes just those rows' blocks. An optional row order maps each output row to a
/// stored row (used to undo llama.cpp's q/k permutation). The matrix keeps the file mapping alive.
public final class GGUFMatrix: FrozenMatrix, @unchecked Sendable {
    /// The file the data lives in.
    public let file: GGUFFile
    /// The tensor's entry.
    public let info: GGUFTensorInfo
    public let rows: Int
    public let cols: Int
    /// Bytes of one stored row.
    public let rowBytes: Int
    /// Output row i is stored row `rowOrder[i]` (nil: identity).
    public let rowOrder: [Int32]?
    private let data: UnsafeRawPointer?

    /// Rows dequantized per parallel chunk when a request is large enough to split.
    static let parallelChunkRows = 64
    /// Elements below which a request runs on the calling thread only.
    static let parallelMinElements = 1 << 18

    /// A view of `info` in `file`; throws for types loratop cannot dequantize.
    public init(file: GGUFFile, info: GGUFTensorInfo, rowOrder: [Int32]? = nil) throws {
        guard info.type.canDequantize else {
            throw FormatError(file: file.path, field: "tensor \(info.name)",
                              message: "storage type \(info.type.name) is not supported (supported: f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k)",
                              hint: "re-quantize the model with llama-quantize to Q8_0, Q4_K_M or F16")
        }
        self.file = file
        self.info = info
        cols = info.dims[0]
        rows = info.dims.dropFirst().reduce(1, *)
        rowBytes = info.type.rowBytes(cols) ?? 0
        let n = rows
        if let rowOrder {
            precondition(rowOrder.count == n && rowOrder.allSatisfy { $0 >= 0 && Int($0) < n }, "GGUFMatrix: bad row order")
        }
        self.rowOrder = rowOrder
        data = file.mapped.base.map { $0 + info.offset }
    }

    /// The same tensor with output row i taken from stored row `order[i]` (composes with an existing order).
    public func reordered(_ order: [Int32]) throws -> GGUFMatrix {
        let composed = rowOrder.map { base in order.map { base[Int($0)] } } ?? order
        return try GGUFMatrix(file: file, info: info, rowOrder: composed)
    }

    public var storageName: String { info.type.name }
    public var storageBytes: Int { info.byteCount }

    public var denseBase: UnsafePointer<Float>? {
        guard info.type == .f32, rowOrder == nil, let data, Int(bitPattern: data) % 4 == 0 else { return nil }
        return data.assumingMemoryBound(to: Float.self)
    }

    public func dequantize(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        guard let data, !rowRange.isEmpty else { return }
        precondition(rowRange.lowerBound >= 0 && rowRange.upperBound <= rows, "GGUFMatrix \(info.name): rows \(rowRange) of \(rows)")
        let n = rowRange.count
        if n * cols < Self.parallelMinElements {
            decode(rowRange, data, dst)
            return
        }
        let chunk = Self.parallelChunkRows
        let chunks = (n + chunk - 1) / chunk
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = rowRange.lowerBound + c * chunk
            let hi = min(lo + chunk, rowRange.upperBound)
            decode(lo..<hi, data, dst + (lo - rowRange.lowerBound) * cols)
        }
    }

    private func decode(_ range: Range<Int>, _ data: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>) {
        let type = info.type
        if let order = rowOrder {
            for (k, r) in range.enumerated() {
                GGUFBlocks.dequantize(type, data + Int(order[r]) * rowBytes, dst + k * cols, count: cols)
            }
        } else {
            GGUFBlocks.dequantize(type, data + range.lowerBound * rowBytes, dst, count: range.count * cols)
        }
    }
}

extension GGUFMatrix {
    /// llama.cpp's converter stores q/k rows of each head interleaved for its RoPE:
    /// HF row h·d + j·d/2 + i (j ∈ {0,1}, i < d/2) is GGUF row h·d + 2i + j. This is that map, HF row → GGUF row.
    public static func llamaUnpermuteOrder(rows: Int, heads: Int) -> [Int32]? {
        guard heads > 0, rows % heads == 0, (rows / heads) % 2 == 0 else { return nil }
        let d = rows / heads
        var order = [Int32](repeating: 0, count: rows)
        for h in 0..<heads {
            for j in 0..<2 {
                for i in 0..<(d / 2) { order[h * d + j * (d / 2) + i] = Int32(h * d + 2 * i + j) }
            }
        }
        return order
    }
}
