/// One decoder block: pre-norm attention and pre-norm SwiGLU MLP, each around a residual.
public final class LlamaBlock: @unchecked Sendable {
    /// RMSNorm weight before attention (C).
    public let inputNorm: FloatBuffer
    /// RMSNorm weight before the MLP (C).
    public let postNorm: FloatBuffer
    /// Attention projections: q (Cq, C), k, v (Ckv, C), o (C, Cq).
    public let q: LoRALinear, k: LoRALinear, v: LoRALinear, o: LoRALinear
    /// MLP projections: gate, up (F, C), down (C, F).
    public let gate: LoRALinear, up: LoRALinear, down: LoRALinear
    /// Per-head RMSNorm weights of q and k before RoPE (hd each; Qwen3, Gemma 3), nil for none.
    public let qNorm: FloatBuffer?, kNorm: FloatBuffer?
    /// Gemma: RMSNorm weights on the attention's and the MLP's outputs before each residual add (C each; HF
    /// `post_attention_layernorm` and `post_feedforward_layernorm`), nil for none.
    public let attnOutNorm: FloatBuffer?, mlpOutNorm: FloatBuffer?
    /// Phi-3: `q` is the fused `qkv_proj` (Cq + 2·Ckv rows: q, then k, then v) and `gate` the fused `gate_up_proj`
    /// (2F rows: gate, then up); `k` and `v` are the same object as `q`, `up` as `gate`, and `projections` lists each
    /// module once, so one LoRA adapter spans the fused rows as PEFT's does.
    public let fused: Bool

    /// A block from its weights.
    public init(inputNorm: FloatBuffer, postNorm: FloatBuffer, q: LoRALinear, k: LoRALinear, v: LoRALinear,
                o: LoRALinear, gate: LoRALinear, up: LoRALinear, down: LoRALinear,
                qNorm: FloatBuffer? = nil, kNorm: FloatBuffer? = nil,
                attnOutNorm: FloatBuffer? = nil, mlpOutNorm: FloatBuffer? = nil) {
        self.inputNorm = inputNorm
        self.postNorm = postNorm
        self.qNorm = qNorm
        self.kNorm = kNorm
        self.attnOutNorm = attnOutNorm
        self.mlpOutNorm = mlpOutNorm
        self.q = q; self.k = k; self.v = v; self.o = o
        self.gate = gate; self.up = up; self.down = down
        fused = false
    }

    /// A Phi-3 block: fused qkv_proj and gate_up_proj.
    public init(inputNorm: FloatBuffer, postNorm: FloatBuffer, qkv: LoRALinear, o: LoRALinear, gateUp: LoRALinear,
                down: LoRALinear) {
        self.inputNorm = inputNorm
        self.postNorm = postNorm
        qNorm = nil; kNorm = nil; attnOutNorm = nil; mlpOutNorm = nil
        q = qkv; k = qkv; v = qkv; self.o = o
        gate = gateUp; up = gateUp; self.down = down
        fused = true
    }

    /// Every distinct projection once, in model order, with the target it answers to (q for qkv_proj, gate for
    /// gate_up_proj) and the targets that select it.
    public var projections: [(target: LoRATarget, linear: LoRALinear, selectedBy: [LoRATarget])] {
        if fused { return [(.q, q, [.q, .k, .v]), (.o, o, [.o]), (.gate, gate, [.gate, .up]), (.down, down, [.down])] }
        return LoRATarget.allCases.map { ($0, linear($0), [$0]) }
    }

    /// The projection for a LoRA target.
    public func linear(_ t: LoRATarget) -> LoRALinear {
        switch t {
        case .q: return q
        case .k: return k
        case .v: return v
        case .o: return o
        case .gate: return gate
        case .up: return up
        case .down: return down
        }
    }
}

/// A LLaMA-family decoder (LLaMA, SmolLM2, Qwen2 with q/k/v biases, Qwen3, Gemma 2 and 3) with frozen base weights
/// and optional LoRA adapters on its projections.
public final class LlamaModel: @unchecked Sendable {
    /// The shape.
    public let config: ModelConfig
    /// Token embedding (V, C), frozen.
    public let embedding: FrozenMatrix
    /// LM head (V, C): the same object as `embedding` when tied.
    public let lmHead: FrozenMatrix
    /// The decoder blocks.
    public let blocks: [LlamaBlock]
    /// Final RMSNorm weight (C).
    public let finalNorm: FloatBuffer
    /// RoPE cos/sin tables (grown on demand).
    public let rope: RoPETable
    /// Gemma 3's tables for its sliding (local) layers, with their own base; nil when every layer uses `rope`.
    public let localRope: RoPETable?

