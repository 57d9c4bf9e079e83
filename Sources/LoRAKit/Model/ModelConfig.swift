/// The shape of a LLaMA-family decoder. Keys match Hugging Face `config.json`, so a config file people
/// already have decodes directly; every field has a default (SmolLM2-135M's value).
public struct ModelConfig: Codable, Sendable, Equatable {
    /// Decoder blocks.
    public var layers: Int = 30
    /// Model width C.
    public var dim: Int = 576
    /// Query heads.
    public var heads: Int = 9
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    public var kvHeads: Int = 3
    /// Per-head width (usually dim / heads).
    public var headDim: Int = 64
    /// SwiGLU hidden width.
    public var ffnDim: Int = 1536
    /// Vocabulary size V.
    public var vocab: Int = 49152
    /// RoPE base frequency θ.
    public var ropeTheta: Float = 100_000
    /// RMSNorm epsilon.
    public var normEps: Float = 1e-5
    /// Whether the LM head reuses the token embedding.
    public var tiedEmbeddings: Bool = true
    /// Longest context the model was trained for.
    public var maxPositions: Int = 8192
    /// Whether q, k, v projections carry a bias (Qwen2).
    public var attentionBias: Bool = false
    /// Whether each head's q and k pass through an RMSNorm of width head_dim before RoPE (Qwen3). Not a config.json
    /// key: Qwen3's architecture implies it.
    public var qkNorm: Bool = false
    /// RoPE frequency scaling (Llama 3.x and others), nil for none. Read from `rope_scaling` or transformers 5's
    /// `rope_parameters` by `init(from:)`; not one of the plain keys.
    public var ropeScaling: RoPEScaling?
    /// Gemma 2 / 3's departures from the LLaMA block, nil for LLaMA, Mistral and Qwen. Read from config.json's Gemma
    /// keys by `init(from:)` when the architecture is Gemma's.
    public var gemma: GemmaConfig?
    /// Mistral's sliding window: every query sees only the last `slidingWindow` positions, itself included (config.json
    /// `sliding_window` of a MistralForCausalLM; nil for none). Gemma's windows are per layer, in `gemma`.
    public var slidingWindow: Int?
    /// Phi-3: q, k, v in one `qkv_proj` and gate, up in one `gate_up_proj` (its architecture implies it).
    public var fusedProjections: Bool = false

    /// The longest sequence generation runs to: `maxPositions`, which dynamic NTK scaling stretches by its factor
    /// (the length its frequencies are meant for; transformers itself sets no limit).
    public var context: Int {
        if case .dynamic(let factor, let original)? = ropeScaling { return Int(Double(original) * Double(factor)) }
        return maxPositions
    }

    enum CodingKeys: String, CodingKey {
        case layers = "num_hidden_layers"
        case dim = "hidden_size"
        case heads = "num_attention_heads"
        case kvHeads = "num_key_value_heads"
        case headDim = "head_dim"
        case ffnDim = "intermediate_size"
        case vocab = "vocab_size"
        case ropeTheta = "rope_theta"
        case normEps = "rms_norm_eps"
        case tiedEmbeddings = "tie_word_embeddings"
        case maxPositions = "max_position_embeddings"
        case attentionBias = "attention_bias"
    }

    /// The objects read besides the plain keys: transformers ≥ 5's `rope_parameters` (θ with the scaling), earlier
    /// versions' `rope_scaling`, and `architectures`.
    private enum RopeKeys: String, CodingKey {
        case ropeParameters = "rope_parameters"
        case ropeScaling = "rope_scaling"
        case architectures
        case slidingWindow = "sliding_window"
        case partialRotaryFactor = "partial_rotary_factor"
    }

