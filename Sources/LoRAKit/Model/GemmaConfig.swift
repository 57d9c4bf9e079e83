import Foundation

/// What Gemma 2 and Gemma 3 change in the LLaMA block, as transformers' `Gemma2ForCausalLM` and `Gemma3ForCausalLM`
/// compute it. Settings common to every Gemma (read from the architecture, not from keys): embeddings multiplied by
/// √hidden (rounded to float32), RMSNorm weights applied as (1 + w) (stored that way once loaded), the tanh GELU in the
/// gated MLP, a norm after attention and after the MLP (before each residual add), a tied head by default.
public struct GemmaConfig: Sendable, Equatable {
    /// 2 or 3.
    public var version: Int
    /// Scores are multiplied by query_pre_attn_scalar^(−1/2) instead of head_dim^(−1/2).
    public var queryPreAttnScalar: Float
    /// Attention scores capped as cap·tanh(s/cap) before the mask (Gemma 2; Gemma 3 never applies it).
    public var attentionSoftcap: Float?
    /// Logits capped as cap·tanh(z/cap).
    public var finalSoftcap: Float?
    /// Positions a sliding layer's query sees, itself included (query i sees keys i − window + 1 … i).
    public var slidingWindow: Int
    /// Per layer: whether it is a sliding-window layer (`layer_types`).
    public var slidingLayers: [Bool]
    /// Gemma 3: the RoPE base of the sliding (local) layers; the full layers keep `ModelConfig.ropeTheta` and its
    /// scaling. nil: every layer uses `ropeTheta` (Gemma 2).
    public var localRopeTheta: Float?

    /// A configuration with every field given.
    public init(version: Int, queryPreAttnScalar: Float, attentionSoftcap: Float? = nil, finalSoftcap: Float? = nil,
                slidingWindow: Int, slidingLayers: [Bool], localRopeTheta: Float? = nil) {
        self.version = version
        self.queryPreAttnScalar = queryPreAttnScalar
        self.attentionSoftcap = attentionSoftcap
        self.finalSoftcap = finalSoftcap
        self.slidingWindow = slidingWindow
        self.slidingLayers = slidingLayers
        self.localRopeTheta = localRopeTheta
    }

    /// The factor on token embeddings: √hidden in float32, as transformers' normalizer is.
    public static func embedScale(dim: Int) -> Float { Float(Double(dim).squareRoot()) }

    /// The attention scale of layer `l` and whether it slides.
    func attention(layer l: Int) -> AttentionOptions {
        AttentionOptions(scale: 1 / queryPreAttnScalar.squareRoot(), softcap: version == 2 ? attentionSoftcap : nil,
                         window: l < slidingLayers.count && slidingLayers[l] ? slidingWindow : nil)
    }

    /// The config.json keys transformers writes for this configuration (merged with the common ones by exports).
    var configObject: [String: Any] {
        var o: [String: Any] = [
            "query_pre_attn_scalar": Double(queryPreAttnScalar), "sliding_window": slidingWindow,
            "layer_types": slidingLayers.map { $0 ? "sliding_attention" : "full_attention" },
            "hidden_activation": "gelu_pytorch_tanh",
        ]
        o["attn_logit_softcapping"] = attentionSoftcap.map { Double($0) } ?? NSNull()
        o["final_logit_softcapping"] = finalSoftcap.map { Double($0) } ?? NSNull()
        return o
    }

    private enum Keys: String, CodingKey {
        case architectures, modelType = "model_type", queryPreAttnScalar = "query_pre_attn_scalar"
        case attentionSoftcap = "attn_logit_softcapping", finalSoftcap = "final_logit_softcapping"
        case slidingWindow = "sliding_window", layerTypes = "layer_types", pattern = "sliding_window_pattern"
        case hiddenActivation = "hidden_activation", hiddenAct = "hidden_act", ropeParameters = "rope_parameters"
        case ropeLocalBaseFreq = "rope_local_base_freq", ropeScaling = "rope_scaling", ropeTheta = "rope_theta"
        case bidirectional = "use_bidirectional_attention"
    }

    /// Gemma 3's `rope_parameters` in transformers ≥ 5: one object per layer type.
    private struct PerLayerRope: Decodable {
        var full: RoPEScaling.Raw?
        var sliding: RoPEScaling.Raw?
        enum CodingKeys: String, CodingKey { case full = "full_attention", sliding = "sliding_attention" }
    }

