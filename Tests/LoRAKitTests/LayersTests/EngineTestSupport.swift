import XCTest
@testable import LoRAKit

/// A frozen matrix that hides its dense storage (denseBase nil), so layers take the tiled
/// dequantize-into-scratch path used by quantized bases.
final class TileOnlyMatrix: FrozenMatrix, @unchecked Sendable {
    let inner: DenseMatrix
    init(_ m: FrozenMatrix) { inner = DenseMatrix(m) }
    convenience init(rows: Int, cols: Int, values: [Float]) { self.init(DenseMatrix(rows: rows, cols: cols, values: values)) }
    var rows: Int { inner.rows }
    var cols: Int { inner.cols }
    var storageName: String { "tile-test" }
    var storageBytes: Int { inner.storageBytes }
    var denseBase: UnsafePointer<Float>? { nil }
    func dequantize(rows rowRange: Range<Int>, into dst: UnsafeMutablePointer<Float>) {
        inner.dequantize(rows: rowRange, into: dst)
    }
}

/// A weight source over named arrays (HF names), for fixtures.
final class DictWeightSource: WeightSource {
    let config: ModelConfig
    let origin = "fixture"
    let tensors: [String: (shape: [Int], data: [Float])]
    init(config: ModelConfig, tensors: [String: (shape: [Int], data: [Float])]) {
        self.config = config
        self.tensors = tensors
    }
    func has(_ name: String) -> Bool { tensors[name] != nil }
    func matrix(_ name: String) throws -> FrozenMatrix {
        guard let t = tensors[name], t.shape.count == 2 else {
            throw WeightError(origin: origin, tensor: name, message: "missing or not 2-D")
        }
        return DenseMatrix(rows: t.shape[0], cols: t.shape[1], values: t.data)
    }
    func vector(_ name: String) throws -> [Float] {
        guard let t = tensors[name] else { throw WeightError(origin: origin, tensor: name, message: "missing") }
        return t.data
    }
}

func randomArray(_ n: Int, _ rng: inout SeededRNG, scale: Float = 1) -> [Float] {
    (0..<n).map { _ in rng.uniform(-scale, scale) }
}

/// Largest |a − b| divided by the largest |b| (0 when both are zero).
func relMaxDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "relMaxDiff: \(a.count) vs \(b.count)")
    var d: Float = 0, m: Float = 0
    for i in 0..<a.count { d = max(d, abs(a[i] - b[i])); m = max(m, abs(b[i])) }
    return m == 0 ? d : d / m
}

/// Central finite differences of `f` with respect to every element of `x`.
func numericGradient(_ x: [Float], eps: Float = 1e-2, _ f: ([Float]) -> Double) -> [Float] {
    var x = x
    var g = [Float](repeating: 0, count: x.count)
    for i in 0..<x.count {
        let save = x[i]
        x[i] = save + eps
        let fp = f(x)
        x[i] = save - eps
        let fm = f(x)
        x[i] = save
        g[i] = Float((fp - fm) / Double(2 * eps))
    }
    return g
}

/// Σ out ⊙ w in Double (a scalar loss whose gradient with respect to out is w).
func dotLoss(_ out: [Float], _ w: [Float]) -> Double {
    var s = 0.0
    for i in 0..<out.count { s += Double(out[i]) * Double(w[i]) }
    return s
}

extension Array where Element == Float {
    func withPtr<R>(_ body: (UnsafePointer<Float>) -> R) -> R {
        withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

func mutable<R>(_ a: inout [Float], _ body: (UnsafeMutablePointer<Float>) -> R) -> R {
    a.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}
