/// Named model shapes for the what-if estimator, with their published dimensions.
public struct ModelPreset: Sendable {
    /// Name used on the command line ("llama-65b").
    public let name: String
    /// What it is, for the table heading.
    public let title: String
    /// The shape.
    public let config: ModelConfig

    /// Every preset, smallest first.
    public static let all: [ModelPreset] = [
        ModelPreset(name: "smollm2-135m", title: "SmolLM2-135M", config: ModelConfig()),
        ModelPreset(name: "llama-1b", title: "Llama-3.2-1B shape",
                    config: ModelConfig(layers: 16, dim: 2048, heads: 32, kvHeads: 8, headDim: 64, ffnDim: 8192,
                                        vocab: 128_256, ropeTheta: 500_000, tiedEmbeddings: true, maxPositions: 131_072)),
        ModelPreset(name: "llama-7b", title: "LLaMA-7B",
                    config: ModelConfig(layers: 32, dim: 4096, heads: 32, kvHeads: 32, ffnDim: 11008, vocab: 32000,
                                        ropeTheta: 10_000, tiedEmbeddings: false, maxPositions: 2048)),
        ModelPreset(name: "llama-13b", title: "LLaMA-13B",
                    config: ModelConfig(layers: 40, dim: 5120, heads: 40, kvHeads: 40, ffnDim: 13824, vocab: 32000,
                                        ropeTheta: 10_000, tiedEmbeddings: false, maxPositions: 2048)),
        ModelPreset(name: "llama-65b", title: "LLaMA-65B",
                    config: ModelConfig(layers: 80, dim: 8192, heads: 64, kvHeads: 64, ffnDim: 22016, vocab: 32000,
                                        ropeTheta: 10_000, tiedEmbeddings: false, maxPositions: 2048)),
        ModelPreset(name: "llama-70b", title: "Llama-2-70B",
                    config: ModelConfig(layers: 80, dim: 8192, heads: 64, kvHeads: 8, ffnDim: 28672, vocab: 32000,
                                        ropeTheta: 10_000, tiedEmbeddings: false, maxPositions: 4096)),
    ]

    /// The preset of that name (case-insensitive; "smollm2", "7b", "65B" also work); nil when unknown.
    public static func named(_ text: String) -> ModelPreset? {
        let t = text.lowercased()
        if let p = all.first(where: { $0.name == t }) { return p }
        let aliases = ["smollm2": "smollm2-135m", "135m": "smollm2-135m", "1b": "llama-1b", "7b": "llama-7b",
                       "13b": "llama-13b", "65b": "llama-65b", "70b": "llama-70b"]
        return aliases[t].flatMap { a in all.first { $0.name == a } }
    }
}