    /// The Gemma part of a config.json (nil for other architectures), with the θ and scaling of the full layers when
    /// Gemma 3 gives them per layer type. Throws naming the key for values loratop cannot run.
    static func decode(from decoder: Decoder, layers: Int, headDim: Int)
        throws -> (gemma: GemmaConfig, ropeTheta: Float?, ropeScaling: RoPEScaling??)? {
        let c = try decoder.container(keyedBy: Keys.self)
        let architectures = (try? c.decodeIfPresent([String].self, forKey: .architectures)) ?? nil
        let modelType = (try? c.decodeIfPresent(String.self, forKey: .modelType)) ?? nil
        let version: Int
        if architectures?.contains("Gemma2ForCausalLM") == true || modelType == "gemma2" { version = 2 }
        else if architectures?.contains("Gemma3ForCausalLM") == true || modelType == "gemma3_text" { version = 3 }
        else { return nil }
        func number(_ key: Keys) throws -> Float? {
            guard let v = try c.decodeIfPresent(Double.self, forKey: key) else { return nil }
            guard v.isFinite, v > 0 else {
                throw ModelConfigError(field: key.rawValue, message: "expected a positive number or null, found \(v)")
            }
            return Float(v)
        }
        let activation = try c.decodeIfPresent(String.self, forKey: .hiddenActivation)
            ?? c.decodeIfPresent(String.self, forKey: .hiddenAct) ?? "gelu_pytorch_tanh"
        guard ["gelu_pytorch_tanh", "gelu_tanh"].contains(activation) else {
            throw ModelConfigError(field: "hidden_activation",
                                   message: "expected gelu_pytorch_tanh (Gemma's tanh GELU), found \(Printable.escaped(activation, limit: 40))")
        }
        if try c.decodeIfPresent(Bool.self, forKey: .bidirectional) == true {
            throw ModelConfigError(field: "use_bidirectional_attention", message: "expected false: loratop trains causal decoders")
        }
        let window = try c.decodeIfPresent(Int.self, forKey: .slidingWindow) ?? 4096
        guard window >= 1 else { throw ModelConfigError(field: "sliding_window", message: "expected at least 1, found \(window)") }
        var sliding: [Bool]
        if let types = try c.decodeIfPresent([String].self, forKey: .layerTypes) {
            guard types.count == layers else {
                throw ModelConfigError(field: "layer_types", message: "expected \(layers) entries (num_hidden_layers), found \(types.count)")
            }
            sliding = try types.map { t in
                switch t {
                case "sliding_attention": return true
                case "full_attention": return false
                default: throw ModelConfigError(field: "layer_types", message: "expected sliding_attention or full_attention, found \(Printable.escaped(t, limit: 40))")
                }
            }
        } else {
            // transformers' defaults: Gemma 2 alternates from a sliding first layer; Gemma 3 slides except every 6th
            let pattern = version == 2 ? 2 : (try c.decodeIfPresent(Int.self, forKey: .pattern) ?? 6)
            guard pattern >= 1 else { throw ModelConfigError(field: "sliding_window_pattern", message: "expected at least 1, found \(pattern)") }
            sliding = (0..<layers).map { ($0 + 1) % pattern != 0 }
        }
        var theta: Float? = nil, scaling: RoPEScaling?? = nil, local: Float? = nil
        if version == 3 {
            if let per = try? c.decodeIfPresent(PerLayerRope.self, forKey: .ropeParameters), per.full != nil || per.sliding != nil {
                if let f = per.full {
                    theta = f.ropeTheta.map(Float.init)
                    scaling = .some(try RoPEScaling.parse(f, field: "rope_parameters.full_attention"))
                }
                if let s = per.sliding {
                    if try RoPEScaling.parse(s, field: "rope_parameters.sliding_attention") != nil {
                        throw ModelConfigError(field: "rope_parameters.sliding_attention.rope_type",
                                               message: "expected default: Gemma 3 scales the full layers' RoPE only")
                    }
                    local = s.ropeTheta.map(Float.init)
                }
            }
            if theta == nil, try c.decodeIfPresent(Double.self, forKey: .ropeTheta) == nil { theta = 1_000_000 }
            local = try local ?? number(.ropeLocalBaseFreq) ?? 10_000
        }
        let gemma = GemmaConfig(
            version: version, queryPreAttnScalar: try number(.queryPreAttnScalar) ?? Float(headDim),
            attentionSoftcap: version == 2 ? try number(.attentionSoftcap) : nil, finalSoftcap: try number(.finalSoftcap),
            slidingWindow: window, slidingLayers: sliding, localRopeTheta: local)
        return (gemma, theta, scaling)
    }
}
