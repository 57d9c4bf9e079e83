/// Named base-model tensors in Hugging Face naming and layout, whatever file they came from.
///
/// Names: `model.embed_tokens.weight`, `model.layers.{i}.input_layernorm.weight`,
/// `model.layers.{i}.self_attn.{q,k,v,o}_proj.weight` (and `.bias` for Qwen2 q/k/v),
/// `model.layers.{i}.post_attention_layernorm.weight`, `model.layers.{i}.mlp.{gate,up,down}_proj.weight`,
/// `model.norm.weight`, `lm_head.weight` (absent when tied). Matrices are (out, in) row-major with HF's
/// rotate-half q/k row order: any file-specific layout (GGUF's q/k permutation) is undone by the reader.
public protocol WeightSource: AnyObject {
    /// The model shape, validated against the tensors.
    var config: ModelConfig { get }
    /// Where the weights came from (file or folder path), for messages.
    var origin: String { get }
    /// Whether a tensor of that name exists.
    func has(_ name: String) -> Bool
    /// A 2-D tensor as stored in the file (dequantized lazily, tile by tile); never a full copy.
    func matrix(_ name: String) throws -> FrozenMatrix
    /// A 1-D tensor as fp32.
    func vector(_ name: String) throws -> [Float]
    /// Drops the file's resident pages once the base has been converted (they are read again when touched).
    func releaseResidentPages()
    /// Whether Gemma's norm weights are stored as 1 + w (llama.cpp's GGUF) rather than w (Hugging Face).
    var normsIncludeOne: Bool { get }
}

extension WeightSource {
    /// Hugging Face's convention unless a source says otherwise.
    public var normsIncludeOne: Bool { false }
}

/// A tensor that is missing or has the wrong shape or type.
public struct WeightError: Error, CustomStringConvertible, Sendable {
    /// The file or folder.
    public let origin: String
    /// The tensor name.
    public let tensor: String
    /// What was expected and what was found, with a hint.
    public let message: String

    /// Builds an error naming the file, the tensor and what was wrong.
    public init(origin: String, tensor: String, message: String) {
        self.origin = origin
        self.tensor = tensor
        self.message = message
    }

    public var description: String { "\(origin): tensor \(tensor): \(message)" }
}

extension WeightSource {
    /// Nothing to release for sources that hold no file mapping.
    public func releaseResidentPages() {}
}
