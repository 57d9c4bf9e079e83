/// Base-model weights from a GGUF file (llama.cpp's `llama`, `qwen2`, `qwen3`, `gemma2` and `gemma3` architectures),
/// exposed under HF names and layouts: q/k rows un-permuted for LLaMA, every shape checked against the config read from
/// the metadata. Gemma's norm weights stay as llama.cpp's converter stores them, 1 + w (`normsIncludeOne`).
public final class GGUFWeightSource: WeightSource, @unchecked Sendable {
    /// The parsed file.
    public let file: GGUFFile
    public let config: ModelConfig
    /// `general.architecture`.
    public let architecture: String
    /// HF name → GGUF name, for every tensor present.
    public let hfToGGUF: [String: String]
    private let permuted: Bool

    public var origin: String { file.path }

    /// Architectures whose tensor naming this reader knows.
    public static let supportedArchitectures = ["llama", "qwen2", "qwen3", "gemma2", "gemma3", "phi3"]

    /// Gemma's norms hold 1 + w here (llama.cpp's converter adds the 1), so the model must not add it again.
    public var normsIncludeOne: Bool { config.gemma != nil }

    /// Opens and validates a GGUF model file.
    public convenience init(path: String) throws {
        try self.init(file: GGUFFile(path: path))
    }

    /// Builds the config from `<arch>.*` metadata and checks every expected tensor's presence and shape.
    public init(file: GGUFFile) throws {
        self.file = file
        let path = file.path
        let arch = try file.requireString("general.architecture")
        guard Self.supportedArchitectures.contains(arch) else {
            throw FormatError(file: path, field: "metadata \"general.architecture\"",
                              message: "expected one of \(Self.supportedArchitectures), found \"\(arch)\"",
                              hint: "loratop trains LLaMA-family decoders (LLaMA, SmolLM, Qwen2, Qwen3, Gemma 2 and 3, Phi-3)")
        }
        architecture = arch
        permuted = arch == "llama"
        let dim = try file.requireInt("\(arch).embedding_length")
        let heads = try file.requireInt("\(arch).attention.head_count")
        let kvHeads = file.int("\(arch).attention.head_count_kv") ?? heads
        let headDim = file.int("\(arch).attention.key_length") ?? (heads > 0 ? dim / heads : 0)
        var vocab = file.int("\(arch).vocab_size") ?? file.strings("tokenizer.ggml.tokens")?.count
        if vocab == nil, let emb = file.tensor("token_embd.weight"), emb.dims.count == 2 { vocab = emb.dims[1] }
        let hasOutput = file.tensor("output.weight") != nil
        var cfg = ModelConfig(
            layers: try file.requireInt("\(arch).block_count"),
            dim: dim, heads: heads, kvHeads: kvHeads, headDim: headDim,
            ffnDim: try file.requireInt("\(arch).feed_forward_length"),
            vocab: vocab ?? 0,
            ropeTheta: file.float("\(arch).rope.freq_base") ?? 10_000,
            normEps: file.float("\(arch).attention.layer_norm_rms_epsilon") ?? 1e-5,
            tiedEmbeddings: !hasOutput,
            maxPositions: file.int("\(arch).context_length") ?? 2048,
            attentionBias: file.tensor("blk.0.attn_q.bias") != nil,
            qkNorm: arch == "qwen3" || arch == "gemma3")
        cfg.ropeScaling = try Self.ropeScaling(file, arch: arch, path: path, pairs: headDim / 2)
        if arch.hasPrefix("gemma") { cfg.gemma = try Self.gemma(file, arch: arch, config: cfg, path: path) }
        if arch == "phi3" {
            // fused attn_qkv / ffn_up; llama.cpp runs Phi-3 without its sliding window, and so does this reader
            cfg.fusedProjections = true
            if file.tensor("rope_factors_long.weight") != nil || file.tensor("blk.0.rope_factors_long.weight") != nil {
                throw FormatError(file: path, field: "tensor rope_factors_long.weight",
                                  message: "LongRoPE scaling (Phi-3's 128k-context models) is not supported",
                                  hint: "use a 4k-context Phi-3 / 3.5 model")
            }
        }
        do {
            try cfg.validate()
        } catch let e as ModelConfigError {
            throw FormatError(file: path, field: "metadata (\(e.field))", message: e.message, hint: "the file's metadata is inconsistent")
        }
        config = cfg

        var map = [String: String]()
        for t in file.tensors {
            if let hf = Self.hfName(gguf: t.name, arch: arch) { map[hf] = t.name }
        }
        hfToGGUF = map
        for (name, shape) in Self.expectedShapes(cfg) {
            guard let g = map[name], let info = file.tensor(g) else {
                throw FormatError(file: path, field: "tensor \(Self.ggufName(hf: name, arch: arch) ?? name)",
                                  message: "missing (expected for \(name) with shape \(shape))",
                                  hint: "the file is incomplete or not a \(arch) model")
            }
            let found = Array(info.dims.reversed())  // HF order: (out, in)
            guard found == shape else {
                throw FormatError(file: path, field: "tensor \(g)",
                                  message: "expected shape \(shape) (HF \(name)), found \(found)",
                                  hint: "the tensor does not match the model config in the metadata")
            }
            guard info.type.canDequantize else {
                throw FormatError(file: path, field: "tensor \(g)", message: "storage type \(info.type.name) is not supported",
                                  hint: "re-quantize the model with llama-quantize to Q8_0, Q4_K_M or F16")
            }
        }
    }

