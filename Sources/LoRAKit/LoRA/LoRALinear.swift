/// A linear layer with a frozen base W (out, in) — dense or quantized, never written — and an optional LoRA
/// adapter: y = x Wᵀ (+ b) + scale · (dropout(x) Aᵀ) Bᵀ.
///
/// Verbs: forward, backward (dA, dB, dx), `fused()` (base + update as a new dense layer) and `reverted()`
/// (a fused layer back to base = fused − update). The layer keeps what its backward needs from the last
/// training forward (u = dropout(x) Aᵀ, and the dropped input when dropout is on).
public final class LoRALinear: @unchecked Sendable {
    /// Module name (`layers.3.self_attn.q_proj`).
    public let name: String
    /// The frozen weight (out, in).
    public internal(set) var base: FrozenMatrix
    /// Frozen bias (out) or nil.
    public let bias: [Float]?
    /// The adapter, if this projection is a target.
    public var adapter: LoRAAdapter?
    /// Whether the adapter's update is already inside `base` (forward then skips the adapter path).
    public private(set) var isMerged = false

    var u = FloatBuffer(count: 0)    // (N, r)  saved: dropout(x) Aᵀ
    var du = FloatBuffer(count: 0)   // (N, r)  scratch
    var xd = FloatBuffer(count: 0)   // (N, in) saved: dropout(x), when dropout is active

    /// Bytes of the adapter's per-step buffers above (the saved dropout(x)·Aᵀ, its gradient, the dropped input).
    public var savedBytes: Int { 4 * (u.count + du.count + xd.count) }
    var dropSeed: UInt64?            // the seed of the mask in xd (nil: no dropout in the last forward)

    /// A layer over `base` with an optional frozen `bias`.
    public init(name: String, base: FrozenMatrix, bias: [Float]? = nil) {
        self.name = name
        self.base = base
        self.bias = bias
    }

    /// Input features.
    public var inFeatures: Int { base.cols }
    /// Output features.
    public var outFeatures: Int { base.rows }

    var adapterActive: Bool { adapter != nil && !isMerged }

    /// Makes the saved-state buffers hold `rows` rows at the current rank (and the dropped input when dropout is
    /// on) and records the forward's dropout seed. Sharded callers run this once before their shards start, so no
    /// shard writes shared layer state.
    public func prepare(rows: Int, dropoutSeed: UInt64?) {
        guard let ad = adapter, !isMerged else { return }
        if u.count < rows * ad.rank { u = FloatBuffer(count: rows * ad.rank); du = FloatBuffer(count: rows * ad.rank) }
        dropSeed = ad.dropout > 0 ? dropoutSeed : nil
        if dropSeed != nil, xd.count < rows * inFeatures { xd = FloatBuffer(count: rows * inFeatures) }
    }

    /// out (N, out) = x (N, in) Wᵀ + b + scale·(dropout(x) Aᵀ) Bᵀ. `dropoutSeed` nil means evaluation (no dropout).
    /// `rowOffset` places these N rows inside a larger batch (a shard): the saved state and the dropout mask are
    /// those of rows rowOffset..<rowOffset+N, so shards together compute exactly what one call over all rows would.
    public func forward(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, N: Int, scratch: ScratchBuffer,
        dropoutSeed: UInt64? = nil, rowOffset: Int = 0
    ) {
        Profiler.measure("fwd.base") { Linear.forward(out: out, x: x, weight: base, bias: bias, N: N, scratch: scratch) }
        guard let ad = adapter, !isMerged else { return }
        Profiler.measure("fwd.lora") { loraForward(ad, out: out, x: x, N: N, dropoutSeed: dropoutSeed, rowOffset: rowOffset) }
    }

