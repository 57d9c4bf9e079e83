/// Activations one block keeps for its backward (all rows of the batch).
final class BlockActivations {
    let ln1, rstd1, q, k, v, att, o, x2, ln2, rstd2, gate, up, h: FloatBuffer
    /// With per-head q/k norms (Qwen3): q and k before their norm, and each head row's rstd.
    let qRaw, kRaw, rstdQ, rstdK: FloatBuffer?
    /// With Gemma's output norms: o_proj's and down_proj's outputs before their norm, and each row's rstd.
    let attnRaw, rstdAttn, mlpRaw, rstdMlp: FloatBuffer?

    init(_ c: ModelConfig, B: Int, T: Int) {
        let N = B * T, C = c.dim, Cq = c.heads * c.headDim, Ckv = c.kvHeads * c.headDim, F = c.ffnDim
        ln1 = FloatBuffer(count: N * C)          // (N, C)
        rstd1 = FloatBuffer(count: N)            // (N)
        q = FloatBuffer(count: N * Cq)           // (N, Cq) after RoPE
        k = FloatBuffer(count: N * Ckv)          // (N, Ckv) after RoPE
        v = FloatBuffer(count: N * Ckv)          // (N, Ckv)
        att = FloatBuffer(count: B * c.heads * T * T)  // (B, heads, T, T) probabilities
        o = FloatBuffer(count: N * Cq)           // (N, Cq) attention output
        x2 = FloatBuffer(count: N * C)           // (N, C) residual after attention
        ln2 = FloatBuffer(count: N * C)          // (N, C)
        rstd2 = FloatBuffer(count: N)            // (N)
        gate = FloatBuffer(count: N * F)         // (N, F)
        up = FloatBuffer(count: N * F)           // (N, F)
        h = FloatBuffer(count: N * F)            // (N, F) silu(gate)·up
        qRaw = c.qkNorm ? FloatBuffer(count: N * Cq) : nil             // (N, Cq) q_proj output
        kRaw = c.qkNorm ? FloatBuffer(count: N * Ckv) : nil            // (N, Ckv) k_proj output
        rstdQ = c.qkNorm ? FloatBuffer(count: N * c.heads) : nil       // (N, heads)
        rstdK = c.qkNorm ? FloatBuffer(count: N * c.kvHeads) : nil     // (N, kvHeads)
        let gemma = c.gemma != nil
        attnRaw = gemma ? FloatBuffer(count: N * C) : nil               // (N, C) o_proj output
        rstdAttn = gemma ? FloatBuffer(count: N) : nil                  // (N)
        mlpRaw = gemma ? FloatBuffer(count: N * C) : nil                // (N, C) down_proj output
        rstdMlp = gemma ? FloatBuffer(count: N) : nil                   // (N)
    }

    /// Every buffer, the optional ones included (for the byte count).
    var all: [FloatBuffer] {
        [ln1, rstd1, q, k, v, att, o, x2, ln2, rstd2, gate, up, h]
            + [qRaw, kRaw, rstdQ, rstdK, attnRaw, rstdAttn, mlpRaw, rstdMlp].compactMap { $0 }
    }
}

/// Whole sequences one worker runs through the network: sequences b0..<b0+nb, rows n0..<n0+n of every (N, ·) buffer.
struct GraphShard {
    let index, b0, nb, n0, n: Int
}

/// A shard's private LoRA gradient accumulators (shards after the first; the first writes the adapters' own).
final class ShardGradients {
    var entries: [(adapter: LoRAAdapter, a: FloatBuffer, b: FloatBuffer)?] = []

    /// Zeroed buffers matching `linears`' current adapters (reallocated when an adapter was replaced); a slot that
    /// repeats a fused module (`firstSlot` false) has none.
    func reset(for linears: [LoRALinear], firstSlot: [Bool]) {
        if entries.count != linears.count { entries = Array(repeating: nil, count: linears.count) }
        for (i, lin) in linears.enumerated() {
            guard let ad = lin.adapter, !lin.isMerged, firstSlot[i] else { entries[i] = nil; continue }
            if let e = entries[i], e.adapter === ad { e.a.zero(); e.b.zero(); continue }
            entries[i] = (ad, FloatBuffer(count: ad.a.count), FloatBuffer(count: ad.b.count))
        }
    }