    public func has(_ name: String) -> Bool { hfToGGUF[name] != nil }

    public func matrix(_ name: String) throws -> FrozenMatrix {
        let info = try lookup(name)
        guard info.dims.count == 2 else {
            throw WeightError(origin: origin, tensor: name, message: "expected a 2-D tensor, found dims \(info.dims)")
        }
        if permuted, let heads = permutationHeads(name) {
            guard let order = GGUFMatrix.llamaUnpermuteOrder(rows: info.dims[1], heads: heads) else {
                throw WeightError(origin: origin, tensor: name, message: "\(info.dims[1]) rows do not split into \(heads) heads of even width")
            }
            return try GGUFMatrix(file: file, info: info, rowOrder: order)
        }
        return try GGUFMatrix(file: file, info: info)
    }

    public func vector(_ name: String) throws -> [Float] {
        let info = try lookup(name)
        var v = try GGUFMatrix(file: file, info: info).dequantizedArray()
        if permuted, let heads = permutationHeads(name.replacingOccurrences(of: ".bias", with: ".weight")),
           let order = GGUFMatrix.llamaUnpermuteOrder(rows: v.count, heads: heads) {
            v = order.map { v[Int($0)] }
        }
        return v
    }

    private func lookup(_ name: String) throws -> GGUFTensorInfo {
        guard let g = hfToGGUF[name], let info = file.tensor(g) else {
            let hint = name == "lm_head.weight" ? " (hint: the LM head is tied: use model.embed_tokens.weight)" : ""
            throw WeightError(origin: origin, tensor: name, message: "not in this GGUF file\(hint)")
        }
        return info
    }

    /// Heads to un-permute over for q (all heads) and k (kv heads); nil for other tensors.
    private func permutationHeads(_ name: String) -> Int? {
        if name.hasSuffix("self_attn.q_proj.weight") { return config.heads }
        if name.hasSuffix("self_attn.k_proj.weight") { return config.kvHeads }
        return nil
    }

    // MARK: names

    static let blockNames: [(gguf: String, hf: String)] = [
        ("attn_norm", "input_layernorm"), ("ffn_norm", "post_attention_layernorm"),
        ("attn_q", "self_attn.q_proj"), ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"), ("attn_q_norm", "self_attn.q_norm"), ("attn_k_norm", "self_attn.k_norm"),
        ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj"),
    ]

    /// Gemma's block norms: HF's post_attention_layernorm is on the attention output there, and the norm before the
    /// MLP is pre_feedforward_layernorm (llama.cpp's ffn_norm either way).
    static let gemmaBlockNames: [(gguf: String, hf: String)] = blockNames.filter { $0.gguf != "ffn_norm" } + [
        ("ffn_norm", "pre_feedforward_layernorm"), ("post_attention_norm", "post_attention_layernorm"),
        ("post_ffw_norm", "post_feedforward_layernorm"),
    ]

    /// Phi-3's fused projections: attn_qkv is qkv_proj and ffn_up is gate_up_proj (gate rows, then up rows).
    static let phi3BlockNames: [(gguf: String, hf: String)] = blockNames.filter { !["attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up"].contains($0.gguf) } + [
        ("attn_qkv", "self_attn.qkv_proj"), ("ffn_up", "mlp.gate_up_proj"),
    ]

