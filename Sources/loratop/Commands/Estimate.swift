import ArgumentParser
import Foundation
import LoRAKit

/// `loratop estimate`: what-if memory for full fine-tuning, LoRA and QLoRA of a model shape.
struct Estimate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "estimate",
        abstract: "Estimate training memory by component for full fine-tuning, LoRA and QLoRA.",
        discussion: "Presets: " + ModelPreset.all.map(\.name).joined(separator: ", ")
    )

    @Option(help: "smollm2, a GGUF file, a Hugging Face folder or its config.json.")
    var model: String?

    @Option(help: "A named model shape (listed above).")
    var preset: String?

    @Option(help: "LoRA rank r.")
    var rank: Int = 8

    @Option(help: "LoRA alpha (scale = alpha / r); does not change memory.")
    var alpha: Float = 16

    @Option(help: "Adapted layers: q,k,v,o,gate,up,down (or all, attn, mlp).")
    var targets: String = "q,k,v,o,gate,up,down"

    @Option(name: .customLong("batch-size"), help: "Sequences per step.")
    var batchSize: Int = 4

    @Option(name: .customLong("seq-len"), help: "Tokens per sequence.")
    var seqLen: Int = 128

    @Flag(help: "Recompute blocks in backward (saves only block inputs).")
    var checkpointing = false

    @Option(help: "Base storage for an extra row: none, int8, fp4, nf4, source.")
    var quant: String = "nf4"

    @Flag(name: .customLong("double-quant"), help: "Double-quantize absmax for the extra row.")
    var doubleQuant = false

    @Option(name: .customLong("block-size"), help: "Values per quantization block (32…4096, power of two).")
    var blockSize: Int = 64

    @Option(help: "Numeric precision: fp32 (this engine) or bf16 (the QLoRA paper's GPU setting).")
    var precision: String = "fp32"

    @Option(help: "This engine's products (its own row): auto (bf16 where the CPU has native bf16, as train and bench choose), fp32, or bf16.")
    var compute: String = "auto"

    @Flag(help: "Also predict this engine's step time and tokens/s on this machine: times five steps of a few blocks of the shape (64 MiB of weights or more) with an LM head of an eighth of the vocabulary (seconds, a fraction of the model's memory) and scales them to the model.")
    var speed = false

    @Option(help: "Compute threads of the run (the engine keeps one LM-head buffer per thread when they divide the batch).")
    var threads: Int = 2

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    func validate() throws {
        if (model == nil) == (preset == nil) { throw ValidationError("give exactly one of --model or --preset") }
        if rank < 1 || rank > 4096 { throw ValidationError("--rank: expected 1…4096, found \(rank)") }
        if batchSize < 1 { throw ValidationError("--batch-size: expected at least 1, found \(batchSize)") }
        if seqLen < 1 { throw ValidationError("--seq-len: expected at least 1, found \(seqLen)") }
        if !QuantKind.validBlockSizes.contains(blockSize) {
            throw ValidationError("--block-size: expected a power of two 32…4096, found \(blockSize)")
        }
        if QuantKind(parsing: quant) == nil {
            throw ValidationError("--quant: expected none, int8, fp4, nf4 or source, found '\(quant)'")
        }
        if ActivationPrecision(rawValue: precision.lowercased()) == nil {
            throw ValidationError("--precision: expected fp32 or bf16, found '\(precision)'")
        }
        if ComputePrecision(parsing: compute) == nil {
            throw ValidationError("--compute: expected auto, fp32 or bf16, found '\(compute)'")
        }
        if speed, QuantKind(parsing: quant) == .source {
            throw ValidationError("--speed: --quant source keeps the file's own blocks, which a random probe does not have; hint: time the file itself with `loratop bench --model FILE --quant source`")
        }
        if (try? LoRATarget.parseList(targets)) == nil {
            throw ValidationError("--targets: expected names from q,k,v,o,gate,up,down (or all), found '\(targets)'")
        }
    }

    func run() throws {
        let (title, config) = try resolveModel()
        var s = EstimateSettings()
        s.embeddingFileBytes = try embeddingFileBytes()
        s.rank = rank
        s.alpha = alpha
        s.targets = (try? LoRATarget.parseList(targets)) ?? LoRATarget.allCases
        s.batch = batchSize
        s.seqLen = seqLen
        s.checkpointing = checkpointing
        s.quant = QuantKind(parsing: quant) ?? .nf4
        s.doubleQuant = doubleQuant
        s.blockSize = blockSize
        s.precision = ActivationPrecision(rawValue: precision.lowercased()) ?? .fp32
        s.threads = max(1, threads)
        let choice = Compute.select(ComputePrecision(parsing: compute) ?? .auto)
        s.computeBF16 = choice.precision == .bf16
        var rows = Estimator.estimate(config, s)
        if speed, let engine = rows.firstIndex(where: { $0.method == Estimator.engineMethod }) {
            Parallel.setThreads(s.threads)
            let settings = s
            rows[engine].speed = try SpeedEstimate.measure(config, s) { name, m in
                try TrainingRun.store(m, name: name, kind: settings.quant, blockSize: settings.blockSize,
                                      doubleQuant: settings.doubleQuant, bf16: settings.computeBF16)
            }
        }
        if json {
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            let data = try enc.encode(rows)
            Output.write(String(decoding: data, as: UTF8.self) + "\n", to: STDOUT_FILENO, json: true)
        } else {
            Output.out(EstimateTable.render(title: title, config: config, settings: s, rows: rows))
        }
    }

    /// The bytes the model file spends on the embedding (and an untied head), when --model is a GGUF file.
    func embeddingFileBytes() throws -> Int? {
        guard preset == nil, let given = model,
              SampleModel.named(given) != nil || FileManager.default.fileExists(atPath: given) else { return nil }
        let path = try SampleModel.resolve(given)
        guard path.lowercased().hasSuffix(".gguf") else { return nil }
        let source = try loadWeights(path: path)
        var bytes = try source.matrix("model.embed_tokens.weight").storageBytes
        if source.has("lm_head.weight") { bytes += try source.matrix("lm_head.weight").storageBytes }
        return bytes
    }

    /// The shape from --preset, or --model as a preset name, an HF config.json, or a folder holding one.
    func resolveModel() throws -> (String, ModelConfig) {
        // --model names a file or the cached sample (smollm2); a preset name there is used only when it is neither.
        let modelIsFile = model.map { SampleModel.named($0) != nil || FileManager.default.fileExists(atPath: $0) } ?? false
        if let name = preset ?? (modelIsFile ? nil : model.flatMap({ ModelPreset.named($0) != nil ? $0 : nil })) {
            guard let p = ModelPreset.named(name) else {
                throw ValidationError("--preset: unknown '\(name)'; expected one of "
                                      + ModelPreset.all.map(\.name).joined(separator: ", "))
            }
            return (p.title, p.config)
        }
        guard let given = model else { throw ValidationError("give --model or --preset") }
        let path = try SampleModel.resolve(given)
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ValidationError("--model: \(path): no such file or folder")
        }
        let file = isDir.boolValue ? (path as NSString).appendingPathComponent("config.json") : path
        if file.lowercased().hasSuffix(".gguf") {
            // The shape from the GGUF's metadata (validated against its tensors); nothing is dequantized.
            let source = try loadWeights(path: file)
            return ((path as NSString).lastPathComponent, source.config)
        }
        guard let data = try RegularFile.contents(file) else {
            throw ValidationError("--model: \(file): cannot read (a Hugging Face folder needs config.json)")
        }
        do {
            return ((path as NSString).lastPathComponent, try JSONDecoder().decode(ModelConfig.self, from: data))
        } catch let e as ModelConfigError {
            throw ValidationError("--model: \(file): \(e)")
        } catch {
            throw ValidationError("--model: \(file): not a config.json (\(error)); hint: pass the HF folder or --preset")
        }
    }
}

