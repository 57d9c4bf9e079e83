/// Named model shapes for the what-if estimator and `bench`, with their published dimensions (config.json of each).
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
        ModelPreset(name: "qwen2.5-0.5b", title: "Qwen2.5-0.5B shape",
                    config: ModelConfig(layers: 24, dim: 896, heads: 14, kvHeads: 2, headDim: 64, ffnDim: 4864,
                                        vocab: 151_936, ropeTheta: 1_000_000, normEps: 1e-6, tiedEmbeddings: true,
                                        maxPositions: 32_768, attentionBias: true)),
        ModelPreset(name: "qwen3-0.6b", title: "Qwen3-0.6B shape",
                    config: ModelConfig(layers: 28, dim: 1024, heads: 16, kvHeads: 8, headDim: 128, ffnDim: 3072,
                                        vocab: 151_936, ropeTheta: 1_000_000, normEps: 1e-6, tiedEmbeddings: true,
                                        maxPositions: 40_960, qkNorm: true)),
        ModelPreset(name: "gemma3-1b", title: "Gemma-3-1B shape",
                    config: ModelConfig(layers: 26, dim: 1152, heads: 4, kvHeads: 1, headDim: 256, ffnDim: 6912,
                                        vocab: 262_144, ropeTheta: 1_000_000, normEps: 1e-6, tiedEmbeddings: true,
                                        maxPositions: 32_768, qkNorm: true,
                                        gemma: GemmaConfig(version: 3, queryPreAttnScalar: 256, slidingWindow: 512,
                                                           slidingLayers: (0..<26).map { ($0 + 1) % 6 != 0 },
                                                           localRopeTheta: 10_000))),
        ModelPreset(name: "llama-1b", title: "Llama-3.2-1B shape",
                    config: ModelConfig(layers: 16, dim: 2048, heads: 32, kvHeads: 8, headDim: 64, ffnDim: 8192,
                                        vocab: 128_256, ropeTheta: 500_000, tiedEmbeddings: true, maxPositions: 131_072,
                                        ropeScaling: .llama3(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4,
                                                             originalContext: 8192))),
        ModelPreset(name: "gemma2-2b", title: "Gemma-2-2B shape",
                    config: ModelConfig(layers: 26, dim: 2304, heads: 8, kvHeads: 4, headDim: 256, ffnDim: 9216,
                                        vocab: 256_000, ropeTheta: 10_000, normEps: 1e-6, tiedEmbeddings: true,
                                        maxPositions: 8192,
                                        gemma: GemmaConfig(version: 2, queryPreAttnScalar: 256, attentionSoftcap: 50,
                                                           finalSoftcap: 30, slidingWindow: 4096,
                                                           slidingLayers: (0..<26).map { $0 % 2 == 0 }))),
        ModelPreset(name: "llama-3b", title: "Llama-3.2-3B shape",
                    config: ModelConfig(layers: 28, dim: 3072, heads: 24, kvHeads: 8, headDim: 128, ffnDim: 8192,
                                        vocab: 128_256, ropeTheta: 500_000, tiedEmbeddings: true, maxPositions: 131_072,
                                        ropeScaling: .llama3(factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4,
                                                             originalContext: 8192))),
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
                       "13b": "llama-13b", "65b": "llama-65b", "70b": "llama-70b", "llama-3.2-1b": "llama-1b",
                       "llama-3.2-3b": "llama-3b", "3b": "llama-3b", "qwen2.5": "qwen2.5-0.5b", "qwen3": "qwen3-0.6b",
                       "gemma-3-1b": "gemma3-1b", "gemma3": "gemma3-1b", "gemma-2-2b": "gemma2-2b", "gemma2": "gemma2-2b"]
        return aliases[t].flatMap { a in all.first { $0.name == a } }
    }
}