    var bytes: Int { entries.reduce(0) { $0 + 4 * (($1?.a.count ?? 0) + ($1?.b.count ?? 0)) } }
}

/// Forward and backward of a whole `LlamaModel` for batches of one shape (B, T): owns the activations
/// and gradient scratch, runs every linear as one sgemm per shard of rows, and accumulates LoRA gradients.
///
/// With several threads and a batch they divide, the batch is split into shards of whole sequences and each
/// worker runs its shard through every block, the head and back on its own (single-threaded sgemm, no barrier
/// until the end); the shards' LoRA gradients are then summed in a fixed order, so a run is bit-reproducible for
/// a given thread count. Otherwise one shard holds everything and each kernel splits over the workers instead.
///
/// With `checkpointing`, only each block's input (the residual stream) is kept; backward recomputes a
/// block's activations just before differentiating it (one extra forward of the blocks, far less memory).
public final class TrainingGraph {
    /// The model (its adapters receive the gradients).
    public let model: LlamaModel
    /// Sequences per batch.
    public let B: Int
    /// Positions per sequence.
    public let T: Int
    /// Whether block activations are recomputed in backward.
    public let checkpointing: Bool
    let N: Int
    let shards: [GraphShard]
    let resid: [FloatBuffer]       // L+1 × (N, C): block inputs, then the last block's output
    let acts: [BlockActivations]   // L, or 1 shared when checkpointing
    let lnf, rstdf: FloatBuffer    // (N, C), (N)
    let dres, dln, dff1, dff2, dff3, dattn, dq, dk, dv, attScratch, recomputeOut: FloatBuffer
    let fusedOut: FloatBuffer      // Phi-3: (N, fusedWidth), a fused projection's output or gradient; shard rows start
                                   // at n0 · fusedWidth whichever projection uses it (regions never overlap)
    let fusedWidth: Int            // max(Cq + 2·Ckv, 2F) with fused projections, else 0
    let head: CrossEntropyHead     // the whole batch's unmasked rows, chunked (the shards' budgets together)
    let scratches: [ScratchBuffer] // one per shard (dequantized tiles)
    let shardGrads: [ShardGradients]  // shards 1...
    let linears: [LoRALinear]
    let firstSlot: [Bool]          // per slot of `linears`: the module's first (a fused module fills several)
    let ropes: [RoPETable]         // per layer: the RoPE table of this graph's positions 0..<T
    var tokens: [Int32] = []
    var seed: UInt64? = nil

    /// Logits floats of the LM head's chunk per shard: 64 MiB each for speed; with checkpointing (memory first) 16 MiB
    /// for all shards together, in smaller and slower chunks, or an eighth of the head matrix's own bytes
    /// (`headBytes`) when that is more, up to 64 MiB: every chunk reads the whole matrix, so a large vocabulary in
    /// 16 MiB chunks would read it a dozen times and more each step (Llama-3.2-1B's 501 MiB bf16 head: 16 chunks of
    /// 32 rows for 512 positions, a fifth of the step). The head runs once over the whole batch with the shards'
    /// budgets together (`headBudget × shards`).
    public static func headBudget(checkpointing: Bool, shards: Int, headBytes: Int) -> Int {
        guard checkpointing else { return CrossEntropyHead.fastBudget }
        let total = min(CrossEntropyHead.fastBudget, max(CrossEntropyHead.smallBudget, headBytes / 8 / 4))
        return total / max(1, shards)
    }

    /// Shards for a batch of B sequences on `threads` workers: one per worker when they divide B, else one.
    public static func shardCount(B: Int, threads: Int) -> Int {
        threads > 1 && B >= threads && B % threads == 0 ? threads : 1
    }