/// The text table `loratop estimate` prints.
enum EstimateTable {
    static let columns: [(String, MemoryKind?)] = [
        ("base", .baseWeights), ("adapters", .adapters), ("grads", .gradients), ("AdamW", .optimizerState),
        ("activ.", .activations), ("logits", .logits), ("scratch", .scratch), ("total", nil),
    ]

    /// The whole printout: heading, table, notes.
    static func render(title: String, config c: ModelConfig, settings s: EstimateSettings, rows: [MethodEstimate]) -> String {
        let params = c.parameterCount
        let adapters = Estimator.adapterParameters(c, rank: s.rank, targets: s.targets)
        var lines = [String]()
        lines.append("\(title): \(String(format: "%.2f", Double(params) / 1e9))B parameters (\(c.layers) layers, "
                     + "C \(c.dim), F \(c.ffnDim), heads \(c.heads)/\(c.kvHeads), vocab \(c.vocab))")
        lines.append("LoRA r \(s.rank), alpha \(fmt(s.alpha)), targets \(s.targets.map(\.rawValue).joined(separator: ",")): "
                     + "\(adapters) adapter parameters (\(String(format: "%.3f", 100 * Double(adapters) / Double(params)))%)")
        lines.append("batch \(s.batch) × seq \(s.seqLen), checkpointing \(s.checkpointing ? "on" : "off"), "
                     + "block size \(s.blockSize), precision \(s.precision.rawValue)")
        lines.append("")
        let nameWidth = max(18, rows.map(\.method.count).max() ?? 0)
        var header = pad("method", nameWidth)
        for (name, _) in columns { header += " " + lpad(name, 10) }
        header += " " + lpad("bits/param", 10) + " " + lpad("vs full", 8)
        lines.append(header)
        lines.append(String(repeating: "-", count: header.count))
        for r in rows {
            var line = pad(r.method, nameWidth)
            for (_, kind) in columns {
                let b = kind.map { r.report.bytes(of: $0) } ?? r.total
                line += " " + lpad(b == 0 && kind != nil ? "-" : ByteFormat.binary(b), 10)
            }
            line += " " + lpad(String(format: "%.3f", r.linearBitsPerParam), 10)
            line += " " + lpad(String(format: "%.3f×", r.ratioToFull), 8)
            lines.append(line)
        }
        lines.append("")
        lines.append("bits/param: storage of the linear-layer base weights (embeddings and norms excluded).")
        for r in rows {
            lines.append("  \(pad(r.method, nameWidth)) \(r.explanation); whole base \(String(format: "%.2f", r.baseBitsPerParam)) bits/param")
        }
        lines.append("Activations follow Estimator.activationValues (this engine's saved tensors); GPU frameworks differ.")
        if let sp = rows.first(where: { $0.speed != nil })?.speed {
            lines.append(String(format: "Speed on this machine (%d threads, %@ products): predicted %.1f tokens/s, %.2f s/step; timed: %d block%@ with a "
                                + "head of %d ids, %.3f s/step of which the head %.3f s (median of %d), scaled to %d blocks and %d ids.",
                                s.threads, s.computeBF16 ? "bf16" : "fp32", sp.tokensPerSecond, sp.stepSeconds, sp.probeLayers,
                                sp.probeLayers == 1 ? "" : "s", sp.probeVocab, sp.probeStepSeconds, sp.probeHeadSeconds, sp.probeSteps,
                                c.layers, c.vocab))
        }
        return lines.joined(separator: "\n")
    }

    static func fmt(_ x: Float) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
    static func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
    static func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }
}
