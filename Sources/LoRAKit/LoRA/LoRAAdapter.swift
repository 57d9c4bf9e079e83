/// A trainable tensor with its gradient and AdamW moments, all (rows, cols) row-major.
public final class ParameterTensor: @unchecked Sendable {
    /// A name for checkpoints and messages (`layers.3.q_proj.lora_A`).
    public let name: String
    /// Rows.
    public let rows: Int
    /// Columns.
    public let cols: Int
    /// The values.
    public let value: FloatBuffer
    /// The accumulated gradient.
    public let grad: FloatBuffer
    /// AdamW first moment.
    public let m: FloatBuffer
    /// AdamW second moment.
    public let v: FloatBuffer

    /// A zero tensor of (rows, cols).
    public init(name: String, rows: Int, cols: Int) {
        self.name = name
        self.rows = rows
        self.cols = cols
        value = FloatBuffer(count: rows * cols)
        grad = FloatBuffer(count: rows * cols)
        m = FloatBuffer(count: rows * cols)
        v = FloatBuffer(count: rows * cols)
    }

    /// Elements.
    public var count: Int { rows * cols }
}

/// The trainable half of a LoRA layer: A (r, in), B (out, r) in PEFT layout, plus scale and dropout.
public final class LoRAAdapter: @unchecked Sendable {
    /// Rank r.
    public let rank: Int
    /// Input features.
    public let inFeatures: Int
    /// Output features.
    public let outFeatures: Int
    /// A (r, in).
    public let a: ParameterTensor
    /// B (out, r).
    public let b: ParameterTensor
    /// Multiplier of B·A (alpha / r or alpha / √r).
    public var scale: Float
    /// Dropout probability on the adapter's input during training.
    public var dropout: Float

    /// A zero adapter (call `initialize` for PEFT's default init).
    public init(name: String, rank: Int, inFeatures: Int, outFeatures: Int, scale: Float, dropout: Float) {
        self.rank = rank
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        a = ParameterTensor(name: name + ".lora_A", rows: rank, cols: inFeatures)
        b = ParameterTensor(name: name + ".lora_B", rows: outFeatures, cols: rank)
        self.scale = scale
        self.dropout = dropout
    }

    /// PEFT's default init: A ~ Kaiming-uniform with a = √5, i.e. U(−bound, bound) with
    /// bound = gain·√(3/fan_in), gain = √(2/(1+a²)) = √(1/3), so bound = 1/√in; B = 0 (the update starts at zero).
    public func initialize(rng: inout SeededRNG) {
        let gain = (2.0 / (1.0 + 5.0)).squareRoot()
        let bound = Float(gain * (3.0 / Double(inFeatures)).squareRoot())
        for i in 0..<a.count { a.value[i] = rng.uniform(-bound, bound) }
        b.value.zero()
    }

    /// The update ΔW = scale · B·A (out, in) row-major.
    public func delta() -> [Float] {
        var out = [Float](repeating: 0, count: outFeatures * inFeatures)
        out.withUnsafeMutableBufferPointer { p in
            guard let c = p.baseAddress else { return }
            BLAS.gemm(m: outFeatures, n: inFeatures, k: rank, alpha: scale, a: b.value.pointer, lda: rank,
                      b: a.value.pointer, ldb: inFeatures, c: c, ldc: inFeatures)
        }
        return out
    }
}