    /// A config with every field given.
    public init(
        layers: Int = 30, dim: Int = 576, heads: Int = 9, kvHeads: Int = 3, headDim: Int? = nil,
        ffnDim: Int = 1536, vocab: Int = 49152, ropeTheta: Float = 100_000, normEps: Float = 1e-5,
        tiedEmbeddings: Bool = true, maxPositions: Int = 8192, attentionBias: Bool = false, ropeScaling: RoPEScaling? = nil,
        qkNorm: Bool = false, gemma: GemmaConfig? = nil
    ) {
        self.layers = layers
        self.dim = dim
        self.heads = heads
        self.kvHeads = kvHeads
        self.headDim = headDim ?? (heads > 0 ? dim / heads : 0)
        self.ffnDim = ffnDim
        self.vocab = vocab
        self.ropeTheta = ropeTheta
        self.normEps = normEps
        self.tiedEmbeddings = tiedEmbeddings
        self.maxPositions = maxPositions
        self.attentionBias = attentionBias
        self.ropeScaling = ropeScaling
        self.qkNorm = qkNorm
        self.gemma = gemma
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ModelConfig()
        layers = try c.decodeIfPresent(Int.self, forKey: .layers) ?? d.layers
        dim = try c.decodeIfPresent(Int.self, forKey: .dim) ?? d.dim
        heads = try c.decodeIfPresent(Int.self, forKey: .heads) ?? d.heads
        kvHeads = try c.decodeIfPresent(Int.self, forKey: .kvHeads) ?? heads
        headDim = try c.decodeIfPresent(Int.self, forKey: .headDim) ?? (heads > 0 ? dim / heads : 0)
        ffnDim = try c.decodeIfPresent(Int.self, forKey: .ffnDim) ?? d.ffnDim
        vocab = try c.decodeIfPresent(Int.self, forKey: .vocab) ?? d.vocab
        let extra = try decoder.container(keyedBy: RopeKeys.self)
        // transformers 5 writes rope_parameters (θ with the scaling); earlier versions rope_theta and rope_scaling
        let parameters = try extra.decodeIfPresent(RoPEScaling.Raw.self, forKey: .ropeParameters)
        let scaling = try extra.decodeIfPresent(RoPEScaling.Raw.self, forKey: .ropeScaling)
        maxPositions = try c.decodeIfPresent(Int.self, forKey: .maxPositions) ?? 2048
        ropeScaling = try parameters.flatMap { try RoPEScaling.parse($0, field: "rope_parameters", maxPositions: maxPositions) }
            ?? scaling.flatMap { try RoPEScaling.parse($0, field: "rope_scaling", maxPositions: maxPositions) }
        ropeTheta = try c.decodeIfPresent(Float.self, forKey: .ropeTheta) ?? parameters?.ropeTheta.map(Float.init) ?? 10_000
        normEps = try c.decodeIfPresent(Float.self, forKey: .normEps) ?? d.normEps
        tiedEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? false
        let architectures = (try? extra.decodeIfPresent([String].self, forKey: .architectures)) ?? nil
        // Qwen2 always has q/k/v biases and says so only through its architecture.
        attentionBias = try c.decodeIfPresent(Bool.self, forKey: .attentionBias)
            ?? (architectures?.contains { $0.hasPrefix("Qwen2") } ?? false)
        qkNorm = architectures?.contains { $0.hasPrefix("Qwen3") } ?? false
        if architectures?.contains("Phi3ForCausalLM") == true {
            fusedProjections = true
            // RoPE on only part of each head (Phi-4-mini's 0.75) is not implemented
            let factor = try extra.decodeIfPresent(Double.self, forKey: .partialRotaryFactor) ?? parameters?.partialRotaryFactor ?? 1
            guard factor == 1 else {
                throw ModelConfigError(field: "partial_rotary_factor", message: "expected 1 (RoPE over the whole head), found \(factor)")
            }
        }
        if architectures?.contains("MistralForCausalLM") == true || architectures?.contains("Phi3ForCausalLM") == true {
            // transformers' MistralConfig: 4096 when the key is absent, none when it is null (Phi3Config: none)
            if extra.contains(.slidingWindow) {
                slidingWindow = try extra.decodeNil(forKey: .slidingWindow) ? nil : extra.decode(Int.self, forKey: .slidingWindow)
            } else {
                slidingWindow = fusedProjections ? nil : 4096
            }
        }
        if let g = try GemmaConfig.decode(from: decoder, layers: layers, headDim: headDim) {
            gemma = g.gemma
            if let t = g.ropeTheta { ropeTheta = t }
            if let s = g.ropeScaling { ropeScaling = s }
            qkNorm = g.gemma.version == 3
            tiedEmbeddings = try c.decodeIfPresent(Bool.self, forKey: .tiedEmbeddings) ?? true
            if try c.decodeIfPresent(Float.self, forKey: .normEps) == nil { normEps = 1e-6 }
        }
        try validate()
    }

