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

    /// The inverse frequencies θ^(−2i/hd) (i < hd/2) after scaling, in float32 as transformers computes them.
    func apply(_ inv: [Float]) -> [Float] {
        switch self {
        case .linear(let factor):
            return inv.map { $0 / factor }
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
    static func inverseFrequencies(headDim: Int, theta: Float, scaling: RoPEScaling?) -> [Float] {
        let base = (0..<(headDim / 2)).map { i in Float(1) / Float(pow(Double(theta), Double(Float(2 * i) / Float(headDim)))) }
        return scaling?.apply(base) ?? base
    }

    /// What llama.cpp's `rope_freqs.weight` holds for this scaling: each frequency's divisor (nil for `linear`,
    /// which GGUF says in metadata instead).
    func divisors(headDim: Int, theta: Float) -> [Float]? {
        switch self {
        case .linear: return nil
        case .divisors(let d): return d
        case .llama3:
            let base = Self.inverseFrequencies(headDim: headDim, theta: theta, scaling: nil)
            return zip(base, apply(base)).map { $0 / $1 }
        }
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

    /// The scaling `raw` describes: nil for none or "default". `field` names the object in errors.
    static func parse(_ raw: Raw, field: String) throws -> RoPEScaling? {
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
                                   message: "RoPE scaling `\(Printable.escaped(type, limit: 40))` is not supported (supported: default, linear, llama3)")
        }
    }

    /// The config.json object transformers writes for this scaling (without θ); nil for `divisors`, which has none.
    var configObject: [String: Any]? {
        switch self {
        case .linear(let factor):
            return ["rope_type": "linear", "factor": Double(factor)]
        case .llama3(let factor, let low, let high, let context):
            return ["rope_type": "llama3", "factor": Double(factor), "low_freq_factor": Double(low),
                    "high_freq_factor": Double(high), "original_max_position_embeddings": context]
        case .divisors:
            return nil
        }
    }
}