    /// A graph for batches of B × T on `model`, sharded over `Parallel.threads` workers when they divide B.
    /// `headChunkRows` overrides the LM head's rows per chunk (`estimate --speed`'s probe: a head of part of the
    /// vocabulary chunked as the whole one would be).
    public init(model: LlamaModel, B: Int, T: Int, checkpointing: Bool = false, headChunkRows: Int? = nil) {
        let c = model.config
        self.model = model
        self.B = B
        self.T = T
        self.checkpointing = checkpointing
        N = B * T
        let count = TrainingGraph.shardCount(B: B, threads: Parallel.threads), per = B / count
        shards = (0..<count).map { GraphShard(index: $0, b0: $0 * per, nb: per, n0: $0 * per * T, n: per * T) }
        let C = c.dim, Cq = c.heads * c.headDim, Ckv = c.kvHeads * c.headDim, F = c.ffnDim
        resid = (0...c.layers).map { _ in FloatBuffer(count: B * T * C) }
        acts = (0..<(checkpointing ? 1 : c.layers)).map { _ in BlockActivations(c, B: B, T: T) }
        lnf = FloatBuffer(count: N * C)
        rstdf = FloatBuffer(count: N)
        dres = FloatBuffer(count: N * C)         // (N, C) gradient of the residual stream
        dln = FloatBuffer(count: N * C)          // (N, C)
        dff1 = FloatBuffer(count: N * F)         // (N, F) dh
        dff2 = FloatBuffer(count: N * F)         // (N, F) dgate
        dff3 = FloatBuffer(count: N * F)         // (N, F) dup
        dattn = FloatBuffer(count: N * Cq)       // (N, Cq) d(attention output)
        dq = FloatBuffer(count: N * Cq)
        dk = FloatBuffer(count: N * Ckv)
        dv = FloatBuffer(count: N * Ckv)
        attScratch = FloatBuffer(count: B * c.kvHeads * T * T)
        recomputeOut = FloatBuffer(count: checkpointing ? N * C : 0)
        fusedWidth = c.fusedProjections ? max(Cq + 2 * Ckv, 2 * F) : 0
        fusedOut = FloatBuffer(count: N * fusedWidth)
        let budget = TrainingGraph.headBudget(checkpointing: checkpointing, shards: count, headBytes: model.lmHead.storageBytes)
        head = CrossEntropyHead(vocab: c.vocab, width: C, rows: N, budget: budget * count, chunkRows: headChunkRows)
        head.softcap = c.gemma?.finalSoftcap
        scratches = shards.map { _ in ScratchBuffer() }
        shardGrads = shards.dropFirst().map { _ in ShardGradients() }
        linears = model.blocks.flatMap { b in LoRATarget.allCases.map { b.linear($0) } }  // at linearIndex(l, t)
        // a fused module fills several slots (Phi-3's qkv_proj is q, k and v): only its first slot takes gradients
        var seen = Set<ObjectIdentifier>()
        firstSlot = linears.map { seen.insert(ObjectIdentifier($0)).inserted }
        ropes = model.ropeTables(for: 0..<T)
    }

    /// Bytes of activations and scratch this graph holds (the shards' private gradient sums are `shardGradientBytes`).
    public var activationBytes: Int {
        var n = resid.reduce(0) { $0 + $1.count } + lnf.count + rstdf.count
        for a in acts { n += a.all.reduce(0) { $0 + $1.count } }
        n += [dres, dln, dff1, dff2, dff3, dattn, dq, dk, dv, attScratch, recomputeOut, fusedOut].reduce(0) { $0 + $1.count }
        n += head.logits.count + head.xs.count + head.dxs.count
        return n * 4
    }

    /// Bytes of the LoRA gradient sums the shards after the first keep: (shards − 1) × the adapters' size.
    public var shardGradientBytes: Int {
        let adapterFloats = zip(linears, firstSlot).reduce(0) { $0 + ($1.1 ? ($1.0.adapter.map { $0.a.count + $0.b.count } ?? 0) : 0) }
        return (shards.count - 1) * adapterFloats * 4
    }

    static func mix(_ seed: UInt64, _ layer: Int, _ target: Int) -> UInt64 {
        var z = seed ^ (UInt64(layer &* 8 &+ target &+ 1) &* 0xD1B5_4A32_D192_ED03)
        z = (z ^ (z >> 29)) &* 0xBF58_476D_1CE4_E5B9
        return z ^ (z >> 32)
    }

    func dropoutSeed(_ l: Int, _ t: LoRATarget) -> UInt64? {
        seed.map { TrainingGraph.mix($0, l, t.index) }
    }

    /// Where layer l's projection t sits in `linears` (and in each shard's gradient entries).
    static func linearIndex(_ l: Int, _ t: LoRATarget) -> Int { l * LoRATarget.allCases.count + t.index }