    func loraForward(
        _ ad: LoRAAdapter, out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, N: Int, dropoutSeed: UInt64?,
        rowOffset n0: Int
    ) {
        let r = ad.rank, I = inFeatures, O = outFeatures
        if !Parallel.inShard { prepare(rows: n0 + N, dropoutSeed: dropoutSeed) }
        let up = u.pointer + n0 * r
        var src = x
        if let seed = dropSeed {
            let xdp = xd.pointer + n0 * I
            LoRADropout.apply(out: xdp, x: x, count: N * I, p: ad.dropout, seed: seed, indexOffset: n0 * I)
            src = UnsafePointer(xdp)
        }
        // u (N, r) = src Aᵀ ; out (N, out) += scale · u Bᵀ
        Parallel.gemm(transB: true, m: N, n: r, k: I, a: src, lda: I, b: ad.a.value.pointer, ldb: I, c: up, ldc: r)
        Parallel.gemm(transB: true, m: N, n: O, k: r, alpha: ad.scale, a: up, lda: r,
                      b: ad.b.value.pointer, ldb: r, beta: 1, c: out, ldc: O)
    }

    /// Given dout (N, out): dA, dB accumulate (in the adapter) and, when `dx` is given, dx (N, in) += ∂/∂x
    /// through the frozen base and the adapter — or, with `accumulate` false, dx = ∂/∂x (its old contents are
    /// ignored, which spares the caller zeroing it). `x` is the same input as the last forward.
    /// `rowOffset` as in `forward`; `grads` (dA, dB) receive the adapter gradients instead of the adapter's own
    /// buffers (a shard's private accumulators, summed in a fixed order afterwards).
    public func backward(
        dx: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, N: Int,
        scratch: ScratchBuffer, accumulate: Bool = true, rowOffset: Int = 0,
        grads: (a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>)? = nil
    ) {
        // the base first: it writes dx when not accumulating, then the adapter adds its part
        if let dx {
            Profiler.measure("bwd.base") {
                Linear.backward(dx: dx, dout: dout, weight: base, N: N, scratch: scratch, beta: accumulate ? 1 : 0)
            }
        }
        if let ad = adapter, !isMerged {
            Profiler.measure("bwd.lora") {
                loraBackward(ad, dx: dx, dout: dout, x: x, N: N, rowOffset: rowOffset,
                             grads: grads ?? (ad.a.grad.pointer, ad.b.grad.pointer))
            }
        }
    }

    func loraBackward(
        _ ad: LoRAAdapter, dx: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>, x: UnsafePointer<Float>, N: Int,
        rowOffset n0: Int, grads: (a: UnsafeMutablePointer<Float>, b: UnsafeMutablePointer<Float>)
    ) {
        let r = ad.rank, I = inFeatures, O = outFeatures
        let up = u.pointer + n0 * r, dup = du.pointer + n0 * r, xdp = xd.pointer + n0 * I
        let src = dropSeed == nil ? x : UnsafePointer(xdp)
        // dB (out, r) += scale · doutᵀ u
        Parallel.gemm(transA: true, m: O, n: r, k: N, alpha: ad.scale, a: dout, lda: O, b: up, ldb: r,
                      beta: 1, c: grads.b, ldc: r)
        // du (N, r) = scale · dout B
        Parallel.gemm(m: N, n: r, k: O, alpha: ad.scale, a: dout, lda: O, b: ad.b.value.pointer, ldb: r,
                      c: dup, ldc: r)
        // dA (r, in) += duᵀ src
        Parallel.gemm(transA: true, m: r, n: I, k: N, a: dup, lda: r, b: src, ldb: I,
                      beta: 1, c: grads.a, ldc: I)
        if let dx {
            if let seed = dropSeed {
                // dx += (du A) ⊙ mask/(1−p); xd is free now, reuse it for du A
                Parallel.gemm(m: N, n: I, k: r, a: dup, lda: r, b: ad.a.value.pointer, ldb: I,
                              c: xdp, ldc: I)
                LoRADropout.accumulateMasked(dx: dx, g: xdp, count: N * I, p: ad.dropout, seed: seed, indexOffset: n0 * I)
            } else {
                // dx (N, in) += du A
                Parallel.gemm(m: N, n: I, k: r, a: dup, lda: r, b: ad.a.value.pointer, ldb: I,
                              beta: 1, c: dx, ldc: I)
            }
        }
    }

    /// W + scale·B·A as dense fp32 (out, in); refuses to produce NaN or Inf.
    public func fusedWeight() throws -> DenseMatrix {
        var w = base.dequantizedArray()
        if let ad = adapter, !isMerged { addDelta(ad, into: &w, sign: 1) }
        try checkFinite(w, what: "fused weight")
        return DenseMatrix(rows: outFeatures, cols: inFeatures, values: w)
    }

