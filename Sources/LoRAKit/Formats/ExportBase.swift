import Foundation

/// What an export needs to know about the base model besides its weights: the llama.cpp architecture name
/// (`llama`, `qwen2` or `qwen3`), the shape, the source GGUF (for its metadata: tokenizer, chat template) when the base
/// is a GGUF file, and the source folder (for tokenizer files) when it is a Hugging Face folder.
public struct ExportBase {
    /// llama.cpp's `general.architecture`: `llama`, `qwen2`, `qwen3`, `gemma2` or `gemma3`.
    public var architecture: String
    /// The model shape.
    public var config: ModelConfig
    /// Where the weights came from (file or folder), for messages and `base_model_name_or_path`.
    public var origin: String
    /// The source GGUF file, when the base is one.
    public var gguf: GGUFFile?
    /// The source Hugging Face folder, when the base is one.
    public var hfFolder: String?

    /// A description from explicit parts (tests, tiny models).
    public init(architecture: String, config: ModelConfig, origin: String, gguf: GGUFFile? = nil, hfFolder: String? = nil) {
        self.architecture = architecture
        self.config = config
        self.origin = origin
        self.gguf = gguf
        self.hfFolder = hfFolder
    }

    /// The description of a loaded weight source (GGUF file or Hugging Face folder).
    public init(source: WeightSource) {
        config = source.config
        origin = source.origin
        if let g = source as? GGUFWeightSource {
            architecture = g.architecture
            gguf = g.file
        } else if let h = source as? HFFolderWeightSource {
            architecture = ["Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3", "Gemma2ForCausalLM": "gemma2",
                            "Gemma3ForCausalLM": "gemma3", "Phi3ForCausalLM": "phi3"][h.architecture] ?? "llama"
            hfFolder = h.folder
        } else {
            let c = source.config
            architecture = c.gemma.map { "gemma\($0.version)" }
                ?? (c.fusedProjections ? "phi3" : c.qkNorm ? "qwen3" : c.attentionBias ? "qwen2" : "llama")
        }
    }

    /// Whether llama.cpp stores q/k rows permuted for this architecture (LLaMA yes, Qwen2 no).
    public var permutesQK: Bool { architecture == "llama" }

    /// For a q or k projection under a permuting architecture: the map HF row → GGUF row; nil otherwise.
    public func ggufRowOrder(module: String, rows: Int) -> [Int32]? {
        guard permutesQK else { return nil }
        if module.hasSuffix("self_attn.q_proj") { return GGUFMatrix.llamaUnpermuteOrder(rows: rows, heads: config.heads) }
        if module.hasSuffix("self_attn.k_proj") { return GGUFMatrix.llamaUnpermuteOrder(rows: rows, heads: config.kvHeads) }
        return nil
    }

    /// Rows of an (rows, cols) row-major matrix moved from HF order to GGUF order (`out[order[i]] = in[i]`).
    static func permuteRows(_ values: [Float], cols: Int, order: [Int32]) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                for (i, g) in order.enumerated() { (d + Int(g) * cols).update(from: s + i * cols, count: cols) }
            }
        }
        return out
    }

    /// Rows of a GGUF-order matrix moved back to HF order (`out[i] = in[order[i]]`).
    static func unpermuteRows(_ values: [Float], cols: Int, order: [Int32]) -> [Float] {
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                for (i, g) in order.enumerated() { (d + i * cols).update(from: s + Int(g) * cols, count: cols) }
            }
        }
        return out
    }
}

/// Output formats of `loratop export`.
public enum ExportFormat: String, CaseIterable, Sendable {
    /// A PEFT adapter folder (adapter_config.json + adapter_model.safetensors).
    case peft
    /// A llama.cpp LoRA adapter GGUF (`--lora` in llama.cpp).
    case ggufAdapter = "gguf-adapter"
    /// The base with the adapter fused, as a Hugging Face folder.
    case mergedHF = "merged-hf"
    /// The base with the adapter fused, as a GGUF model.
    case mergedGGUF = "merged-gguf"
}

/// Storage of exported tensors (`--dtype`).
public enum ExportDType: String, CaseIterable, Sendable {
    /// 32-bit float.
    case f32
    /// IEEE half.
    case f16
    /// bfloat16 (safetensors only).
    case bf16
    /// llama.cpp Q8_0 blocks (GGUF only).
    case q8_0

    /// The GGUF tensor type, or nil when GGUF cannot store it.
    public var ggmlType: GGMLType? {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .q8_0: .q8_0
        case .bf16: nil
        }
    }

    /// The safetensors dtype, or nil when safetensors cannot store it.
    public var safetensorsType: SafetensorsDType? {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .q8_0: nil
        }
    }
}

/// An export that cannot be done: names the output, what was wrong, and a hint.
public struct ExportError: Error, CustomStringConvertible, Sendable {
    /// The output path (or the input at fault).
    public let path: String
    /// What was wrong.
    public let message: String
    /// What to do about it.
    public let hint: String

    /// An error naming the path, the problem and a hint.
    public init(path: String, message: String, hint: String = "") {
        self.path = path
        self.message = message
        self.hint = hint
    }

    public var description: String { hint.isEmpty ? "\(path): \(message)" : "\(path): \(message) (hint: \(hint))" }
}
