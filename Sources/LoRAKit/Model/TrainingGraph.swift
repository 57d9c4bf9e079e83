/// Activations one block keeps for its backward (all rows of the batch).
final class BlockActivations {
    let ln1, rstd1, q, k, v, att, o, x2, ln2, rstd2, gate, up, h: FloatBuffer

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
    }
}

/// Forward and backward of a whole `LlamaModel` for batches of one shape (B, T): owns the activations
/// and gradient scratch, runs every linear as one sgemm over all B·T rows, and accumulates LoRA gradients.
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
    let resid: [FloatBuffer]       // L+1 × (N, C): block inputs, then the last block's output
    let acts: [BlockActivations]   // L, or 1 shared when checkpointing
    let lnf, rstdf: FloatBuffer    // (N, C), (N)
    let dres, dln, dff1, dff2, dff3, dattn, dq, dk, dv, attScratch, recomputeOut: FloatBuffer
    let head: CrossEntropyHead
    let scratch = ScratchBuffer()
    var tokens: [Int32] = []
    var seed: UInt64? = nil

    /// A graph for batches of B × T on `model`.
    public init(model: LlamaModel, B: Int, T: Int, checkpointing: Bool = false) {
        let c = model.config
        self.model = model
        self.B = B
        self.T = T
        self.checkpointing = checkpointing
        N = B * T
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
        head = CrossEntropyHead(vocab: c.vocab, width: C)
        model.rope.ensure(T)
    }

    /// Bytes of activations and scratch this graph holds.
    public var activationBytes: Int {
        var n = resid.reduce(0) { $0 + $1.count } + lnf.count + rstdf.count
        for a in acts {
            n += [a.ln1, a.rstd1, a.q, a.k, a.v, a.att, a.o, a.x2, a.ln2, a.rstd2, a.gate, a.up, a.h].reduce(0) { $0 + $1.count }
        }
        n += [dres, dln, dff1, dff2, dff3, dattn, dq, dk, dv, attScratch, recomputeOut].reduce(0) { $0 + $1.count }
        n += head.logits.count + head.xs.count + head.dxs.count
        return n * 4
    }

    static func mix(_ seed: UInt64, _ layer: Int, _ target: Int) -> UInt64 {
        var z = seed ^ (UInt64(layer &* 8 &+ target &+ 1) &* 0xD1B5_4A32_D192_ED03)
        z = (z ^ (z >> 29)) &* 0xBF58_476D_1CE4_E5B9
        return z ^ (z >> 32)
    }

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
        let c = model.config
        tokens = batch.inputs
        seed = dropoutSeed
        tokens.withUnsafeBufferPointer { tp in
            if let t = tp.baseAddress { Embedding.forward(out: resid[0].pointer, tokens: t, table: model.embedding, N: N) }
        }
        for l in 0..<c.layers {
            blockForward(l, xIn: resid[l].pointer, xOut: resid[l + 1].pointer, a: acts[checkpointing ? 0 : l])
        }
        Profiler.measure("fwd.rmsnorm") {
            RMSNorm.forward(out: lnf.pointer, rstd: rstdf.pointer, x: resid[c.layers].pointer,
                            weight: model.finalNorm.pointer, N: N, C: c.dim, eps: c.normEps)
        }
    }

    func blockForward(_ l: Int, xIn: UnsafeMutablePointer<Float>, xOut: UnsafeMutablePointer<Float>, a: BlockActivations) {
        let c = model.config, blk = model.blocks[l]
        let C = c.dim, F = c.ffnDim
        func s(_ t: LoRATarget) -> UInt64? {
            seed.map { TrainingGraph.mix($0, l, LoRATarget.allCases.firstIndex(of: t) ?? 0) }
        }
        Profiler.measure("fwd.rmsnorm") {
            RMSNorm.forward(out: a.ln1.pointer, rstd: a.rstd1.pointer, x: xIn, weight: blk.inputNorm.pointer,
                            N: N, C: C, eps: c.normEps)
        }
        blk.q.forward(out: a.q.pointer, x: a.ln1.pointer, N: N, scratch: scratch, dropoutSeed: s(.q))
        blk.k.forward(out: a.k.pointer, x: a.ln1.pointer, N: N, scratch: scratch, dropoutSeed: s(.k))
        blk.v.forward(out: a.v.pointer, x: a.ln1.pointer, N: N, scratch: scratch, dropoutSeed: s(.v))
        Profiler.measure("fwd.rope") {
            RoPE.forward(x: a.q.pointer, table: model.rope, N: N, T: T, heads: c.heads)
        }
        Profiler.measure("fwd.rope") {
            RoPE.forward(x: a.k.pointer, table: model.rope, N: N, T: T, heads: c.kvHeads)
        }
        Profiler.measure("fwd.attention") {
            Attention.forward(out: a.o.pointer, att: a.att.pointer, q: a.q.pointer, k: a.k.pointer, v: a.v.pointer,
                              B: B, T: T, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        }
        blk.o.forward(out: a.x2.pointer, x: a.o.pointer, N: N, scratch: scratch, dropoutSeed: s(.o))
        Profiler.measure("fwd.residual") {
            Vec.addParallel(a.x2.pointer, xIn, N * C)                                   // x2 = x + attn
        }
        Profiler.measure("fwd.rmsnorm") {
            RMSNorm.forward(out: a.ln2.pointer, rstd: a.rstd2.pointer, x: a.x2.pointer, weight: blk.postNorm.pointer,
                            N: N, C: C, eps: c.normEps)
        }
        blk.gate.forward(out: a.gate.pointer, x: a.ln2.pointer, N: N, scratch: scratch, dropoutSeed: s(.gate))
        blk.up.forward(out: a.up.pointer, x: a.ln2.pointer, N: N, scratch: scratch, dropoutSeed: s(.up))
        Profiler.measure("fwd.swiglu") {
            SwiGLU.forward(h: a.h.pointer, gate: a.gate.pointer, up: a.up.pointer, count: N * F)
        }
        blk.down.forward(out: xOut, x: a.h.pointer, N: N, scratch: scratch, dropoutSeed: s(.down))
        Profiler.measure("fwd.residual") {
            Vec.addParallel(xOut, a.x2.pointer, N * C)                                  // out = x2 + mlp
        }
    }

    // MARK: backward

    /// Head (loss and its gradient, scaled by `gradScale`) then every block backward; adapters' gradients
    /// accumulate. Call after `forward` on the same batch. Returns the summed loss over unmasked positions.
    public func backward(_ batch: Batch, gradScale: Float) -> Double {
        let c = model.config, C = c.dim
        Profiler.measure("bwd.zero") {
            dln.zero()
        }
        let loss = Profiler.measure("head") { batch.targets.withUnsafeBufferPointer { tp -> Double in
            guard let t = tp.baseAddress else { return 0 }
            return head.forwardBackward(dx: dln.pointer, x: lnf.pointer, weight: model.lmHead, targets: t, N: N,
                                        gradScale: gradScale)
        } }
        Profiler.measure("bwd.zero") {
            dres.zero()
        }
        Profiler.measure("bwd.rmsnorm") {
            RMSNorm.backward(dx: dres.pointer, dout: dln.pointer, x: resid[c.layers].pointer,
                             weight: model.finalNorm.pointer, rstd: rstdf.pointer, N: N, C: C)
        }
        for l in stride(from: c.layers - 1, through: 0, by: -1) {
            let a = acts[checkpointing ? 0 : l]
            if checkpointing { blockForward(l, xIn: resid[l].pointer, xOut: recomputeOut.pointer, a: a) }
            blockBackward(l, xIn: resid[l].pointer, a: a, needInputGrad: l > 0)
        }
        return loss
    }

    /// dres holds d(block output) on entry and d(block input) on exit.
    func blockBackward(_ l: Int, xIn: UnsafeMutablePointer<Float>, a: BlockActivations, needInputGrad: Bool) {
        let c = model.config, blk = model.blocks[l]
        let C = c.dim, F = c.ffnDim
        // MLP: out = x2 + down(silu(gate)·up)
        Profiler.measure("bwd.zero") {
            dff1.zero()
        }
        blk.down.backward(dx: dff1.pointer, dout: dres.pointer, x: a.h.pointer, N: N, scratch: scratch)
        Profiler.measure("bwd.zero") {
            dff2.zero(); dff3.zero()
        }
        Profiler.measure("bwd.swiglu") {
            SwiGLU.backward(dgate: dff2.pointer, dup: dff3.pointer, dh: dff1.pointer, gate: a.gate.pointer, up: a.up.pointer,
                            count: N * F)
        }
        Profiler.measure("bwd.zero") {
            dln.zero()
        }
        blk.gate.backward(dx: dln.pointer, dout: dff2.pointer, x: a.ln2.pointer, N: N, scratch: scratch)
        blk.up.backward(dx: dln.pointer, dout: dff3.pointer, x: a.ln2.pointer, N: N, scratch: scratch)
        Profiler.measure("bwd.rmsnorm") {
            RMSNorm.backward(dx: dres.pointer, dout: dln.pointer, x: a.x2.pointer, weight: blk.postNorm.pointer,
                             rstd: a.rstd2.pointer, N: N, C: C)                          // dres = d x2
        }
        // Attention: x2 = x + o(attn(rope(q), rope(k), v))
        Profiler.measure("bwd.zero") {
            dattn.zero()
        }
        blk.o.backward(dx: dattn.pointer, dout: dres.pointer, x: a.o.pointer, N: N, scratch: scratch)
        Profiler.measure("bwd.zero") {
            dq.zero(); dk.zero(); dv.zero()
        }
        Profiler.measure("bwd.attention") {
            Attention.backward(dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, scratch: attScratch.pointer,
                               dout: dattn.pointer, q: a.q.pointer, k: a.k.pointer, v: a.v.pointer, att: a.att.pointer,
                               B: B, T: T, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim)
        }
        Profiler.measure("bwd.rope") {
            RoPE.backward(dx: dq.pointer, table: model.rope, N: N, T: T, heads: c.heads)
        }
        Profiler.measure("bwd.rope") {
            RoPE.backward(dx: dk.pointer, table: model.rope, N: N, T: T, heads: c.kvHeads)
        }
        let dx: UnsafeMutablePointer<Float>? = needInputGrad ? dln.pointer : nil
        if needInputGrad { dln.zero() }
        blk.q.backward(dx: dx, dout: dq.pointer, x: a.ln1.pointer, N: N, scratch: scratch)
        blk.k.backward(dx: dx, dout: dk.pointer, x: a.ln1.pointer, N: N, scratch: scratch)
        blk.v.backward(dx: dx, dout: dv.pointer, x: a.ln1.pointer, N: N, scratch: scratch)
        if needInputGrad {
            Profiler.measure("bwd.rmsnorm") {
                RMSNorm.backward(dx: dres.pointer, dout: dln.pointer, x: xIn, weight: blk.inputNorm.pointer,
                                 rstd: a.rstd1.pointer, N: N, C: C)                      // dres = d x
            }
        }
    }

    // MARK: evaluation

    /// Summed masked cross-entropy and the number of unmasked positions, no gradients.
    public func loss(_ batch: Batch) throws -> (sum: Double, count: Int) {
        try forward(batch, dropoutSeed: nil)
        let sum = batch.targets.withUnsafeBufferPointer { tp -> Double in
            guard let t = tp.baseAddress else { return 0 }
            return head.forwardBackward(dx: nil, x: lnf.pointer, weight: model.lmHead, targets: t, N: N, gradScale: 0)
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