    /// The block names of a GGUF architecture.
    static func blockNames(arch: String) -> [(gguf: String, hf: String)] {
        arch.hasPrefix("gemma") ? gemmaBlockNames : arch == "phi3" ? phi3BlockNames : blockNames
    }

    /// The HF name of a GGUF tensor name ("blk.3.attn_q.weight" → "model.layers.3.self_attn.q_proj.weight") under
    /// architecture `arch`'s names (Gemma's norms, Phi-3's fused projections), or nil.
    public static func hfName(gguf: String, arch: String = "llama") -> String? {
        switch gguf {
        case "token_embd.weight": return "model.embed_tokens.weight"
        case "output_norm.weight": return "model.norm.weight"
        case "output.weight": return "lm_head.weight"
        default: break
        }
        let parts = gguf.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "blk", let layer = Int(parts[1]), layer >= 0,
              parts[3] == "weight" || parts[3] == "bias",
              let pair = blockNames(arch: arch).first(where: { $0.gguf == parts[2] }) else { return nil }
        return "model.layers.\(layer).\(pair.hf).\(parts[3])"
    }

    /// The GGUF name of an HF tensor name under architecture `arch`'s names, or nil.
    public static func ggufName(hf: String, arch: String = "llama") -> String? {
        switch hf {
        case "model.embed_tokens.weight": return "token_embd.weight"
        case "model.norm.weight": return "output_norm.weight"
        case "lm_head.weight": return "output.weight"
        default: break
        }
        guard hf.hasPrefix("model.layers.") else { return nil }
        let rest = hf.dropFirst("model.layers.".count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let tail = rest[rest.index(after: dot)...]
        for pair in blockNames(arch: arch) {
            for kind in ["weight", "bias"] where tail == "\(pair.hf).\(kind)" {
                return "blk.\(layer).\(pair.gguf).\(kind)"
            }
        }
        return nil
    }

    /// RoPE scaling as llama.cpp stores it: `rope.scaling.type` linear with `rope.scaling.factor`, or a
    /// `rope_freqs.weight` of one divisor per rotated pair (what its converter writes for Llama 3.x).
    static func ropeScaling(_ file: GGUFFile, arch: String, path: String, pairs: Int) throws -> RoPEScaling? {
        if let info = file.tensor("rope_freqs.weight") {
            guard info.dims.reduce(1, *) == pairs else {
                throw FormatError(file: path, field: "tensor rope_freqs.weight",
                                  message: "expected \(pairs) frequency factors (head width / 2), found dims \(info.dims)")
            }
            let factors = try GGUFMatrix(file: file, info: info).dequantizedArray()
            if let i = factors.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw FormatError(file: path, field: "tensor rope_freqs.weight",
                                  message: "expected positive frequency factors, found \(factors[i]) at \(i)")
            }
            return .divisors(factors)
        }
        let type = file.string("\(arch).rope.scaling.type") ?? "none"
        switch type {
        case "none":
            return nil
        case "linear":
            guard let factor = file.float("\(arch).rope.scaling.factor"), factor.isFinite, factor > 0 else {
                throw FormatError(file: path, field: "metadata \(arch).rope.scaling.factor",
                                  message: "expected a positive factor for linear RoPE scaling")
            }
            return factor == 1 ? nil : .linear(factor: factor)
        default:
            throw FormatError(file: path, field: "metadata \(arch).rope.scaling.type",
                              message: "RoPE scaling `\(Printable.escaped(type, limit: 40))` is not supported (supported: none, linear, and Llama 3's rope_freqs)")
        }
    }

