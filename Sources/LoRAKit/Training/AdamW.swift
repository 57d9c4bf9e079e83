/// AdamW settings (PyTorch defaults) plus the schedule and clipping the trainer applies.
public struct OptimizerConfig: Codable, Sendable, Equatable {
    /// Peak learning rate.
    public var learningRate: Float = 2e-4
    /// First-moment decay β1.
    public var beta1: Float = 0.9
    /// Second-moment decay β2.
    public var beta2: Float = 0.999
    /// Denominator epsilon.
    public var eps: Float = 1e-8
    /// Decoupled weight decay (PyTorch AdamW default 0.01).
    public var weightDecay: Float = 0.01
    /// Learning-rate schedule.
    public var schedule: LRSchedule = LRSchedule()
    /// Global gradient-norm clip (0 or less disables clipping).
    public var maxGradNorm: Float = 1.0

    /// A configuration; every argument has the default above.
    public init(learningRate: Float = 2e-4, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8,
                weightDecay: Float = 0.01, schedule: LRSchedule = LRSchedule(), maxGradNorm: Float = 1.0) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.schedule = schedule
        self.maxGradNorm = maxGradNorm
    }
}

/// AdamW exactly as torch.optim.AdamW (single-tensor path): p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g;
/// v ← β2·v + (1−β2)·g²; p ← p − (lr / (1−β1ᵗ)) · m / (√v / √(1−β2ᵗ) + eps).
public enum AdamW {
    /// One update of `p` at 1-based step `t` with learning rate `lr`.
    public static func update(_ p: ParameterTensor, lr: Float, t: Int, config c: OptimizerConfig) {
        let bc1 = 1 - Float(Double(c.beta1).power(t))
        let bc2 = 1 - Float(Double(c.beta2).power(t))
        let stepSize = lr / bc1
        let bc2Sqrt = bc2.squareRoot()
        let decay = 1 - lr * c.weightDecay
        let b1 = c.beta1, b2 = c.beta2, eps = c.eps
        let w = p.value.pointer, g = p.grad.pointer, m = p.m.pointer, v = p.v.pointer
        Parallel.forRanges(p.count, minChunk: 1 << 14) { r in
            for i in r {
                w[i] *= decay
                m[i] = m[i] * b1 + (1 - b1) * g[i]   // torch lerp_: m + (g − m)(1−β1)
                v[i] = v[i] * b2 + (1 - b2) * g[i] * g[i]
                let denom = v[i].squareRoot() / bc2Sqrt + eps
                w[i] -= stepSize * m[i] / denom
            }
        }
    }
}

extension Double {
    /// self raised to a non-negative integer power.
    func power(_ n: Int) -> Double {
        var r = 1.0
        for _ in 0..<max(0, n) { r *= self }
        return r
    }
}