    func check(_ batch: Batch) throws {
        guard batch.batch == B, batch.seqLen == T else {
            throw ModelInputError(message: "batch is \(batch.batch)×\(batch.seqLen), this graph runs \(B)×\(T)")
        }
        try model.checkTokens(batch.inputs)
        if let i = batch.targets.firstIndex(where: { $0 != Batch.ignore && ($0 < 0 || Int($0) >= model.config.vocab) }) {
            throw ModelInputError(message: "target id \(batch.targets[i]) at position \(i) is outside the vocabulary "
                                  + "0..<\(model.config.vocab)")
        }
    }

    // MARK: forward

    /// Runs the blocks and the final norm over `batch.inputs`; `dropoutSeed` nil = evaluation (no dropout).
    public func forward(_ batch: Batch, dropoutSeed: UInt64?) throws {
        try check(batch)
        let c = model.config, C = c.dim
        tokens = batch.inputs
        seed = dropoutSeed
        tokens.withUnsafeBufferPointer { tp in
            if let t = tp.baseAddress { Embedding.forward(out: resid[0].pointer, tokens: t, table: model.embedding, N: N) }
        }
        Embedding.scale(resid[0].pointer, count: N * C, by: model.embedScale)
        // shared layer state (LoRA's saved x·Aᵀ, dropout seeds) is sized and set before the shards start
        for l in 0..<c.layers {
            for (t, lin, _) in model.blocks[l].projections { lin.prepare(rows: N, dropoutSeed: self.dropoutSeed(l, t)) }
        }
        Parallel.forEachShard(shards.count) { si in
            let sh = shards[si], o = sh.n0 * C
            for l in 0..<c.layers {
                blockForward(l, sh, xIn: resid[l].pointer + o, xOut: resid[l + 1].pointer + o, a: acts[checkpointing ? 0 : l])
            }
            Profiler.measure("fwd.rmsnorm") {
                RMSNorm.forward(out: lnf.pointer + o, rstd: rstdf.pointer + sh.n0, x: resid[c.layers].pointer + o,
                                weight: model.finalNorm.pointer, N: sh.n, C: C, eps: c.normEps)
            }
        }
    }

