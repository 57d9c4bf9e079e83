/// Incremental inference for one sequence: keys (after RoPE) and values of every layer are cached, so each
/// new token costs one row through every linear. `prefill` then `decodeNext` gives the same logits as a full
/// forward over the whole sequence.
public final class KVCache {
    /// The model (adapters apply unless fused; no dropout).
    public let model: LlamaModel
    /// Most positions the cache holds.
    public let capacity: Int
    /// Positions filled so far.
    public private(set) var length = 0
    let keys: [FloatBuffer]    // L × (capacity, Ckv)
    let values: [FloatBuffer]  // L × (capacity, Ckv)
    let scratch = ScratchBuffer()
    let head: CrossEntropyHead

    /// An empty cache for up to `capacity` positions.
    public init(model: LlamaModel, capacity: Int) {
        let c = model.config
        self.model = model
        self.capacity = max(1, capacity)
        let Ckv = c.kvHeads * c.headDim
        keys = (0..<c.layers).map { _ in FloatBuffer(count: max(1, capacity) * Ckv) }
        values = (0..<c.layers).map { _ in FloatBuffer(count: max(1, capacity) * Ckv) }
        head = CrossEntropyHead(vocab: c.vocab, width: c.dim, chunkRows: 1)
        head.softcap = c.gemma?.finalSoftcap
        model.ensureRope(self.capacity)
    }

    /// Forgets every position.
    public func reset() { length = 0 }

    /// Appends `tokens` and returns the logits of the last one (V).
    public func prefill(_ tokens: [Int32]) throws -> [Float] {
        let all = try append(tokens)
        let V = model.config.vocab
        return Array(all[(all.count - V)...])
    }

    /// Appends one token and returns its logits (V).
    public func decodeNext(_ token: Int32) throws -> [Float] { try append([token]) }