    /// Checks the shape is self-consistent; throws a message naming the field.
    public func validate() throws {
        func need(_ ok: Bool, _ field: String, _ why: String) throws {
            if !ok { throw ModelConfigError(field: field, message: why) }
        }
        try need(layers > 0 && layers <= 1024, "num_hidden_layers", "expected 1…1024, found \(layers)")
        try need(dim > 0 && dim <= 65536, "hidden_size", "expected 1…65536, found \(dim)")
        try need(heads > 0 && heads <= 1024, "num_attention_heads", "expected 1…1024, found \(heads)")
        try need(kvHeads > 0 && heads % kvHeads == 0, "num_key_value_heads",
                 "expected a divisor of num_attention_heads (\(heads)), found \(kvHeads)")
        try need(headDim > 0 && headDim % 2 == 0 && headDim <= 1024, "head_dim",
                 "expected an even width 2…1024, found \(headDim)")
        try need(ffnDim > 0 && ffnDim <= 1 << 20, "intermediate_size", "expected 1…1048576, found \(ffnDim)")
        try need(vocab > 0 && vocab <= 1 << 24, "vocab_size", "expected 1…16777216, found \(vocab)")
        try need(ropeTheta.isFinite && ropeTheta > 0, "rope_theta", "expected a positive number, found \(ropeTheta)")
        try need(normEps.isFinite && normEps > 0, "rms_norm_eps", "expected a positive number, found \(normEps)")
        if let w = slidingWindow { try need(w >= 1, "sliding_window", "expected at least 1 or null, found \(w)") }
        if let g = gemma {
            try need(g.slidingLayers.count == layers, "layer_types", "expected \(layers) entries, found \(g.slidingLayers.count)")
            try need(g.queryPreAttnScalar.isFinite && g.queryPreAttnScalar > 0, "query_pre_attn_scalar",
                     "expected a positive number, found \(g.queryPreAttnScalar)")
            try need(g.slidingWindow >= 1, "sliding_window", "expected at least 1, found \(g.slidingWindow)")
        }
        // the backward of Qwen3's k norm borrows an (N, F) gradient buffer
        try need(!qkNorm || ffnDim >= kvHeads * headDim, "intermediate_size",
                 "expected at least num_key_value_heads × head_dim (\(kvHeads * headDim)) with per-head q/k norms, found \(ffnDim)")
    }

    /// Parameters of the frozen base (embedding, blocks, norms, and the LM head when untied).
    public var parameterCount: Int {
        let attn = dim * heads * headDim * 2 + dim * kvHeads * headDim * 2
        let mlp = 3 * dim * ffnDim
        let block = attn + mlp + (gemma == nil ? 2 : 4) * dim + (attentionBias ? (heads + 2 * kvHeads) * headDim : 0) + (qkNorm ? 2 * headDim : 0)
        return vocab * dim * (tiedEmbeddings ? 1 : 2) + layers * block + dim
    }
}

/// A model configuration field that is out of range or inconsistent.
public struct ModelConfigError: Error, CustomStringConvertible, Sendable {
    /// The config.json key at fault.
    public let field: String
    /// What was expected and what was found.
    public let message: String
    public var description: String { "model config: \(field): \(message)" }
}