    /// One block over one shard's rows; `xIn`, `xOut` point at the shard's first row.
    func blockForward(
        _ l: Int, _ sh: GraphShard, xIn: UnsafeMutablePointer<Float>, xOut: UnsafeMutablePointer<Float>, a: BlockActivations
    ) {
        let c = model.config, blk = model.blocks[l]
        let C = c.dim, F = c.ffnDim, Cq = c.heads * c.headDim, Ckv = c.kvHeads * c.headDim
        let n = sh.n, n0 = sh.n0, scratch = scratches[sh.index]
        let ln1 = a.ln1.pointer + n0 * C, q = a.q.pointer + n0 * Cq, k = a.k.pointer + n0 * Ckv, v = a.v.pointer + n0 * Ckv
        let o = a.o.pointer + n0 * Cq, x2 = a.x2.pointer + n0 * C, ln2 = a.ln2.pointer + n0 * C
        let gate = a.gate.pointer + n0 * F, up = a.up.pointer + n0 * F, h = a.h.pointer + n0 * F
        func linear(_ t: LoRATarget, out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>) {
            blk.linear(t).forward(out: out, x: x, N: n, scratch: scratch, dropoutSeed: dropoutSeed(l, t), rowOffset: n0)
        }
        Profiler.measure("fwd.rmsnorm") {
            RMSNorm.forward(out: ln1, rstd: a.rstd1.pointer + n0, x: xIn, weight: blk.inputNorm.pointer, N: n, C: C, eps: c.normEps)
        }
        if let qn = blk.qNorm, let kn = blk.kNorm, let qRaw = a.qRaw, let kRaw = a.kRaw, let rq = a.rstdQ, let rk = a.rstdK {
            // Qwen3: q = norm(q_proj(x)) per head, k likewise, then RoPE
            linear(.q, out: qRaw.pointer + n0 * Cq, x: ln1)
            linear(.k, out: kRaw.pointer + n0 * Ckv, x: ln1)
            Profiler.measure("fwd.rmsnorm") {
                RMSNorm.forward(out: q, rstd: rq.pointer + n0 * c.heads, x: qRaw.pointer + n0 * Cq, weight: qn.pointer,
                                N: n * c.heads, C: c.headDim, eps: c.normEps)
                RMSNorm.forward(out: k, rstd: rk.pointer + n0 * c.kvHeads, x: kRaw.pointer + n0 * Ckv, weight: kn.pointer,
                                N: n * c.kvHeads, C: c.headDim, eps: c.normEps)
            }
        } else if blk.fused {
            // Phi-3: one qkv_proj, its columns q | k | v
            let f = fusedOut.pointer + n0 * fusedWidth
            linear(.q, out: f, x: ln1)
            FusedColumns.split(f, n: n, widths: [Cq, Ckv, Ckv], into: [q, k, v])
        } else {
            linear(.q, out: q, x: ln1)
            linear(.k, out: k, x: ln1)
        }
        if !blk.fused { linear(.v, out: v, x: ln1) }
        let rope = ropes[l]
        Profiler.measure("fwd.rope") {
            RoPE.forward(x: q, table: rope, N: n, T: T, heads: c.heads)
            RoPE.forward(x: k, table: rope, N: n, T: T, heads: c.kvHeads)
        }
        Profiler.measure("fwd.attention") {
            Attention.forward(out: o, att: a.att.pointer + sh.b0 * c.heads * T * T, q: q, k: k, v: v,
                              B: sh.nb, T: T, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                              options: model.attentionOptions(layer: l))
        }
        /// out = t(x), or with Gemma's norm on that output, norm(t(x)) with t(x) and the rstd kept for backward.
        func projectThroughOutputNorm(_ t: LoRATarget, out: UnsafeMutablePointer<Float>, x: UnsafePointer<Float>,
                                      _ w: FloatBuffer?, raw: FloatBuffer?, rstd: FloatBuffer?) {
            guard let w, let raw, let rstd else { return linear(t, out: out, x: x) }
            linear(t, out: raw.pointer + n0 * C, x: x)
            Profiler.measure("fwd.rmsnorm") {
                RMSNorm.forward(out: out, rstd: rstd.pointer + n0, x: raw.pointer + n0 * C, weight: w.pointer, N: n, C: C, eps: c.normEps)
            }
        }
        projectThroughOutputNorm(.o, out: x2, x: o, blk.attnOutNorm, raw: a.attnRaw, rstd: a.rstdAttn)  // x2 = x + (norm of) o_proj
        Profiler.measure("fwd.residual") {
            Vec.addParallel(x2, xIn, n * C)                                              // x2 = x + attn
        }
        Profiler.measure("fwd.rmsnorm") {
            RMSNorm.forward(out: ln2, rstd: a.rstd2.pointer + n0, x: x2, weight: blk.postNorm.pointer, N: n, C: C, eps: c.normEps)
        }
        if blk.fused {
            // Phi-3: one gate_up_proj, its columns gate | up
            let f = fusedOut.pointer + n0 * fusedWidth
            linear(.gate, out: f, x: ln2)
            FusedColumns.split(f, n: n, widths: [F, F], into: [gate, up])
        } else {
            linear(.gate, out: gate, x: ln2)
            linear(.up, out: up, x: ln2)
        }
        Profiler.measure("fwd.swiglu") {
            if c.gemma != nil { GeGLU.forward(h: h, gate: gate, up: up, count: n * F) }
            else { SwiGLU.forward(h: h, gate: gate, up: up, count: n * F) }
        }
        projectThroughOutputNorm(.down, out: xOut, x: h, blk.mlpOutNorm, raw: a.mlpRaw, rstd: a.rstdMlp)  // out = x2 + (norm of) down
        Profiler.measure("fwd.residual") {
            Vec.addParallel(xOut, x2, n * C)                                             // out = x2 + mlp
        }
    }

    // MARK: backward