    /// A model from its parts.
    public init(config: ModelConfig, embedding: FrozenMatrix, lmHead: FrozenMatrix?, blocks: [LlamaBlock],
                finalNorm: FloatBuffer) {
        self.config = config
        self.embedding = embedding
        self.lmHead = lmHead ?? embedding
        self.blocks = blocks
        self.finalNorm = finalNorm
        rope = RoPETable(headDim: config.headDim, theta: config.ropeTheta, length: 256, scaling: config.ropeScaling)
        localRope = config.gemma?.localRopeTheta.map { RoPETable(headDim: config.headDim, theta: $0, length: 256) }
    }

    /// The RoPE tables layer `l` uses.
    public func rope(layer l: Int) -> RoPETable {
        if let local = localRope, let g = config.gemma, l < g.slidingLayers.count, g.slidingLayers[l] { return local }
        return rope
    }

    /// Every layer's RoPE table for a forward over `positions` (`RoPETable.frames(for:)`: dynamic NTK's frequencies
    /// depend on the forward's length), each distinct table made once. Grows the shared tables to cover them.
    public func ropeTables(for positions: Range<Int>) -> [RoPETable] {
        ensureRope(positions.upperBound)
        let global = rope.frames(for: positions), local = localRope?.frames(for: positions)
        return (0..<config.layers).map { l in rope(layer: l) === rope ? global : local ?? global }
    }

    /// Grows every RoPE table to cover positions 0..<n.
    public func ensureRope(_ n: Int) {
        rope.ensure(n)
        localRope?.ensure(n)
    }

    /// How layer `l` forms its attention scores.
    public func attentionOptions(layer l: Int) -> AttentionOptions {
        config.gemma?.attention(layer: l)
            ?? .standard(headDim: config.headDim, window: config.slidingWindow)
    }

    /// The factor on token embeddings (√C for Gemma, else 1).
    public var embedScale: Float { config.gemma == nil ? 1 : GemmaConfig.embedScale(dim: config.dim) }

