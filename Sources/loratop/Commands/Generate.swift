import ArgumentParser
import Foundation
import LoRAKit

/// `loratop generate`: text from the base model, or from the base with an adapter, streamed as it is made.
struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a base model (optionally with a LoRA adapter); --temperature 0 is greedy.")

    @Option(help: "Base model: smollm2, a GGUF file or a Hugging Face folder.") var model: String = "smollm2"
    @Option(help: "A PEFT adapter folder (adapter_config.json + adapter_model.safetensors) or a loratop checkpoint.")
    var adapter: String?
    @Option(help: "Raw prompt text (no template).") var prompt: String?
    @Option(help: "A user message, rendered with the model's chat template.") var chat: String?
    @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.") var maxTokens: Int = 64
    @Option(help: "0 = greedy; otherwise softmax temperature.") var temperature: Float = 0
    @Option(name: .customLong("top-k"), help: "Sample from the k most likely tokens (0 = all).") var topK: Int = 0
    @Option(name: .customLong("top-p"), help: "Sample from the smallest set with probability ≥ p.") var topP: Float = 1
    @Option(help: "Sampling seed.") var seed: UInt64 = 0
    @Option(help: "Base storage while generating: none (fp32), int8, fp4, nf4, source.") var quant: String = "none"
    @Option(help: "Compute threads.") var threads: Int = 2
    @Option(help: "Precision of the base's products: auto (bf16 where the CPU has native bf16), fp32, bf16.")
    var compute: String = "auto"

    func validate() throws {
        guard (prompt == nil) != (chat == nil) else { throw ValidationError("give exactly one of --prompt or --chat") }
        guard maxTokens >= 1 else { throw ValidationError("--max-tokens must be at least 1") }
        guard temperature >= 0, temperature.isFinite else { throw ValidationError("--temperature must be ≥ 0") }
        guard topK >= 0 else { throw ValidationError("--top-k must be ≥ 0") }
        guard topP > 0, topP <= 1 else { throw ValidationError("--top-p must be in (0, 1]") }
        guard QuantKind(parsing: quant) != nil else { throw ValidationError("--quant: expected none, int8, fp4, nf4 or source") }
        _ = try Train.computePrecision(compute)
        guard (1...256).contains(threads) else { throw ValidationError("--threads: expected 1…256") }
    }

    func run() throws {
        Parallel.setThreads(threads)
        let choice = Compute.select(try Train.computePrecision(compute))
        if let note = choice.note { Output.err("loratop: \(note)\n") }
        var adapterDir = adapter
        if let a = adapter, !FileManager.default.fileExists(atPath: a + "/adapter_config.json") {
            adapterDir = try Checkpoint.resolve(a)  // an output folder: its newest checkpoint
        }
        let m = try InferenceModel(model: model, adapter: adapterDir, quant: QuantKind(parsing: quant) ?? .none,
                                bf16: Compute.bf16)
        if chat != nil, m.tokens.template.format == .unsupported {
            throw ValidationError("--chat needs the model's chat template, which loratop cannot render: "
                                  + (m.tokens.template.unsupportedReason ?? "") + "; use --prompt")
        }
        let text = chat.map { m.tokens.template.render([ChatMessage(role: "user", content: $0)], addGenerationPrompt: true) }
            ?? prompt ?? ""
        // a chat template writes its own BOS; a raw prompt gets the model's
        let ids = (chat == nil ? m.tokens.tokenizer.bosPrefix : []) + m.tokens.tokenizer.encode(text)
        var decoder = StreamingDecoder(tokenizer: m.tokens.tokenizer, skipSpecial: true)
        if prompt != nil { Output.write(text, to: STDOUT_FILENO) }
        _ = try Generator.generate(
            model: m.model, prompt: ids, maxTokens: maxTokens,
            sampling: SamplingOptions(temperature: temperature, topK: topK, topP: topP, seed: seed), stop: m.tokens.stopIDs
        ) { id in
            Output.write(decoder.push(id), to: STDOUT_FILENO)
            return true
        }
        Output.write(decoder.finish() + "\n", to: STDOUT_FILENO)
    }
}