    /// Head (loss and its gradient, scaled by `gradScale`) then every block backward; adapters' gradients
    /// accumulate. Call after `forward` on the same batch. Returns the summed loss over unmasked positions.
    public func backward(_ batch: Batch, gradScale: Float) -> Double {
        let c = model.config, C = c.dim
        for g in shardGrads { g.reset(for: linears, firstSlot: firstSlot) }
        var loss = 0.0
        batch.targets.withUnsafeBufferPointer { tp in
            guard let targets = tp.baseAddress else { return }
            // The LM head once over the whole batch, each product split over the workers: its (V, C) matrix is read
            // once per chunk for all shards (masked rows never reach it, so with prompts and padding masked the head
            // is one small chunk whose cost is reading that matrix).
            Profiler.measure("bwd.zero") { dln.pointer.update(repeating: 0, count: N * C) }
            loss = Profiler.measure("head") {
                head.forwardBackward(dx: dln.pointer, x: lnf.pointer, weight: model.lmHead, targets: targets, N: N,
                                     gradScale: gradScale)
            }
            Parallel.forEachShard(shards.count) { si in
                let sh = shards[si], o = sh.n0 * C
                Profiler.measure("bwd.zero") {
                    (dres.pointer + o).update(repeating: 0, count: sh.n * C)
                }
                Profiler.measure("bwd.rmsnorm") {
                    RMSNorm.backward(dx: dres.pointer + o, dout: dln.pointer + o, x: resid[c.layers].pointer + o,
                                     weight: model.finalNorm.pointer, rstd: rstdf.pointer + sh.n0, N: sh.n, C: C)
                }
                for l in stride(from: c.layers - 1, through: 0, by: -1) {
                    let a = acts[checkpointing ? 0 : l]
                    if checkpointing {
                        blockForward(l, sh, xIn: resid[l].pointer + o, xOut: recomputeOut.pointer + o, a: a)
                    }
                    blockBackward(l, sh, xIn: resid[l].pointer + o, a: a, needInputGrad: l > 0)
                }
            }
        }
        Profiler.measure("bwd.reduce") { reduceShardGradients() }
        return loss
    }

    /// Adds the shards' private LoRA gradients into the adapters, shard by shard in order (the same sums whatever
    /// the scheduling), split over the workers by layer.
    func reduceShardGradients() {
        guard !shardGrads.isEmpty else { return }
        Parallel.forEachItem(linears.count) { i in
            guard let ad = linears[i].adapter else { return }
            for g in shardGrads {
                guard let e = g.entries[i] else { continue }
                Vec.add(ad.a.grad.pointer, e.a.pointer, ad.a.count)
                Vec.add(ad.b.grad.pointer, e.b.pointer, ad.b.count)
            }
        }
    }

