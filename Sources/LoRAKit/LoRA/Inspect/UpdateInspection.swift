/// What one adapted module's update looks like at a step: its size, its singular values, how many directions it
/// really uses, its gradients, and how far the base's storage is from the source weights.
public struct ModuleInspection: Codable, Sendable, Equatable {
    /// HF module name, e.g. `model.layers.3.self_attn.q_proj`.
    public var name: String
    /// Block index (−1 when the name has none).
    public var layer: Int
    /// Projection short name: q, k, v, o, gate, up, down (or the name's last part).
    public var target: String
    /// Rank r of the factors.
    public var rank: Int
    /// Input features of the projection.
    public var inFeatures: Int
    /// Output features of the projection.
    public var outFeatures: Int
    /// ‖ΔW‖_F with ΔW = scale·B·A.
    public var updateNorm: Double
    /// ‖W‖_F of the frozen base (its source weights), when known.
    public var baseNorm: Double?
    /// Singular values of ΔW, descending (min(r, in, out) of them).
    public var singularValues: [Float]
    /// Directions holding 90% of ‖ΔW‖²_F (0 for a zero update).
    public var effectiveRank90: Int
    /// Directions holding 99% of ‖ΔW‖²_F.
    public var effectiveRank99: Int
    /// ‖∂L/∂A‖_F of the last step (before clipping), when gradients are at hand.
    public var gradNormA: Double?
    /// ‖∂L/∂B‖_F of the last step (before clipping).
    public var gradNormB: Double?
    /// Relative RMS error of the base's storage against its source weights, ‖W_q − W‖_F / ‖W‖_F (nil: not quantized).
    public var quantError: Double?

    /// A module's figures from its update's singular values; norms and effective ranks follow from them.
    public init(name: String, rank: Int, inFeatures: Int, outFeatures: Int, singularValues: [Double],
                baseNorm: Double? = nil, gradNormA: Double? = nil, gradNormB: Double? = nil, quantError: Double? = nil) {
        self.name = name
        (layer, target) = ModuleInspection.parse(name)
        self.rank = rank
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let energy = singularValues.reduce(0) { $0 + $1 * $1 }
        updateNorm = energy.squareRoot()
        self.baseNorm = baseNorm
        self.singularValues = singularValues.map(Float.init)
        effectiveRank90 = ModuleInspection.effectiveRank(singularValues, energy: 0.90)
        effectiveRank99 = ModuleInspection.effectiveRank(singularValues, energy: 0.99)
        self.gradNormA = gradNormA
        self.gradNormB = gradNormB
        self.quantError = quantError
    }

    /// ‖ΔW‖_F / ‖W‖_F, when the base's norm is known.
    public var relativeSize: Double? {
        guard let w = baseNorm, w > 0 else { return nil }
        return updateNorm / w
    }

    /// ‖(∂L/∂A, ∂L/∂B)‖, when gradients are at hand.
    public var gradNorm: Double? {
        guard let a = gradNormA, let b = gradNormB else { return nil }
        return (a * a + b * b).squareRoot()
    }

    /// The smallest k whose k largest singular values hold at least `energy` of Σσ² (0 when all are zero).
    public static func effectiveRank(_ sigma: [Double], energy: Double) -> Int {
        let total = sigma.reduce(0) { $0 + $1 * $1 }
        guard total > 0 else { return 0 }
        let sorted = sigma.sorted(by: >)
        var acc = 0.0
        for (i, s) in sorted.enumerated() {
            acc += s * s
            // a relative tolerance keeps an exact 90% (e.g. equal values) from needing one more direction
            if acc >= energy * total * (1 - 1e-12) { return i + 1 }
        }
        return sorted.count
    }

    /// Layer index and projection short name from `model.layers.{i}.….{q_proj|…}`.
    static func parse(_ name: String) -> (Int, String) {
        let parts = name.split(separator: ".")
        let layer = parts.firstIndex(of: "layers").flatMap { i in i + 1 < parts.count ? Int(parts[i + 1]) : nil } ?? -1
        let last = parts.last.map(String.init) ?? name
        return (layer, LoRATarget(name: last)?.shortName ?? last)
    }
}

/// The whole adapter at one step: every module's figures and the rank advisor's reading of them.
public struct UpdateInspection: Codable, Sendable, Equatable {
    /// Optimizer steps completed when computed (0 for a saved adapter read from disk).
    public var step: Int
    /// Rank r.
    public var rank: Int
    /// LoRA alpha.
    public var alpha: Float
    /// Whether scale = alpha/√r (rsLoRA) rather than alpha/r.
    public var rsLoRA: Bool
    /// Base storage the quantization errors are for ("nf4+dq", "f32", "source (q4_1)"), when known.
    public var storage: String?
    /// Modules in model order (layer, then q, k, v, o, gate, up, down).
    public var modules: [ModuleInspection]
    /// What rank the spectra call for.
    public var advice: RankAdvice
    /// Seconds the computation took.
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case step, rank, alpha, rsLoRA = "rslora", storage, modules, advice, seconds
    }

    /// An inspection of `modules` at `step`; the advice is computed from them.
    public init(step: Int, rank: Int, alpha: Float, rsLoRA: Bool, storage: String?, modules: [ModuleInspection],
                seconds: Double = 0) {
        self.step = step
        self.rank = rank
        self.alpha = alpha
        self.rsLoRA = rsLoRA
        self.storage = storage
        self.modules = modules
        advice = RankAdvisor.advise(modules, rank: rank)
        self.seconds = seconds
    }

    /// The scale of B·A: alpha/r, or alpha/√r with rsLoRA.
    public var scale: Float { LoRAConfig.scale(alpha: alpha, rank: rank, rsLoRA: rsLoRA) }

    /// Block indices present, ascending.
    public var layers: [Int] { Array(Set(modules.map(\.layer))).sorted() }

    /// Projection short names present, in block order.
    public var targets: [String] {
        let present = Set(modules.map(\.target))
        return LoRATarget.allCases.map(\.shortName).filter { present.contains($0) }
            + present.subtracting(LoRATarget.allCases.map(\.shortName)).sorted()
    }

    /// The module of `layer` and projection `target`, if adapted.
    public func module(layer: Int, target: String) -> ModuleInspection? {
        modules.first { $0.layer == layer && $0.target == target }
    }
}