    /// A new layer whose base is W + scale·B·A (dense) and which remembers the adapter so it can be reverted.
    public func fused() throws -> LoRALinear {
        guard let ad = adapter, !isMerged else {
            throw LoRAError(layer: name, message: isMerged ? "already fused" : "no adapter to fuse; hint: attach one first")
        }
        let out = LoRALinear(name: name, base: try fusedWeight(), bias: bias)
        out.adapter = ad
        out.isMerged = true
        return out
    }

    /// From a fused layer, a new layer with base = fused − scale·B·A and the adapter active again.
    public func reverted() throws -> LoRALinear {
        guard let ad = adapter, isMerged else {
            throw LoRAError(layer: name, message: "not fused; hint: only a layer returned by fused() can be reverted")
        }
        var w = base.dequantizedArray()
        addDelta(ad, into: &w, sign: -1)
        try checkFinite(w, what: "reverted weight")
        let out = LoRALinear(name: name, base: DenseMatrix(rows: outFeatures, cols: inFeatures, values: w), bias: bias)
        out.adapter = ad
        return out
    }

    func addDelta(_ ad: LoRAAdapter, into w: inout [Float], sign: Float) {
        w.withUnsafeMutableBufferPointer { p in
            guard let c = p.baseAddress else { return }
            Parallel.gemm(m: outFeatures, n: inFeatures, k: ad.rank, alpha: sign * ad.scale, a: ad.b.value.pointer,
                          lda: ad.rank, b: ad.a.value.pointer, ldb: inFeatures, beta: 1, c: c, ldc: inFeatures)
        }
    }

    func checkFinite(_ w: [Float], what: String) throws {
        if let i = w.firstIndex(where: { !$0.isFinite }) {
            throw LoRAError(layer: name, message: "\(what) has a non-finite value \(w[i]) at row \(i / inFeatures), "
                            + "column \(i % inFeatures); hint: the adapter diverged (lower the learning rate)")
        }
    }
}

/// Inverted dropout on the LoRA input with a counter-based mask: element i of a forward seeded `seed` is
/// kept iff hash(seed, i) ≥ p, so the same mask can be rebuilt in backward (or a checkpointed recompute)
/// without storing it, and rows can be processed in parallel deterministically.
public enum LoRADropout {
    @inline(__always) static func keep(_ seed: UInt64, _ i: Int, _ threshold: UInt32) -> Bool {
        var z = seed &+ UInt64(i) &* 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return UInt32(truncatingIfNeeded: z >> 32) >= threshold
    }

    @inline(__always) static func threshold(_ p: Float) -> UInt32 {
        UInt32(min(Double(UInt32.max), (Double(p) * 4_294_967_296.0).rounded()))
    }

    /// out = x ⊙ mask / (1 − p); element i uses the mask bit of index `indexOffset + i`.
    public static func apply(
        out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>, count: Int, p: Float, seed: UInt64, indexOffset: Int = 0
    ) {
        let th = threshold(p), k = 1 / (1 - p)
        Parallel.forRanges(count, minChunk: 1 << 14) { r in
            for i in r { out[i] = keep(seed, indexOffset + i, th) ? x[i] * k : 0 }
        }
    }

    /// dx += g ⊙ mask / (1 − p), with the mask of `apply` at the same `indexOffset`.
    public static func accumulateMasked(
        dx: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, count: Int, p: Float, seed: UInt64, indexOffset: Int = 0
    ) {
        let th = threshold(p), k = 1 / (1 - p)
        Parallel.forRanges(count, minChunk: 1 << 14) { r in
            for i in r where keep(seed, indexOffset + i, th) { dx[i] += g[i] * k }
        }
    }
}

/// A LoRA layer operation that cannot be done.
public struct LoRAError: Error, CustomStringConvertible, Sendable {
    /// The layer name.
    public let layer: String
    /// What went wrong, with a hint.
    public let message: String
    public var description: String { "LoRA layer \(layer): \(message)" }
}
