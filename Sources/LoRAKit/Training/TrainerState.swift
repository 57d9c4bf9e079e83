/// One adapter's trainable state: values and AdamW moments of A (r, in) and B (out, r).
public struct AdapterState: Codable, Sendable, Equatable {
    /// Module name (`model.layers.3.self_attn.q_proj`).
    public var name: String
    /// Rank r.
    public var rank: Int
    /// Input features.
    public var inFeatures: Int
    /// Output features.
    public var outFeatures: Int
    /// A, B and their first and second moments, row-major.
    public var a: [Float], b: [Float], mA: [Float], vA: [Float], mB: [Float], vB: [Float]
}

/// Everything needed to resume training exactly: settings, step count, RNG state and every adapter.
public struct TrainerState: Codable, Sendable, Equatable {
    /// Adapter settings.
    public var lora: LoRAConfig
    /// Optimizer settings.
    public var optimizer: OptimizerConfig
    /// Optimizer steps taken.
    public var step: Int
    /// The trainer's RNG state (dropout seeds).
    public var rngState: [UInt64]
    /// Adapters in model order.
    public var adapters: [AdapterState]
}

/// A saved state that does not fit this model.
public struct TrainerStateError: Error, CustomStringConvertible, Sendable {
    /// What did not match, with a hint.
    public let message: String
    public var description: String { "trainer state: \(message)" }
}

extension Trainer {
    /// A snapshot of the trainable state (copies).
    public func state() -> TrainerState {
        applyPending()
        let ads = model.adapters.map { name, ad in
            AdapterState(name: name, rank: ad.rank, inFeatures: ad.inFeatures, outFeatures: ad.outFeatures,
                         a: ad.a.value.array, b: ad.b.value.array, mA: ad.a.m.array, vA: ad.a.v.array,
                         mB: ad.b.m.array, vB: ad.b.v.array)
        }
        return TrainerState(lora: lora, optimizer: optimizer, step: stepCount, rngState: rng.state, adapters: ads)
    }

    /// Restores a snapshot taken from a trainer on the same model shape and targets.
    public func restore(_ s: TrainerState) throws {
        try s.lora.validate()
        guard s.rngState.count == 4 else { throw TrainerStateError(message: "RNG state has \(s.rngState.count) words, expected 4") }
        var rng2 = SeededRNG(seed: 0)
        model.attachAdapters(s.lora, rng: &rng2)
        let ads = model.adapters
        guard ads.count == s.adapters.count else {
            throw TrainerStateError(message: "model has \(ads.count) adapters, state has \(s.adapters.count); "
                                    + "hint: the checkpoint was made for other targets or another model")
        }
        for ((name, ad), st) in zip(ads, s.adapters) {
            guard st.name == name, st.rank == ad.rank, st.inFeatures == ad.inFeatures, st.outFeatures == ad.outFeatures,
                  st.a.count == ad.a.count, st.b.count == ad.b.count, st.mA.count == ad.a.count,
                  st.vA.count == ad.a.count, st.mB.count == ad.b.count, st.vB.count == ad.b.count else {
                throw TrainerStateError(message: "adapter \(st.name) (r \(st.rank), \(st.outFeatures)×\(st.inFeatures)) does not "
                                        + "match \(name) (r \(ad.rank), \(ad.outFeatures)×\(ad.inFeatures))")
            }
            ad.a.value.assign(st.a); ad.b.value.assign(st.b)
            ad.a.m.assign(st.mA); ad.a.v.assign(st.vA)
            ad.b.m.assign(st.mB); ad.b.v.assign(st.vB)
        }
        lora = s.lora
        optimizer = s.optimizer
        stepCount = s.step
        rng = SeededRNG(state: s.rngState)
        pendingAlpha = nil
        pendingDropout = nil
    }
}
