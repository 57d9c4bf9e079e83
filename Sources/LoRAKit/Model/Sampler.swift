/// How the next token is chosen from logits: greedy (temperature 0) or sampled with temperature, top-k and top-p,
/// from a seeded generator (the same seed gives the same text).
public struct SamplingOptions: Sendable, Equatable {
    /// 0 = greedy (argmax); otherwise logits are divided by it before the softmax.
    public var temperature: Float = 0
    /// Keep only the k most likely tokens (0 = all).
    public var topK: Int = 0
    /// Keep the smallest set of most likely tokens whose probability reaches p (1 = all).
    public var topP: Float = 1
    /// Seed of the sampling generator.
    public var seed: UInt64 = 0

    /// Options; the defaults are greedy.
    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.seed = seed
    }
}

/// Chooses tokens from logits according to `SamplingOptions`.
public struct Sampler: Sendable {
    /// The options in force.
    public let options: SamplingOptions
    private var rng: SeededRNG

    /// A sampler seeded from the options.
    public init(_ options: SamplingOptions) {
        self.options = options
        rng = SeededRNG(seed: options.seed)
    }

    /// The index of the largest logit (the first one on ties, as torch.argmax).
    public static func argmax(_ logits: [Float]) -> Int {
        var best = 0
        var bestValue = -Float.infinity
        for (i, v) in logits.enumerated() where v > bestValue {
            best = i
            bestValue = v
        }
        return best
    }

    /// The next token for these logits (V).
    public mutating func next(_ logits: [Float]) -> Int32 {
        if options.temperature <= 0 { return Int32(Sampler.argmax(logits)) }
        // Candidates sorted by logit, descending (ties by index for determinism).
        var order = Array(logits.indices).filter { logits[$0].isFinite }
        if order.isEmpty { return Int32(Sampler.argmax(logits)) }
        order.sort { logits[$0] > logits[$1] || (logits[$0] == logits[$1] && $0 < $1) }
        if options.topK > 0 && options.topK < order.count { order.removeLast(order.count - options.topK) }
        let maxLogit = logits[order[0]]
        var probs = order.map { Double(((logits[$0] - maxLogit) / options.temperature)).expValue }
        let total = probs.reduce(0, +)
        for i in probs.indices { probs[i] /= total }
        if options.topP < 1 {
            // Keep tokens until the cumulative probability reaches p (at least one), as transformers' TopPLogitsWarper.
            var cumulative = 0.0
            var keep = 0
            for p in probs {
                keep += 1
                cumulative += p
                if cumulative >= Double(options.topP) { break }
            }
            order.removeLast(order.count - keep)
            probs.removeLast(probs.count - keep)
            let t = probs.reduce(0, +)
            for i in probs.indices { probs[i] /= t }
        }
        let u = Double(rng.next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        var acc = 0.0
        for (i, p) in probs.enumerated() {
            acc += p
            if u < acc { return Int32(order[i]) }
        }
        return Int32(order[order.count - 1])
    }
}

extension Double {
    var expValue: Double {
        #if canImport(Glibc)
        return Glibc.exp(self)
        #else
        return Foundation.exp(self)
        #endif
    }
}

#if canImport(Glibc)
import Glibc
#else
import Foundation
#endif

/// Generates tokens with a KV cache: prefill the prompt, then one token at a time until a stop token or the limit.
public enum Generator {
    /// Generates up to `maxTokens` ids after `prompt`; stops after emitting any id in `stop` (it is not included).
    /// `onToken` sees each id as it is chosen (for streaming) and may return false to stop early.
    public static func generate(
        model: LlamaModel, prompt: [Int32], maxTokens: Int, sampling: SamplingOptions, stop: Set<Int32>,
        onToken: (Int32) -> Bool = { _ in true }
    ) throws -> [Int32] {
        guard !prompt.isEmpty else { throw ModelInputError(message: "the prompt is empty; hint: give some text") }
        let limit = min(model.config.context, prompt.count + maxTokens)
        guard prompt.count < limit || maxTokens == 0 else {
            throw ModelInputError(message: "the prompt has \(prompt.count) tokens, the model's context is \(model.config.context)")
        }
        let cache = KVCache(model: model, capacity: limit)
        var sampler = Sampler(sampling)
        var logits = try cache.prefill(prompt)
        var out: [Int32] = []
        while out.count < maxTokens && cache.length < limit {
            let t = sampler.next(logits)
            if stop.contains(t) { break }
            out.append(t)
            if !onToken(t) { break }
            if out.count == maxTokens || cache.length >= limit { break }
            logits = try cache.decodeNext(t)
        }
        return out
    }
}