    /// Gemma's settings as llama.cpp reads them (src/models/gemma2.cpp, gemma3.cpp): the window from
    /// `attention.sliding_window` (Gemma 2: 4096 when absent; Gemma 3: no sliding layers when absent or 0), the layer
    /// pattern from `attention.sliding_window_pattern` (a period, or one flag per layer; else 2 for Gemma 2, 6 for
    /// Gemma 3: every period's last layer is full), the soft-caps, Gemma 3's local base `rope.freq_base_swa` (10,000
    /// when absent), and the query scale 1/√head_dim, or 1/√(hidden/heads) for the 27B models, which GGUF does not
    /// store.
    static func gemma(_ file: GGUFFile, arch: String, config c: ModelConfig, path: String) throws -> GemmaConfig {
        let version = arch == "gemma2" ? 2 : 3
        var window = file.int("\(arch).attention.sliding_window") ?? (version == 2 ? 4096 : 0)
        var sliding: [Bool]
        if let flags = file.bools("\(arch).attention.sliding_window_pattern") {
            guard flags.count == c.layers else {
                throw FormatError(file: path, field: "metadata \(arch).attention.sliding_window_pattern",
                                  message: "expected \(c.layers) flags (one per block), found \(flags.count)")
            }
            sliding = flags
        } else {
            let period = file.int("\(arch).attention.sliding_window_pattern") ?? (version == 2 ? 2 : 6)
            sliding = (0..<c.layers).map { period == 0 || $0 % period < period - 1 }
        }
        if window <= 0 { window = 1; sliding = sliding.map { _ in false } }
        let is27B = (version == 2 && c.layers == 46) || (version == 3 && c.layers == 62)
        func cap(_ key: String) -> Float? { file.float("\(arch).\(key)").flatMap { $0 > 0 && $0.isFinite ? $0 : nil } }
        return GemmaConfig(
            version: version, queryPreAttnScalar: is27B ? Float(c.dim / c.heads) : Float(c.headDim),
            attentionSoftcap: version == 2 ? cap("attn_logit_softcapping") ?? 50 : nil,
            finalSoftcap: cap("final_logit_softcapping") ?? (version == 2 ? 30 : nil),
            slidingWindow: window, slidingLayers: sliding,
            localRopeTheta: version == 3 ? file.float("\(arch).rope.freq_base_swa") ?? 10_000 : nil)
    }

    /// Every tensor a model of this config must have, with its HF shape (out, in) or (n).
    public static func expectedShapes(_ c: ModelConfig) -> [(String, [Int])] {
        var out: [(String, [Int])] = [("model.embed_tokens.weight", [c.vocab, c.dim]), ("model.norm.weight", [c.dim])]
        if !c.tiedEmbeddings { out.append(("lm_head.weight", [c.vocab, c.dim])) }
        let q = c.heads * c.headDim, kv = c.kvHeads * c.headDim
        for i in 0..<c.layers {
            let p = "model.layers.\(i)."
            if c.gemma != nil {
                out += [(p + "pre_feedforward_layernorm.weight", [c.dim]), (p + "post_feedforward_layernorm.weight", [c.dim])]
            }
            if c.fusedProjections {  // Phi-3
                out += [
                    (p + "input_layernorm.weight", [c.dim]), (p + "post_attention_layernorm.weight", [c.dim]),
                    (p + "self_attn.qkv_proj.weight", [q + 2 * kv, c.dim]), (p + "self_attn.o_proj.weight", [c.dim, q]),
                    (p + "mlp.gate_up_proj.weight", [2 * c.ffnDim, c.dim]), (p + "mlp.down_proj.weight", [c.dim, c.ffnDim]),
                ]
                continue
            }
            out += [
                (p + "input_layernorm.weight", [c.dim]), (p + "post_attention_layernorm.weight", [c.dim]),
                (p + "self_attn.q_proj.weight", [q, c.dim]), (p + "self_attn.k_proj.weight", [kv, c.dim]),
                (p + "self_attn.v_proj.weight", [kv, c.dim]), (p + "self_attn.o_proj.weight", [c.dim, q]),
                (p + "mlp.gate_proj.weight", [c.ffnDim, c.dim]), (p + "mlp.up_proj.weight", [c.ffnDim, c.dim]),
                (p + "mlp.down_proj.weight", [c.dim, c.ffnDim]),
            ]
            if c.attentionBias {
                out += [(p + "self_attn.q_proj.bias", [q]), (p + "self_attn.k_proj.bias", [kv]), (p + "self_attn.v_proj.bias", [kv])]
            }
            if c.qkNorm { out += [(p + "self_attn.q_norm.weight", [c.headDim]), (p + "self_attn.k_norm.weight", [c.headDim])] }
        }
        return out
    }
}

extension GGUFWeightSource {
    /// Drops the resident pages of the file's mapping (see `MappedFile.releaseResidentPages`).
    public func releaseResidentPages() { file.mapped.releaseResidentPages() }
}