    /// Loads the base from a weight source (HF names). `storage` turns each source matrix into what is
    /// trained on: identity keeps the file's storage ("source"), `{ DenseMatrix($1) }` expands to fp32,
    /// a quantizer returns NF4 etc. It receives the tensor name and the source matrix.
    public convenience init(
        source: WeightSource, storage: (String, FrozenMatrix) throws -> FrozenMatrix = { $1 }
    ) throws {
        let c = source.config
        try c.validate()
        let Cq = c.heads * c.headDim, Ckv = c.kvHeads * c.headDim
        func mat(_ name: String, _ rows: Int, _ cols: Int) throws -> FrozenMatrix {
            let m = try source.matrix(name)
            guard m.rows == rows, m.cols == cols else {
                throw WeightError(origin: source.origin, tensor: name,
                                  message: "expected shape [\(rows), \(cols)] (out, in), found [\(m.rows), \(m.cols)]; "
                                  + "hint: the config does not match the weights")
            }
            if let bad = m.firstNonFinite() {
                throw Self.nonFinite(source, name, "\(Finite.word(bad.value)) at row \(bad.row), column \(bad.col) of [\(rows), \(cols)]")
            }
            return try storage(name, m)
        }
        // Gemma's norms multiply by (1 + w): stored that way, so every norm kernel is the same
        let normOffset: Float = c.gemma == nil || source.normsIncludeOne ? 0 : 1
        func norm(_ name: String, _ n: Int) throws -> FloatBuffer {
            FloatBuffer(try vec(name, n).map { $0 + normOffset })
        }
        func vec(_ name: String, _ n: Int) throws -> [Float] {
            let v = try source.vector(name)
            guard v.count == n else {
                throw WeightError(origin: source.origin, tensor: name, message: "expected \(n) values, found \(v.count)")
            }
            if let bad = Finite.firstNonFinite(v) { throw Self.nonFinite(source, name, Finite.describe(bad, of: n)) }
            return v
        }
        let emb = try mat("model.embed_tokens.weight", c.vocab, c.dim)
        var head: FrozenMatrix? = nil
        if !c.tiedEmbeddings || source.has("lm_head.weight") {
            if source.has("lm_head.weight") {
                head = try mat("lm_head.weight", c.vocab, c.dim)
            } else {
                throw WeightError(origin: source.origin, tensor: "lm_head.weight",
                                  message: "missing while tie_word_embeddings is false; hint: check the model file")
            }
        }
        var blocks: [LlamaBlock] = []
        for i in 0..<c.layers {
            let p = "model.layers.\(i)."
            func lin(_ n: String, _ rows: Int, _ cols: Int, bias: Bool) throws -> LoRALinear {
                let name = p + n
                let b: [Float]? = bias ? try vec(name + ".bias", rows) : nil
                return LoRALinear(name: name, base: try mat(name + ".weight", rows, cols), bias: b)
            }
            let qkvBias = c.attentionBias, gemma = c.gemma != nil
            if c.fusedProjections {
                blocks.append(LlamaBlock(
                    inputNorm: try norm(p + "input_layernorm.weight", c.dim), postNorm: try norm(p + "post_attention_layernorm.weight", c.dim),
                    qkv: try lin("self_attn.qkv_proj", Cq + 2 * Ckv, c.dim, bias: false), o: try lin("self_attn.o_proj", c.dim, Cq, bias: false),
                    gateUp: try lin("mlp.gate_up_proj", 2 * c.ffnDim, c.dim, bias: false), down: try lin("mlp.down_proj", c.dim, c.ffnDim, bias: false)))
                continue
            }
            blocks.append(LlamaBlock(
                inputNorm: try norm(p + "input_layernorm.weight", c.dim),
                postNorm: try norm(p + (gemma ? "pre_feedforward_layernorm.weight" : "post_attention_layernorm.weight"), c.dim),
                q: try lin("self_attn.q_proj", Cq, c.dim, bias: qkvBias),
                k: try lin("self_attn.k_proj", Ckv, c.dim, bias: qkvBias),
                v: try lin("self_attn.v_proj", Ckv, c.dim, bias: qkvBias),
                o: try lin("self_attn.o_proj", c.dim, Cq, bias: false),
                gate: try lin("mlp.gate_proj", c.ffnDim, c.dim, bias: false),
                up: try lin("mlp.up_proj", c.ffnDim, c.dim, bias: false),
                down: try lin("mlp.down_proj", c.dim, c.ffnDim, bias: false),
                qNorm: c.qkNorm ? try norm(p + "self_attn.q_norm.weight", c.headDim) : nil,
                kNorm: c.qkNorm ? try norm(p + "self_attn.k_norm.weight", c.headDim) : nil,
                attnOutNorm: gemma ? try norm(p + "post_attention_layernorm.weight", c.dim) : nil,
                mlpOutNorm: gemma ? try norm(p + "post_feedforward_layernorm.weight", c.dim) : nil))
        }
        self.init(config: c, embedding: emb, lmHead: head, blocks: blocks, finalNorm: try norm("model.norm.weight", c.dim))
    }

    /// A base weight that is NaN or infinite: every loss would be NaN from the first step, so the run never starts.
    private static func nonFinite(_ source: WeightSource, _ tensor: String, _ detail: String) -> WeightError {
        WeightError(origin: source.origin, tensor: tensor,
                    message: "holds a non-finite weight (\(detail)); hint: the file is damaged or was saved from a diverged "
                    + "model; training or generating on it gives nan from the first token")
    }

