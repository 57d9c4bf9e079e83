extension Trainer {
    /// Changes the rank of every adapter while keeping what was learned (see `RankResize`): growing leaves every
    /// update B·A·scale unchanged, shrinking keeps its best rank-r approximation. AdamW moments follow the same maps.
    /// Returns the largest relative error a shrink introduced over all modules (0 when growing).
    @discardableResult
    public func resize(rank newRank: Int) throws -> Double {
        var s = state()
        guard newRank != s.lora.rank else { return 0 }
        var newLora = s.lora
        newLora.rank = newRank
        try newLora.validate()
        try Self.checkRank(newRank, fits: model, targets: newLora.targets)
        let oldScale = s.lora.scale, newScale = newLora.scale
        var fresh = SeededRNG(seed: rng.next())
        var worst = 0.0
        for i in s.adapters.indices {
            let a = s.adapters[i]
            let f = LoRAFactors(rank: a.rank, inFeatures: a.inFeatures, outFeatures: a.outFeatures, a: a.a, b: a.b,
                                mA: a.mA, vA: a.vA, mB: a.mB, vB: a.vB)
            let g: LoRAFactors
            if newRank > a.rank {
                g = RankResize.grow(f, to: newRank, oldScale: oldScale, newScale: newScale, rng: &fresh)
            } else {
                let (shrunk, err) = try RankResize.shrink(f, to: newRank, oldScale: oldScale, newScale: newScale)
                g = shrunk
                worst = max(worst, err)
            }
            s.adapters[i] = AdapterState(name: a.name, rank: g.rank, inFeatures: g.inFeatures, outFeatures: g.outFeatures,
                                         a: g.a, b: g.b, mA: g.mA, vA: g.vA, mB: g.mB, vB: g.vB)
        }
        s.lora = newLora
        s.rngState = rng.state
        try restore(s)
        lastGradientNorms = nil  // the new factors have had no gradient yet
        releaseActivations()
        return worst
    }
}
