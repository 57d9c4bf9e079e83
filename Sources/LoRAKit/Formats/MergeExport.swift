import Foundation

/// The base with its attached adapters fused in (W + scale·B·A per adapted projection, refusing NaN or Inf),
/// written tensor by tensor as a Hugging Face folder or a GGUF model. At most one tensor's values are in memory
/// at a time; the model's own weights stay where they are (mapped from the file or quantized).
public enum MergeExport {
    /// Every tensor of the merged model in HF naming and layout, in model order; matrices are fused on demand.
    /// Gemma's norms are held as 1 + w: `hfNorms` writes them back as w (transformers' convention), otherwise as held
    /// (llama.cpp's).
    static func plan(_ model: LlamaModel, hfNorms: Bool = true) -> [PlannedTensor] {
        let c = model.config
        let normShift: Float = c.gemma != nil && hfNorms ? 1 : 0
        func matrix(_ name: String, _ m: FrozenMatrix) -> PlannedTensor {
            PlannedTensor(name: name, shape: [m.rows, m.cols]) { m.dequantizedArray() }
        }
        func vector(_ name: String, _ v: FloatBuffer) -> PlannedTensor {
            PlannedTensor(name: name, shape: [v.count]) { normShift == 0 ? v.array : v.array.map { $0 - normShift } }
        }
        func linear(_ lin: LoRALinear) -> [PlannedTensor] {
            var out = [PlannedTensor(name: lin.name + ".weight", shape: [lin.outFeatures, lin.inFeatures]) {
                try lin.fusedWeight().dequantizedArray()  // (out, in) = W + scale·B·A
            }]
            if let b = lin.bias { out.append(PlannedTensor(name: lin.name + ".bias", shape: [b.count]) { b }) }
            return out
        }
        var out = [matrix("model.embed_tokens.weight", model.embedding)]
        for (i, blk) in model.blocks.enumerated() {
            let p = "model.layers.\(i)."
            out.append(vector(p + "input_layernorm.weight", blk.inputNorm))
            if blk.fused {  // Phi-3: qkv_proj, o_proj, the norm, gate_up_proj, down_proj
                out += linear(blk.q) + linear(blk.o)
                out.append(vector(p + "post_attention_layernorm.weight", blk.postNorm))
                out += linear(blk.gate) + linear(blk.down)
                continue
            }
            for t in [LoRATarget.q, .k, .v, .o] { out += linear(blk.linear(t)) }
            if let qn = blk.qNorm, let kn = blk.kNorm {
                out += [vector(p + "self_attn.q_norm.weight", qn), vector(p + "self_attn.k_norm.weight", kn)]
            }
            if let an = blk.attnOutNorm, let mn = blk.mlpOutNorm {  // Gemma: the output norms, and its pre-MLP name
                out += [vector(p + "post_attention_layernorm.weight", an), vector(p + "pre_feedforward_layernorm.weight", blk.postNorm)]
                for t in [LoRATarget.gate, .up, .down] { out += linear(blk.linear(t)) }
                out.append(vector(p + "post_feedforward_layernorm.weight", mn))
                continue
            }
            out.append(vector(p + "post_attention_layernorm.weight", blk.postNorm))
            for t in [LoRATarget.gate, .up, .down] { out += linear(blk.linear(t)) }
        }
        out.append(vector("model.norm.weight", model.finalNorm))
        if !c.tiedEmbeddings { out.append(matrix("lm_head.weight", model.lmHead)) }
        return out
    }

