extension MemoryReport {
    /// What a training run of `model` with `trainer` holds, by component, beside the process's resident set read now:
    /// the projections' base storage (what `b` re-stores) apart from the embeddings and LM head (which keep the storage
    /// they were loaded in; the fp32 norms and biases are counted with them), heap copies among `sources` kept for
    /// re-quantizing, the adapters, their gradients (with the shards' private sums), AdamW's moments and the training
    /// graph's activations with each adapter's saved A·x (0 before the first step). `other` (measured load costs) goes last.
    public static func training(model: LlamaModel, trainer: Trainer, sources: [FrozenMatrix] = [],
                                other: [MemoryComponent] = []) -> MemoryReport {
        var projections: [FrozenMatrix] = []
        var vectorFloats = model.finalNorm.count, loraSaved = 0
        for b in model.blocks {
            vectorFloats += b.inputNorm.count + b.postNorm.count + (b.qNorm?.count ?? 0) + (b.kNorm?.count ?? 0)
                + (b.attnOutNorm?.count ?? 0) + (b.mlpOutNorm?.count ?? 0)
            for (_, lin, _) in b.projections {
                projections.append(lin.base)
                vectorFloats += lin.bias?.count ?? 0
                loraSaved += lin.savedBytes
            }
        }
        let heads = model.lmHead !== model.embedding ? [model.embedding, model.lmHead] : [model.embedding]
        let storages = heads.map(\.storageName).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        var parts = baseWeights(projections)
        // sources kept on the heap beside a different storage (a random preset's matrices; a file's own are mapped and
        // cost nothing here)
        let kept = sources.filter { s in (s is DenseMatrix || s is BF16Matrix) && !projections.contains { $0 === s } }
        if !kept.isEmpty {
            parts.append(MemoryComponent("sources for re-quantizing (heap)", bytes: kept.reduce(0) { $0 + $1.storageBytes },
                                         kind: .baseWeights))
        }
        parts.append(MemoryComponent("embeddings \(storages.joined(separator: "/"))",
                                     bytes: heads.reduce(0) { $0 + $1.storageBytes } + 4 * vectorFloats, kind: .baseWeights))
        let p = trainer.parameters.reduce(0) { $0 + $1.count }
        parts.append(MemoryComponent("LoRA A/B", bytes: p * 4, kind: .adapters))
        parts.append(MemoryComponent("gradients", bytes: p * 4 + trainer.shardGradientBytes, kind: .gradients))
        parts.append(MemoryComponent("AdamW m, v", bytes: p * 8, kind: .optimizerState))
        parts.append(MemoryComponent("activations", bytes: trainer.activationBytes + loraSaved, kind: .activations))
        return MemoryReport(components: parts + other, measure: true)
    }
}