    /// Appends `tokens` at positions length..<length+n and returns the logits of each (n, V).
    public func append(_ tokens: [Int32]) throws -> [Float] {
        let c = model.config
        guard !tokens.isEmpty else { throw ModelInputError(message: "no tokens to append") }
        guard length + tokens.count <= capacity else {
            throw ModelInputError(message: "cache holds \(capacity) positions, \(length) used, \(tokens.count) more asked; "
                                  + "hint: reset or make a larger cache")
        }
        try model.checkTokens(tokens)
        let n = tokens.count, p0 = length
        let C = c.dim, Cq = c.heads * c.headDim, Ckv = c.kvHeads * c.headDim, F = c.ffnDim
        let x = FloatBuffer(count: n * C), ln = FloatBuffer(count: n * C), rstd = FloatBuffer(count: n)
        let q = FloatBuffer(count: n * Cq), o = FloatBuffer(count: n * Cq), tmp = FloatBuffer(count: n * C)
        let g = FloatBuffer(count: n * F), u = FloatBuffer(count: n * F), h = FloatBuffer(count: n * F)
        let att = FloatBuffer(count: n * (p0 + n))
        let headRstd = c.qkNorm ? FloatBuffer(count: n * c.heads) : nil  // Qwen3's per-head norms (rstd unused here)
        // Phi-3: a fused projection's output, qkv_proj's or gate_up_proj's (one buffer for every layer)
        let fused = c.fusedProjections ? FloatBuffer(count: n * max(Cq + 2 * Ckv, 2 * F)) : nil
        tokens.withUnsafeBufferPointer { tp in
            if let t = tp.baseAddress { Embedding.forward(out: x.pointer, tokens: t, table: model.embedding, N: n) }
        }
        Embedding.scale(x.pointer, count: n * C, by: model.embedScale)
        let ropes = model.ropeTables(for: p0..<(p0 + n))
        for (l, blk) in model.blocks.enumerated() {
            let kNew = keys[l].pointer + p0 * Ckv, vNew = values[l].pointer + p0 * Ckv
            RMSNorm.forward(out: ln.pointer, rstd: rstd.pointer, x: x.pointer, weight: blk.inputNorm.pointer,
                            N: n, C: C, eps: c.normEps)
            if blk.fused, let f = fused {  // Phi-3: qkv_proj's columns q | k | v
                blk.q.forward(out: f.pointer, x: ln.pointer, N: n, scratch: scratch)
                FusedColumns.split(f.pointer, n: n, widths: [Cq, Ckv, Ckv], into: [q.pointer, kNew, vNew])
            } else {
                blk.q.forward(out: q.pointer, x: ln.pointer, N: n, scratch: scratch)
                blk.k.forward(out: kNew, x: ln.pointer, N: n, scratch: scratch)
                blk.v.forward(out: vNew, x: ln.pointer, N: n, scratch: scratch)
            }
            if let qn = blk.qNorm, let kn = blk.kNorm, let r = headRstd {  // per-head RMSNorm (Qwen3), in place
                RMSNorm.forward(out: q.pointer, rstd: r.pointer, x: q.pointer, weight: qn.pointer, N: n * c.heads, C: c.headDim,
                                eps: c.normEps)
                RMSNorm.forward(out: kNew, rstd: r.pointer, x: kNew, weight: kn.pointer, N: n * c.kvHeads, C: c.headDim,
                                eps: c.normEps)
            }
            let rope = ropes[l]
            RoPE.forward(x: q.pointer, table: rope, N: n, T: n, heads: c.heads, offset: p0)
            RoPE.forward(x: kNew, table: rope, N: n, T: n, heads: c.kvHeads, offset: p0)
            Attention.forwardCached(out: o.pointer, scratch: att.pointer, q: q.pointer, kCache: keys[l].pointer,
                                    vCache: values[l].pointer, Tn: n, offset: p0, heads: c.heads,
                                    kvHeads: c.kvHeads, headDim: c.headDim, options: model.attentionOptions(layer: l))
            blk.o.forward(out: tmp.pointer, x: o.pointer, N: n, scratch: scratch)
            if let w = blk.attnOutNorm {  // Gemma's norm on the attention output, in place
                RMSNorm.forward(out: tmp.pointer, rstd: rstd.pointer, x: tmp.pointer, weight: w.pointer, N: n, C: C, eps: c.normEps)
            }
            Vec.add(x.pointer, tmp.pointer, n * C)
            RMSNorm.forward(out: ln.pointer, rstd: rstd.pointer, x: x.pointer, weight: blk.postNorm.pointer,
                            N: n, C: C, eps: c.normEps)
            if blk.fused, let f = fused {  // Phi-3: gate_up_proj's columns gate | up
                blk.gate.forward(out: f.pointer, x: ln.pointer, N: n, scratch: scratch)
                FusedColumns.split(f.pointer, n: n, widths: [F, F], into: [g.pointer, u.pointer])
            } else {
                blk.gate.forward(out: g.pointer, x: ln.pointer, N: n, scratch: scratch)
                blk.up.forward(out: u.pointer, x: ln.pointer, N: n, scratch: scratch)
            }
            if c.gemma != nil { GeGLU.forward(h: h.pointer, gate: g.pointer, up: u.pointer, count: n * F) }
            else { SwiGLU.forward(h: h.pointer, gate: g.pointer, up: u.pointer, count: n * F) }
            blk.down.forward(out: tmp.pointer, x: h.pointer, N: n, scratch: scratch)
            if let w = blk.mlpOutNorm {  // Gemma's norm on the MLP output, in place
                RMSNorm.forward(out: tmp.pointer, rstd: rstd.pointer, x: tmp.pointer, weight: w.pointer, N: n, C: C, eps: c.normEps)
            }
            Vec.add(x.pointer, tmp.pointer, n * C)
        }
        RMSNorm.forward(out: ln.pointer, rstd: rstd.pointer, x: x.pointer, weight: model.finalNorm.pointer,
                        N: n, C: C, eps: c.normEps)
        var logits = [Float](repeating: 0, count: n * c.vocab)
        logits.withUnsafeMutableBufferPointer { p in
            if let out = p.baseAddress { head.logits(out: out, x: ln.pointer, weight: model.lmHead, N: n) }
        }
        length += n
        return logits
    }
}