    /// transformers' `config.json` for the merged model (LlamaForCausalLM, Qwen2/Qwen3ForCausalLM or
    /// Gemma2/Gemma3ForCausalLM).
    public static func hfConfigJSON(base: ExportBase, dtype: SafetensorsDType) throws -> String {
        let c = base.config
        if let g = c.gemma { return try gemmaConfigJSON(base: base, gemma: g, dtype: dtype) }
        let qwen = base.architecture == "qwen2" || base.architecture == "qwen3"
        let phi3 = c.fusedProjections
        let mistral = !qwen && !phi3 && c.slidingWindow != nil  // a window only Mistral's (or Phi-3's) config.json can say
        let hfArchitecture = phi3 ? "Phi3ForCausalLM" : base.architecture == "qwen3" ? "Qwen3ForCausalLM" : qwen ? "Qwen2ForCausalLM"
            : mistral ? "MistralForCausalLM" : "LlamaForCausalLM"
        let torchDType = dtype == .f16 ? "float16" : dtype == .bf16 ? "bfloat16" : "float32"
        var rope: [String: Any]? = nil
        if let scaling = c.ropeScaling {
            // a GGUF's rope_freqs.weight says Llama 3's scaling only as divisors: the parameters that give them, if any
            let said = scaling.recoveredLlama3(headDim: c.headDim, theta: c.ropeTheta, context: c.maxPositions) ?? scaling
            guard let object = said.configObject else {
                throw ExportError(path: base.origin, message: "the base's RoPE scaling (one divisor per frequency, GGUF rope_freqs.weight) has no config.json form: no Llama 3 parameters give these divisors",
                                  hint: "export the merged model as GGUF instead")
            }
            rope = object
        }
        var obj: [String: Any] = [
            "architectures": [hfArchitecture],
            "model_type": phi3 ? "phi3" : qwen ? base.architecture : mistral ? "mistral" : "llama",
            "hidden_size": c.dim, "intermediate_size": c.ffnDim, "num_hidden_layers": c.layers,
            "num_attention_heads": c.heads, "num_key_value_heads": c.kvHeads, "head_dim": c.headDim,
            "vocab_size": c.vocab, "max_position_embeddings": c.maxPositions,
            "rms_norm_eps": Double(c.normEps), "rope_theta": Double(c.ropeTheta),
            "rope_parameters": (rope ?? ["rope_type": "default"]).merging(["rope_theta": Double(c.ropeTheta)]) { $1 },
            "tie_word_embeddings": c.tiedEmbeddings, "hidden_act": "silu", "initializer_range": 0.02,
            "attention_dropout": 0.0, "use_cache": true, "dtype": torchDType,
        ]
        if let object = rope { obj["rope_scaling"] = object }
        if mistral || phi3 { obj["sliding_window"] = c.slidingWindow.map { $0 as Any } ?? NSNull() }
        if phi3 {
            obj["original_max_position_embeddings"] = c.maxPositions
            obj["rope_parameters"] = ["rope_type": "default", "rope_theta": Double(c.ropeTheta), "partial_rotary_factor": 1.0]
            obj["attention_bias"] = false
        }
        if !qwen && !mistral && !phi3 {
            obj["attention_bias"] = c.attentionBias
            obj["mlp_bias"] = false
            obj["pretraining_tp"] = 1
        }
        copySpecialIDs(base, into: &obj)
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// Gemma's config.json: its architecture and keys (window, layer types, soft-caps, query_pre_attn_scalar), Gemma 3's
    /// RoPE per layer type.
    static func gemmaConfigJSON(base: ExportBase, gemma g: GemmaConfig, dtype: SafetensorsDType) throws -> String {
        let c = base.config
        var rope: [String: Any] = (c.ropeScaling?.configObject ?? ["rope_type": "default"]).merging(["rope_theta": Double(c.ropeTheta)]) { $1 }
        if c.ropeScaling != nil, c.ropeScaling?.configObject == nil {
            throw ExportError(path: base.origin, message: "the base's RoPE scaling (one divisor per frequency) has no config.json form",
                              hint: "export the adapter instead")
        }
        if let local = g.localRopeTheta {
            rope = ["full_attention": rope, "sliding_attention": ["rope_type": "default", "rope_theta": Double(local)]]
        }
        var obj: [String: Any] = [
            "architectures": [g.version == 2 ? "Gemma2ForCausalLM" : "Gemma3ForCausalLM"],
            "model_type": g.version == 2 ? "gemma2" : "gemma3_text",
            "hidden_size": c.dim, "intermediate_size": c.ffnDim, "num_hidden_layers": c.layers,
            "num_attention_heads": c.heads, "num_key_value_heads": c.kvHeads, "head_dim": c.headDim,
            "vocab_size": c.vocab, "max_position_embeddings": c.maxPositions, "rms_norm_eps": Double(c.normEps),
            "rope_parameters": rope, "tie_word_embeddings": c.tiedEmbeddings, "hidden_act": "gelu_pytorch_tanh",
            "attention_bias": false, "attention_dropout": 0.0, "initializer_range": 0.02, "use_cache": true,
            "dtype": dtype == .f16 ? "float16" : dtype == .bf16 ? "bfloat16" : "float32",
        ]
        obj.merge(g.configObject) { $1 }
        if g.localRopeTheta == nil { obj["rope_theta"] = Double(c.ropeTheta) }
        copySpecialIDs(base, into: &obj)
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// bos/eos/pad ids from the source GGUF's tokenizer metadata or the source folder's config.json.
    static func copySpecialIDs(_ base: ExportBase, into obj: inout [String: Any]) {
        if let g = base.gguf {
            if let bos = g.int("tokenizer.ggml.bos_token_id") { obj["bos_token_id"] = bos }
            if let eos = g.int("tokenizer.ggml.eos_token_id") { obj["eos_token_id"] = eos }
            if let pad = g.int("tokenizer.ggml.padding_token_id") { obj["pad_token_id"] = pad }
        } else if let folder = base.hfFolder, let data = FileManager.default.contents(atPath: folder + "/config.json"),
                  let src = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] {
            for key in ["bos_token_id", "eos_token_id", "pad_token_id"] { if let v = src[key], !(v is NSNull) { obj[key] = v } }
        }
    }

    /// Files copied from a Hugging Face source folder into the merged folder when present.
    public static let tokenizerFiles = ["tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json", "chat_template.jinja"]

    /// Writes `model` (adapters fused) as a Hugging Face folder: config.json, model.safetensors (`dtype`), and the
    /// tokenizer files when the source is a folder that has them. Returns the names of the files written.
    @discardableResult
    public static func writeHF(model: LlamaModel, base: ExportBase, to folder: String, dtype: SafetensorsDType = .f32) throws -> [String] {
        let config = try hfConfigJSON(base: base, dtype: dtype)  // first: a base it cannot describe writes nothing
        try prepareFolder(folder)
        try ExportStream.writeSafetensors(to: folder + "/model.safetensors", metadata: ["format": "pt"],
                                          tensors: plan(model), dtype: dtype)
        try AtomicFile.write(Array(config.utf8), to: folder + "/config.json")
        var written = ["config.json", "model.safetensors"]
        if let src = base.hfFolder {
            for f in tokenizerFiles {
                guard let data = FileManager.default.contents(atPath: src + "/" + f) else { continue }
                try AtomicFile.write([UInt8](data), to: folder + "/" + f)
                written.append(f)
            }
        }
        return written
    }

    /// The GGUF metadata of the merged model: the source GGUF's keys (architecture, tokenizer, chat template)
    /// with `general.file_type` set for `type`, or, for a Hugging Face source, the `<arch>.*` keys from the config.
    public static func ggufMetadata(base: ExportBase, type: GGMLType) -> [(String, GGUFValue)] {
        let fileType: UInt32 = type == .f16 ? 1 : type == .q8_0 ? 7 : 0
        if let g = base.gguf {
            var out: [(String, GGUFValue)] = []
            for k in g.metadataKeys {
                guard let v = g.metadata[k], k != "general.quantization_version" else { continue }
                out.append((k, k == "general.file_type" ? .uint32(fileType) : v))
            }
            if !out.contains(where: { $0.0 == "general.file_type" }) { out.append(("general.file_type", .uint32(fileType))) }
            out.append(("general.quantization_version", .uint32(2)))
            return out
        }
        let c = base.config, a = base.architecture
        var out: [(String, GGUFValue)] = [
            ("general.architecture", .string(a)),
            ("general.name", .string("loratop merged model")),
            ("general.file_type", .uint32(fileType)),
            ("\(a).context_length", .uint32(UInt32(c.maxPositions))),
            ("\(a).embedding_length", .uint32(UInt32(c.dim))),
            ("\(a).block_count", .uint32(UInt32(c.layers))),
            ("\(a).feed_forward_length", .uint32(UInt32(c.ffnDim))),
            ("\(a).rope.dimension_count", .uint32(UInt32(c.headDim))),
            ("\(a).attention.head_count", .uint32(UInt32(c.heads))),
            ("\(a).attention.head_count_kv", .uint32(UInt32(c.kvHeads))),
            ("\(a).attention.layer_norm_rms_epsilon", .float32(c.normEps)),
            ("\(a).rope.freq_base", .float32(c.ropeTheta)),
            ("\(a).vocab_size", .uint32(UInt32(c.vocab))),
        ]
        if case .linear(let factor) = c.ropeScaling {
            out += [("\(a).rope.scaling.type", .string("linear")), ("\(a).rope.scaling.factor", .float32(factor))]
        }
        if c.headDim * c.heads != c.dim || c.gemma != nil {
            out += [("\(a).attention.key_length", .uint32(UInt32(c.headDim))), ("\(a).attention.value_length", .uint32(UInt32(c.headDim)))]
        }
        if let g = c.gemma {
            // what llama.cpp reads (src/models/gemma2.cpp, gemma3.cpp); the layer pattern as one flag per block
            out.append(("\(a).attention.sliding_window", .uint32(UInt32(g.slidingWindow))))
            out.append(("\(a).attention.sliding_window_pattern", .array(.bool, g.slidingLayers.map { .bool($0) })))
            if let cap = g.attentionSoftcap { out.append(("\(a).attn_logit_softcapping", .float32(cap))) }
            if let cap = g.finalSoftcap { out.append(("\(a).final_logit_softcapping", .float32(cap))) }
            if let local = g.localRopeTheta { out.append(("\(a).rope.freq_base_swa", .float32(local))) }
        }
        out.append(("general.quantization_version", .uint32(2)))
        return out
    }

    /// Writes `model` (adapters fused) as a GGUF model: matrices as `type` (F32, F16 or Q8_0), vectors as F32,
    /// LLaMA q/k rows permuted back for llama.cpp. Whether tokenizer metadata was copied is `base.gguf != nil`.
    public static func writeGGUF(model: LlamaModel, base: ExportBase, to path: String, type: GGMLType = .f32) throws {
        guard type == .f32 || type == .f16 || type == .q8_0 else {
            throw ExportError(path: path, message: "a merged GGUF can be f32, f16 or q8_0, not \(type.name)")
        }
        try checkGemmaQueryScale(base, path: path)
        if case .dynamic? = base.config.ropeScaling {
            throw ExportError(path: path, message: "the base's RoPE scaling is dynamic NTK, which llama.cpp does not have (GGUF cannot say it)",
                              hint: "export the merged model as a Hugging Face folder instead, or the adapter alone")
        }
        try prepareFile(path)
        var tensors: [PlannedTensor] = []
        for t in plan(model, hfNorms: false) {
            guard let name = GGUFWeightSource.ggufName(hf: t.name, arch: base.architecture) else {
                throw ExportError(path: path, message: "tensor \(t.name) has no GGUF name")
            }
            let module = t.name.hasSuffix(".weight") ? String(t.name.dropLast(".weight".count)) : String(t.name.dropLast(".bias".count))
            if let order = base.ggufRowOrder(module: module, rows: t.shape[0]) {
                let cols = t.shape.count == 2 ? t.shape[1] : 1
                tensors.append(PlannedTensor(name: name, shape: t.shape) { ExportBase.permuteRows(try t.produce(), cols: cols, order: order) })
            } else {
                tensors.append(PlannedTensor(name: name, shape: t.shape, produce: t.produce))
            }
        }
        if let divisors = model.config.ropeScaling?.divisors(headDim: model.config.headDim, theta: model.config.ropeTheta) {
            tensors.append(PlannedTensor(name: "rope_freqs.weight", shape: [divisors.count]) { divisors })  // as llama.cpp's converter writes Llama 3's
        }
        try ExportStream.writeGGUF(to: path, metadata: ggufMetadata(base: base, type: type), tensors: tensors) { t in
            t.shape.count == 2 ? type : .f32
        }
    }

    /// llama.cpp derives Gemma's query scale from the shape (1/√head_dim, or 1/√(hidden/heads) for the 27B models) and
    /// GGUF has no key for it: a merged GGUF of a base whose query_pre_attn_scalar differs would compute another model.
    static func checkGemmaQueryScale(_ base: ExportBase, path: String) throws {
        guard let g = base.config.gemma else { return }
        let c = base.config
        let is27B = (g.version == 2 && c.layers == 46) || (g.version == 3 && c.layers == 62)
        let derived = is27B ? Float(c.dim / c.heads) : Float(c.headDim)
        guard g.queryPreAttnScalar == derived else {
            throw ExportError(path: path, message: "query_pre_attn_scalar is \(g.queryPreAttnScalar) but llama.cpp would use \(derived) for this shape (GGUF cannot say otherwise)",
                              hint: "export a Hugging Face folder (--format merged-hf) or the adapter instead")
        }
    }

    /// Creates `folder` (and parents) or throws a clear error when it cannot be written.
    static func prepareFolder(_ folder: String) throws {
        do {
            try WritablePath.prepareFolder(folder, hint: "choose a writable --out path")
        } catch let e as FileError {
            throw ExportError(path: folder, message: e.message, hint: e.hint ?? "")
        }
    }

    /// Checks that the file `path` can be written (its folder created when missing) before anything slow.
    static func prepareFile(_ path: String) throws {
        try prepareFolder(AtomicFile.folder(of: path))
        do {
            try WritablePath.checkFile(path, hint: "choose a writable --out path")
        } catch let e as FileError {
            throw ExportError(path: path, message: e.message, hint: e.hint ?? "")
        }
    }
}