    /// One block's backward over one shard's rows. dres holds d(block output) on entry and d(block input) on exit;
    /// `xIn` points at the shard's first row.
    func blockBackward(_ l: Int, _ sh: GraphShard, xIn: UnsafeMutablePointer<Float>, a: BlockActivations, needInputGrad: Bool) {
        let c = model.config, blk = model.blocks[l]
        let C = c.dim, F = c.ffnDim, Cq = c.heads * c.headDim, Ckv = c.kvHeads * c.headDim
        let n = sh.n, n0 = sh.n0, scratch = scratches[sh.index]
        let dres = self.dres.pointer + n0 * C, dln = self.dln.pointer + n0 * C
        let dff1 = self.dff1.pointer + n0 * F, dff2 = self.dff2.pointer + n0 * F, dff3 = self.dff3.pointer + n0 * F
        let dattn = self.dattn.pointer + n0 * Cq, dq = self.dq.pointer + n0 * Cq
        let dk = self.dk.pointer + n0 * Ckv, dv = self.dv.pointer + n0 * Ckv
        let q = a.q.pointer + n0 * Cq, k = a.k.pointer + n0 * Ckv, v = a.v.pointer + n0 * Ckv
        let ln1 = a.ln1.pointer + n0 * C, ln2 = a.ln2.pointer + n0 * C, x2 = a.x2.pointer + n0 * C
        let grads = sh.index == 0 ? nil : shardGrads[sh.index - 1]
        func linear(_ t: LoRATarget, dx: UnsafeMutablePointer<Float>?, dout: UnsafePointer<Float>, x: UnsafePointer<Float>,
                    accumulate: Bool) {
            let target = grads?.entries[TrainingGraph.linearIndex(l, t)]
            blk.linear(t).backward(dx: dx, dout: dout, x: x, N: n, scratch: scratch, accumulate: accumulate, rowOffset: n0,
                                   grads: target.map { ($0.a.pointer, $0.b.pointer) })
        }
        // MLP: out = x2 + down(silu(gate)·up)
        // (the first write into each gradient buffer overwrites it, so none needs zeroing)
        /// The gradient a projection's output receives: dres, or with Gemma's norm on that output, dres through it into
        /// dln (free at both places this is called: before the gate/up and the q/k/v backward write it).
        func throughOutputNorm(_ w: FloatBuffer?, raw: FloatBuffer?, rstd: FloatBuffer?) -> UnsafePointer<Float> {
            guard let w, let raw, let rstd else { return UnsafePointer(dres) }
            Profiler.measure("bwd.rmsnorm") {
                dln.update(repeating: 0, count: n * C)
                RMSNorm.backward(dx: dln, dout: dres, x: raw.pointer + n0 * C, weight: w.pointer, rstd: rstd.pointer + n0, N: n, C: C)
            }
            return UnsafePointer(dln)
        }
        let dMlp = throughOutputNorm(blk.mlpOutNorm, raw: a.mlpRaw, rstd: a.rstdMlp)
        linear(.down, dx: dff1, dout: dMlp, x: a.h.pointer + n0 * F, accumulate: false)
        Profiler.measure("bwd.swiglu") {
            if c.gemma != nil {
                GeGLU.backward(dgate: dff2, dup: dff3, dh: dff1, gate: a.gate.pointer + n0 * F, up: a.up.pointer + n0 * F,
                               count: n * F)
            } else {
                SwiGLU.backward(dgate: dff2, dup: dff3, dh: dff1, gate: a.gate.pointer + n0 * F, up: a.up.pointer + n0 * F,
                                count: n * F)
            }
        }
        if blk.fused {
            let f = fusedOut.pointer + n0 * fusedWidth
            FusedColumns.join([dff2, dff3], widths: [F, F], n: n, into: f)
            linear(.gate, dx: dln, dout: f, x: ln2, accumulate: false)
        } else {
            linear(.gate, dx: dln, dout: dff2, x: ln2, accumulate: false)
            linear(.up, dx: dln, dout: dff3, x: ln2, accumulate: true)
        }
        Profiler.measure("bwd.rmsnorm") {
            RMSNorm.backward(dx: dres, dout: dln, x: x2, weight: blk.postNorm.pointer, rstd: a.rstd2.pointer + n0,
                             N: n, C: C)                                                  // dres = d x2
        }
        // Attention: x2 = x + o(attn(rope(q), rope(k), v))
        let dAttn = throughOutputNorm(blk.attnOutNorm, raw: a.attnRaw, rstd: a.rstdAttn)
        linear(.o, dx: dattn, dout: dAttn, x: a.o.pointer + n0 * Cq, accumulate: false)
        Profiler.measure("bwd.zero") {
            dq.update(repeating: 0, count: n * Cq); dk.update(repeating: 0, count: n * Ckv); dv.update(repeating: 0, count: n * Ckv)
        }
        Profiler.measure("bwd.attention") {
            Attention.backward(dq: dq, dk: dk, dv: dv, scratch: attScratch.pointer + sh.b0 * c.kvHeads * T * T,
                               dout: dattn, q: q, k: k, v: v, att: a.att.pointer + sh.b0 * c.heads * T * T,
                               B: sh.nb, T: T, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim,
                               options: model.attentionOptions(layer: l))
        }
        let rope = ropes[l]
        Profiler.measure("bwd.rope") {
            RoPE.backward(dx: dq, table: rope, N: n, T: T, heads: c.heads)
            RoPE.backward(dx: dk, table: rope, N: n, T: T, heads: c.kvHeads)
        }
        var dqIn = dq, dkIn = dk  // the gradients the q and k projections receive
        if let qn = blk.qNorm, let kn = blk.kNorm, let qRaw = a.qRaw, let kRaw = a.kRaw, let rq = a.rstdQ, let rk = a.rstdK {
            // through the per-head norms (Qwen3), into buffers free by now: dattn (n, Cq) and dff1 (n, F ≥ Ckv)
            dqIn = dattn; dkIn = dff1
            Profiler.measure("bwd.rmsnorm") {
                dqIn.update(repeating: 0, count: n * Cq); dkIn.update(repeating: 0, count: n * Ckv)
                RMSNorm.backward(dx: dqIn, dout: dq, x: qRaw.pointer + n0 * Cq, weight: qn.pointer, rstd: rq.pointer + n0 * c.heads,
                                 N: n * c.heads, C: c.headDim)
                RMSNorm.backward(dx: dkIn, dout: dk, x: kRaw.pointer + n0 * Ckv, weight: kn.pointer, rstd: rk.pointer + n0 * c.kvHeads,
                                 N: n * c.kvHeads, C: c.headDim)
            }
        }
        let dx: UnsafeMutablePointer<Float>? = needInputGrad ? dln : nil
        if blk.fused {
            let f = fusedOut.pointer + n0 * fusedWidth
            FusedColumns.join([dqIn, dkIn, dv], widths: [Cq, Ckv, Ckv], n: n, into: f)
            linear(.q, dx: dx, dout: f, x: ln1, accumulate: false)
        } else {
            linear(.q, dx: dx, dout: dqIn, x: ln1, accumulate: false)
            linear(.k, dx: dx, dout: dkIn, x: ln1, accumulate: true)
            linear(.v, dx: dx, dout: dv, x: ln1, accumulate: true)
        }
        if needInputGrad {
            Profiler.measure("bwd.rmsnorm") {
                RMSNorm.backward(dx: dres, dout: dln, x: xIn, weight: blk.inputNorm.pointer, rstd: a.rstd1.pointer + n0,
                                 N: n, C: C)                                              // dres = d x
            }
        }
    }

