import Foundation

/// How a model rescales its RoPE frequencies for a longer context, as transformers' `rope_scaling` (or transformers
/// 5's `rope_parameters`) says for LLaMA, or as llama.cpp's GGUF stores it (`rope.scaling.*`, `rope_freqs.weight`).
public enum RoPEScaling: Sendable, Equatable {
    /// Position interpolation: every inverse frequency divided by `factor` (`rope_type` "linear").
    case linear(factor: Float)
    /// Llama 3.x (`rope_type` "llama3"): wavelengths longer than originalContext / lowFrequencyFactor are stretched
    /// by `factor`, those shorter than originalContext / highFrequencyFactor are kept, and the band between is a
    /// blend of the two.
    case llama3(factor: Float, lowFrequencyFactor: Float, highFrequencyFactor: Float, originalContext: Int)
    /// Each inverse frequency divided by its own factor (llama.cpp's `rope_freqs.weight`, which its converter writes
    /// for Llama 3.x): one per rotated pair, hd / 2 of them.
    case divisors([Float])
    /// Dynamic NTK (`rope_type` "dynamic", transformers' LLaMA): a forward over positions 0..<L with L above
    /// `originalContext` (config.json's max_position_embeddings) raises the base θ to
    /// θ·(factor·L/originalContext − (factor − 1))^(hd/(hd−2)); up to originalContext the frequencies are plain.
    /// The frequencies therefore depend on the length of the forward, not on the position alone.
    case dynamic(factor: Float, originalContext: Int)

    /// The inverse frequencies θ^(−2i/hd) (i < hd/2) after scaling, in float32 as transformers computes them.
    /// `dynamic` is applied by `inverseFrequencies(headDim:theta:scaling:length:)`, which knows the length; here it
    /// leaves them plain.
    func apply(_ inv: [Float]) -> [Float] {
        switch self {
        case .linear(let factor):
            return inv.map { $0 / factor }
        case .dynamic:
            return inv
        case .divisors(let d):
            return zip(inv, d).map { $0 / $1 }
        case .llama3(let factor, let low, let high, let context):
            // transformers' _compute_llama3_parameters, elementwise
            let lowWavelength = Float(Double(context) / Double(low)), highWavelength = Float(Double(context) / Double(high))
            return inv.map { f in
                let wavelength = Float(2 * Double.pi) / f
                let stretched = wavelength > lowWavelength ? f / factor : f
                guard !(wavelength < highWavelength), !(wavelength > lowWavelength) else { return stretched }
                let smooth = (Float(context) / wavelength - low) / (high - low)
                return (1 - smooth) * stretched / factor + smooth * stretched
            }
        }
    }

    /// The inverse frequencies of head width `headDim` and base θ, as `RoPETable` uses them (transformers' float32
    /// arithmetic), scaled by `scaling` when given.
    /// `length` is the forward's length L (its largest position + 1), which only `dynamic` reads.
    static func inverseFrequencies(headDim: Int, theta: Float, scaling: RoPEScaling?, length: Int = 0) -> [Float] {
        if case .dynamic(let factor, let context)? = scaling, length > context {
            // transformers' _compute_dynamic_ntk_parameters once L exceeds the context: L is a tensor there, so the
            // new base and the powers are float32
            let ratio = factor * Float(length) / Float(context) - (factor - 1)
            let grown = theta * Float(pow(Double(ratio), Double(Float(headDim) / Float(headDim - 2))))
            return (0..<(headDim / 2)).map { i in Float(1) / Float(pow(Double(grown), Double(Float(2 * i) / Float(headDim)))) }
        }
        let base = (0..<(headDim / 2)).map { i in Float(1) / Float(pow(Double(theta), Double(Float(2 * i) / Float(headDim)))) }
        return scaling?.apply(base) ?? base
    }

    /// What llama.cpp's `rope_freqs.weight` holds for this scaling: each frequency's divisor (nil for `linear`,
    /// which GGUF says in metadata instead, and for `dynamic`, which llama.cpp does not have).
    func divisors(headDim: Int, theta: Float) -> [Float]? {
        switch self {
        case .linear, .dynamic: return nil
        case .divisors(let d): return d
        case .llama3:
            let base = Self.inverseFrequencies(headDim: headDim, theta: theta, scaling: nil)
            return zip(base, apply(base)).map { $0 / $1 }
        }
    }