    /// A randomly initialised model of any shape (tests, benchmarks): matrices U(−a, a) with std 0.02,
    /// norms 1, biases small; dense fp32 unless `storage` says otherwise.
    public convenience init(
        random config: ModelConfig, seed: UInt64,
        storage: (String, FrozenMatrix) throws -> FrozenMatrix = { $1 }
    ) throws {
        try config.validate()
        var rng = SeededRNG(seed: seed)
        let a = Float(0.02 * 3.0.squareRoot())
        func mat(_ name: String, _ rows: Int, _ cols: Int) throws -> FrozenMatrix {
            try storage(name, DenseMatrix(rows: rows, cols: cols) { v in for i in v.indices { v[i] = rng.uniform(-a, a) } })
        }
        func ones(_ n: Int) -> FloatBuffer { FloatBuffer([Float](repeating: 1, count: n)) }
        let c = config, Cq = c.heads * c.headDim, Ckv = c.kvHeads * c.headDim
        // the embedding first: stored otherwise (bf16), its fp32 values and their copy are the largest pair held at once
        let emb = try mat("model.embed_tokens.weight", c.vocab, c.dim)
        let head = c.tiedEmbeddings ? nil : try mat("lm_head.weight", c.vocab, c.dim)
        var blocks: [LlamaBlock] = []
        for i in 0..<c.layers {
            let p = "model.layers.\(i)."
            func lin(_ n: String, _ rows: Int, _ cols: Int, bias: Bool) throws -> LoRALinear {
                let b: [Float]? = bias ? (0..<rows).map { _ in rng.uniform(-a, a) } : nil
                return LoRALinear(name: p + n, base: try mat(p + n + ".weight", rows, cols), bias: b)
            }
            if c.fusedProjections {
                blocks.append(LlamaBlock(
                    inputNorm: ones(c.dim), postNorm: ones(c.dim), qkv: try lin("self_attn.qkv_proj", Cq + 2 * Ckv, c.dim, bias: false),
                    o: try lin("self_attn.o_proj", c.dim, Cq, bias: false), gateUp: try lin("mlp.gate_up_proj", 2 * c.ffnDim, c.dim, bias: false),
                    down: try lin("mlp.down_proj", c.dim, c.ffnDim, bias: false)))
                continue
            }
            blocks.append(LlamaBlock(
                inputNorm: ones(c.dim), postNorm: ones(c.dim),
                q: try lin("self_attn.q_proj", Cq, c.dim, bias: c.attentionBias),
                k: try lin("self_attn.k_proj", Ckv, c.dim, bias: c.attentionBias),
                v: try lin("self_attn.v_proj", Ckv, c.dim, bias: c.attentionBias),
                o: try lin("self_attn.o_proj", c.dim, Cq, bias: false),
                gate: try lin("mlp.gate_proj", c.ffnDim, c.dim, bias: false),
                up: try lin("mlp.up_proj", c.ffnDim, c.dim, bias: false),
                down: try lin("mlp.down_proj", c.dim, c.ffnDim, bias: false),
                qNorm: c.qkNorm ? ones(c.headDim) : nil, kNorm: c.qkNorm ? ones(c.headDim) : nil,
                attnOutNorm: c.gemma != nil ? ones(c.dim) : nil, mlpOutNorm: c.gemma != nil ? ones(c.dim) : nil))
        }
        self.init(config: c, embedding: emb, lmHead: head, blocks: blocks, finalNorm: ones(c.dim))
    }

    /// Puts a fresh adapter (PEFT init: A Kaiming-uniform, B zero) on every targeted projection, drawing A
    /// layer by layer in target order q,k,v,o,gate,up,down from `rng`; untargeted projections lose theirs.
    public func attachAdapters(_ lora: LoRAConfig, rng: inout SeededRNG) {
        for block in blocks {
            for (_, lin, selectedBy) in block.projections {
                guard selectedBy.contains(where: lora.targets.contains) else { lin.adapter = nil; continue }
                let ad = LoRAAdapter(name: lin.name, rank: lora.rank, inFeatures: lin.inFeatures,
                                     outFeatures: lin.outFeatures, scale: lora.scale, dropout: lora.dropout)
                ad.initialize(rng: &rng)
                lin.adapter = ad
            }
        }
    }

    /// Every attached adapter in a fixed order (layer, then q,k,v,o,gate,up,down), with its module name.
    public var adapters: [(name: String, adapter: LoRAAdapter)] {
        var out: [(String, LoRAAdapter)] = []
        for block in blocks {
            for (_, lin, _) in block.projections {
                if let ad = lin.adapter { out.append((lin.name, ad)) }
            }
        }
        return out
    }

    /// Throws when a token id is outside the vocabulary (naming the position).
    public func checkTokens(_ tokens: [Int32]) throws {
        if let i = tokens.firstIndex(where: { $0 < 0 || Int($0) >= config.vocab }) {
            throw ModelInputError(message: "token id \(tokens[i]) at position \(i) is outside the vocabulary 0..<\(config.vocab); "
                                  + "hint: the tokenizer does not match the model")
        }
    }
}

/// Input the model cannot run on (token ids, lengths).
public struct ModelInputError: Error, CustomStringConvertible, Sendable {
    /// What was wrong, with a hint.
    public let message: String
    public var description: String { "model input: \(message)" }
}