    // MARK: evaluation

    /// Summed masked cross-entropy and the number of unmasked positions, no gradients.
    public func loss(_ batch: Batch) throws -> (sum: Double, count: Int) {
        try forward(batch, dropoutSeed: nil)
        var sum = 0.0
        batch.targets.withUnsafeBufferPointer { tp in
            guard let targets = tp.baseAddress else { return }
            sum = head.forwardBackward(dx: nil, x: lnf.pointer, weight: model.lmHead, targets: targets, N: N, gradScale: 0)
        }
        return (sum, batch.trainedTokens)
    }

    /// Full logits (B·T, V) for the batch's inputs (tests and inference; allocates the whole matrix).
    public func logits(_ batch: Batch) throws -> [Float] {
        try forward(batch, dropoutSeed: nil)
        var out = [Float](repeating: 0, count: N * model.config.vocab)
        out.withUnsafeMutableBufferPointer { p in
            if let o = p.baseAddress { head.logits(out: o, x: lnf.pointer, weight: model.lmHead, N: N) }
        }
        return out
    }
}

extension TrainingGraph {
    /// The fp32 values a graph for B × T on `threads` workers allocates (block activations, gradient scratch, the
    /// LM-head chunk buffers of every shard),
    /// computed without allocating: the estimator's activation figure for this engine. A test keeps it equal to
    /// `activationBytes / 4` of a real graph. `headBytes` is the LM head matrix's storage (its chunks follow it).
    public static func plannedActivationValues(_ c: ModelConfig, B: Int, T: Int, checkpointing: Bool, threads: Int = 1,
                                               headBytes: Int) -> Int {
        let N = B * T, C = c.dim, Cq = c.heads * c.headDim, Ckv = c.kvHeads * c.headDim, F = c.ffnDim
        let block = 2 * N + 3 * N * C + 2 * N * Cq + 2 * N * Ckv + B * c.heads * T * T + 3 * N * F
            + (c.qkNorm ? N * (Cq + Ckv + c.heads + c.kvHeads) : 0) + (c.gemma != nil ? 2 * N * C + 2 * N : 0)
        let blocks = (checkpointing ? 1 : c.layers) * block
        let resid = (c.layers + 1) * N * C + N * C + N
        let grads = 2 * N * C + 3 * N * F + 2 * N * Cq + 2 * N * Ckv + B * c.kvHeads * T * T + (checkpointing ? N * C : 0)
            + (c.fusedProjections ? N * max(Cq + 2 * Ckv, 2 * F) : 0)
        let shards = shardCount(B: B, threads: threads)
        let chunk = CrossEntropyHead.defaultChunkRows(vocab: c.vocab, rows: N,
                                                      budget: shards * headBudget(checkpointing: checkpointing, shards: shards,
                                                                                  headBytes: headBytes))
        let head = chunk * c.vocab + 2 * chunk * C
        return blocks + resid + grads + head
    }
}