    /// For `divisors` (a GGUF's rope_freqs.weight): the `llama3` scaling that gives the same divisors within 1e-5, when
    /// one does with factor the largest divisor, frequency factors 1 and 4 (every Llama 3.x's) and an original context
    /// that is a power of two up to 2^20 or `context`; nil otherwise (and for the other cases). What a config.json can
    /// say for such a base: the file keeps only the divisors.
    func recoveredLlama3(headDim: Int, theta: Float, context: Int) -> RoPEScaling? {
        guard case .divisors(let d) = self, let factor = d.max(), factor > 1 else { return nil }
        let contexts = (4...20).map { 1 << $0 } + [context]
        for original in contexts where original >= 1 {
            let candidate = RoPEScaling.llama3(factor: factor, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalContext: original)
            guard let c = candidate.divisors(headDim: headDim, theta: theta), c.count == d.count else { continue }
            if zip(c, d).allSatisfy({ abs($0 - $1) <= 1e-5 * $1 }) { return candidate }
        }
        return nil
    }

    /// A config.json scaling object as written: `rope_scaling`, or transformers 5's `rope_parameters` (which also
    /// holds θ).
    struct Raw: Decodable {
        var ropeType: String?
        var type: String?
        var factor: Double?
        var lowFreqFactor: Double?
        var highFreqFactor: Double?
        var originalMaxPositionEmbeddings: Double?
        var ropeTheta: Double?
        var partialRotaryFactor: Double?

        enum CodingKeys: String, CodingKey {
            case ropeType = "rope_type", type, factor, lowFreqFactor = "low_freq_factor", highFreqFactor = "high_freq_factor"
            case originalMaxPositionEmbeddings = "original_max_position_embeddings", ropeTheta = "rope_theta"
            case partialRotaryFactor = "partial_rotary_factor"
        }
    }

    /// The scaling `raw` describes: nil for none or "default". `field` names the object in errors. `maxPositions` is
    /// config.json's max_position_embeddings, the context `dynamic` grows from (nil where dynamic is not supported).
    static func parse(_ raw: Raw, field: String, maxPositions: Int? = nil) throws -> RoPEScaling? {
        let type = raw.ropeType ?? raw.type ?? "default"
        func positive(_ value: Double?, _ key: String) throws -> Float {
            guard let v = value else {
                throw ModelConfigError(field: "\(field).\(key)", message: "expected a number for RoPE scaling `\(type)`")
            }
            guard v.isFinite, v > 0, v < 1e6 else {
                throw ModelConfigError(field: "\(field).\(key)", message: "expected a positive number below 1e6, found \(v)")
            }
            return Float(v)
        }
        switch type {
        case "default":
            return nil
        case "linear":
            return .linear(factor: try positive(raw.factor, "factor"))
        case "dynamic":
            guard let context = maxPositions else {
                throw ModelConfigError(field: "\(field).rope_type",
                                       message: "RoPE scaling `dynamic` is supported for LLaMA-family models only (supported here: default, linear)")
            }
            guard context >= 1 else {
                throw ModelConfigError(field: "max_position_embeddings", message: "expected at least 1 for RoPE scaling `dynamic`, found \(context)")
            }
            let factor = try positive(raw.factor, "factor")
            guard factor >= 1 else {
                throw ModelConfigError(field: "\(field).factor", message: "expected at least 1 for RoPE scaling `dynamic`, found \(factor)")
            }
            return .dynamic(factor: factor, originalContext: context)
        case "llama3":
            let low = try positive(raw.lowFreqFactor, "low_freq_factor"), high = try positive(raw.highFreqFactor, "high_freq_factor")
            guard high > low else {
                throw ModelConfigError(field: "\(field).high_freq_factor",
                                       message: "expected more than low_freq_factor (\(low)), found \(high)")
            }
            let context = try positive(raw.originalMaxPositionEmbeddings, "original_max_position_embeddings")
            guard context >= 1, context.rounded() == context else {
                throw ModelConfigError(field: "\(field).original_max_position_embeddings",
                                       message: "expected a whole number of positions, found \(context)")
            }
            return .llama3(factor: try positive(raw.factor, "factor"), lowFrequencyFactor: low, highFrequencyFactor: high,
                           originalContext: Int(context))
        default:
            throw ModelConfigError(field: "\(field).rope_type",
                                   message: "RoPE scaling `\(Printable.escaped(type, limit: 40))` is not supported (supported: default, linear, dynamic, llama3)")
        }
    }

    /// The config.json object transformers writes for this scaling (without θ); nil for `divisors`, which has none.
    var configObject: [String: Any]? {
        switch self {
        case .linear(let factor):
            return ["rope_type": "linear", "factor": Double(factor)]
        case .dynamic(let factor, _):
            return ["rope_type": "dynamic", "factor": Double(factor)]  // the context is max_position_embeddings
        case .llama3(let factor, let low, let high, let context):
            return ["rope_type": "llama3", "factor": Double(factor), "low_freq_factor": Double(low),
                    "high_freq_factor": Double(high), "original_max_position_embeddings": context]
        case .divisors:
            return nil
        }
    }
}
