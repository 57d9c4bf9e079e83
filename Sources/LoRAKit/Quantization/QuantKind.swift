import Foundation

/// How the frozen base weights are stored while training.
public enum QuantKind: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    /// Dense float32 (the source dequantized once).
    case none
    /// bitsandbytes-style blockwise 8-bit with the signed dynamic map.
    case int8
    /// bitsandbytes FP4 (1 sign, 2 exponent, 1 mantissa bit), blockwise absmax.
    case fp4
    /// bitsandbytes NormalFloat4 (QLoRA), blockwise absmax.
    case nf4
    /// Exactly as the model file stores it (e.g. GGUF Q4_1), no requantization.
    case source

    /// Parses "nf4", "NF4", "fp32"/"f32" (as none), "q8"/"8bit" (as int8); nil when unknown.
    public init?(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        switch t {
        case "none", "f32", "fp32", "float32", "dense": self = .none
        case "int8", "8bit", "q8", "i8": self = .int8
        case "fp4": self = .fp4
        case "nf4": self = .nf4
        case "source", "file", "native": self = .source
        default: return nil
        }
    }

    public var description: String { rawValue }

    /// Whether this kind requantizes blockwise (and so takes a block size and double quantization).
    public var isBlockwise: Bool { self == .int8 || self == .fp4 || self == .nf4 }

    /// Code bits per weight, before scales (32 for none; nil for source, which depends on the file).
    public var codeBits: Int? {
        switch self {
        case .none: return 32
        case .int8: return 8
        case .fp4, .nf4: return 4
        case .source: return nil
        }
    }

    /// Block sizes bitsandbytes accepts for 4-bit quantization (also used for int8 here).
    public static let validBlockSizes: [Int] = [32, 64, 128, 256, 512, 1024, 2048, 4096]
}

/// A weight that cannot be quantized as asked: a NaN or Inf, or a bad block size.
public struct QuantizationError: Error, CustomStringConvertible, Sendable {
    /// The tensor name given to the quantizer.
    public let tensor: String
    /// What was expected and what was found, with a hint.
    public let message: String

    /// Builds an error naming the tensor.
    public init(tensor: String, message: String) {
        self.tensor = tensor
        self.message = message
    }

    public var description: String { "quantize \(tensor): \(message)" }
}

extension FrozenMatrix {
    /// Storage bits per weight (codes and every scale), e.g. 4.127 for NF4 with double quantization at block 64.
    public var bitsPerParameter: Double { count == 0 ? 0 : Double(storageBytes * 8) / Double(count) }
}
