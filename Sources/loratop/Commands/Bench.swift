import ArgumentParser
import Dispatch
import Foundation
import LoRAKit

/// `loratop bench`: training throughput of LoRA on a random-initialised model of a preset shape, or on a real model
/// file's weights (`--model`) with random token ids.
///
/// FLOP count per optimizer step (N = B·T rows, L layers; P_lin = parameters of the seven frozen projections
/// of all layers, P_lora = Σ r·(in + out) over the adapters, P_head = V·C, attention computed as full T×T tiles):
///   forward  = 2·N·P_lin + 2·N·P_lora + 4·L·B·heads·T²·hd + 2·N·P_head
///   backward = 2·N·P_lin (dx through the frozen weights only) + 6·N·P_lora (dB, dA, dx) + 8·L·B·heads·T²·hd
///              + 2·N·P_head (dx through the LM head; the fused head never recomputes logits)
///   checkpointing adds one more forward of the blocks (everything above except the head).
/// The fraction of peak compares that count per second with a 2048³ sgemm measured at start-up.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure LoRA training speed (tokens/s) on a random-initialised model of a preset shape, or on a model file."
    )

    @Option(help: ArgumentHelp("Model shape: \(BenchPreset.names.joined(separator: ", ")).", valueName: "name"))
    var preset: String = "smollm2-135m"
    @Option(name: .customLong("model"), help: ArgumentHelp("A real model instead of a preset: a GGUF file, a Hugging Face folder or `smollm2`; its weights, stored as --quant says (source keeps the file's own blocks). Token ids stay random.", valueName: "file"))
    var modelPath: String?
    @Option(name: .customLong("batch-size"), help: "Sequences per step.")
    var batchSize: Int = 4
    @Option(name: .customLong("seq-len"), help: "Tokens per sequence.")
    var seqLen: Int = 128
    @Option(help: "LoRA rank.")
    var rank: Int = 8
    @Option(help: "LoRA alpha.")
    var alpha: Float = 16
    @Option(help: "Comma-separated LoRA targets (q,k,v,o,gate,up,down).")
    var targets: String = "q,k,v,o,gate,up,down"
    @Option(help: "Timed steps (after the warm-up steps).")
    var steps: Int = 5
    @Option(help: "Untimed warm-up steps.")
    var warmup: Int = 1
    @Option(help: "Threads for OpenBLAS and the engine's kernels.")
    var threads: Int = 2
    @Flag(help: "Recompute block activations in backward (less memory, one more forward).")
    var checkpointing: Bool = false
    @Flag(help: "Print seconds per phase (thread CPU time with --threads 1, wall time otherwise).")
    var profile: Bool = false
    @Option(help: "Seed for the random model, adapters and tokens.")
    var seed: UInt64 = 0
    @Option(help: "Base storage of the linear layers: none (fp32), int8, fp4, nf4 (embeddings stay fp32).")
    var quant: String = "none"
    @Flag(name: .customLong("double-quant"), help: "Double-quantize the block scales.")
    var doubleQuant: Bool = false
    @Option(help: "Precision of the base's products: auto (bf16 where the CPU has native bf16), fp32, bf16.")
    var compute: String = "auto"
    @Option(name: .customLong("mask-fraction"),
            help: "Fraction of each sequence's targets masked (the leading positions, as a prompt is): they skip the LM head.")
    var maskFraction: Double = 0
    @Option(help: ArgumentHelp("After the timed steps, time this many whole-model update inspections (what the Inside panel and --inspect-every compute) and report their median as a share of the median step.", valueName: "runs"))
    var inspect: Int = 0

    func validate() throws {
        guard BenchPreset.config(named: preset) != nil else {
            throw ValidationError("unknown preset '\(preset)'; expected one of: \(BenchPreset.names.joined(separator: ", "))")
        }
        guard let q = QuantKind(parsing: quant), q != .source || modelPath != nil else {
            throw ValidationError("--quant: expected none, int8, fp4 or nf4\(modelPath == nil ? " (source needs --model: a random model has no file storage)" : " or source"), found '\(quant)'")
        }
        guard ComputePrecision(parsing: compute) != nil else {
            throw ValidationError("--compute: expected auto, fp32 or bf16, found '\(compute)'")
        }
        guard maskFraction >= 0, maskFraction < 1 else {
            throw ValidationError("--mask-fraction: expected a fraction in [0, 1), found \(maskFraction)")
        }
        guard inspect >= 0 else { throw ValidationError("--inspect: expected a count of inspections ≥ 0, found \(inspect)") }
        guard batchSize >= 1, seqLen >= 2, rank >= 1, steps >= 1, warmup >= 0, threads >= 1 else {
            throw ValidationError("--batch-size, --rank, --steps and --threads must be ≥ 1, --seq-len ≥ 2, --warmup ≥ 0")
        }
    }

    func run() throws {
        let rssAtStart = ProcessMemory.current()?.residentBytes ?? 0
        Parallel.setThreads(threads)
        let choice = Compute.select(ComputePrecision(parsing: compute) ?? .auto)
        if let note = choice.note { Output.out("note: \(note)") }
        let lora = try LoRAConfig(rank: rank, alpha: alpha, targets: try LoRATarget.parseList(targets))
        let kind = QuantKind(parsing: quant) ?? .none
        func storage(_ name: String, _ m: FrozenMatrix) throws -> FrozenMatrix {
            try TrainingRun.store(m, name: name, kind: kind, blockSize: 64, doubleQuant: doubleQuant, bf16: choice.precision == .bf16)
        }
        let t0 = DispatchTime.now().uptimeNanoseconds
        let source = try modelPath.map { try loadWeights(model: $0) }
        guard let config = source?.config ?? BenchPreset.config(named: preset) else { throw ValidationError("unknown preset '\(preset)'") }
        let peak = BenchMath.measurePeak()
        Output.out("loratop bench: \(modelPath ?? preset) (\(config.layers) layers, C \(config.dim), \(config.heads) heads / \(config.kvHeads) KV × \(config.headDim), "
              + "F \(config.ffnDim), V \(config.vocab)\(config.tiedEmbeddings ? ", tied head" : "")\(config.qkNorm ? ", q/k norms" : "")\(config.attentionBias ? ", q/k/v bias" : "")), \(modelPath == nil ? "random init" : "its weights"), base \(quant)\(doubleQuant ? "+dq" : ""), "
              + "compute \(choice.precision)\(choice.precision == .bf16 ? " (oneDNN " + OneDNN.isaName + ")" : "")")
        Output.out("LoRA r \(rank) alpha \(alpha) on \(lora.targets.map(\.shortName).joined(separator: ",")); "
              + "batch \(batchSize) × \(seqLen); \(threads) threads\(checkpointing ? "; checkpointing" : "")")
        Output.out(String(format: "sgemm peak: %.1f GFLOP/s (2048×2048×2048 split over the threads, best of 3)", peak / 1e9))

        let model = try source.map { try LlamaModel(source: $0, storage: storage) }
            ?? LlamaModel(random: config, seed: seed, storage: storage)
        let trainer = try Trainer(model: model, lora: lora, optimizer: OptimizerConfig(), seed: seed, checkpointing: checkpointing)
        Output.out(String(format: "model ready in %.1f s; %d adapters, %d trainable parameters",
                     Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, model.adapters.count,
                     trainer.parameters.reduce(0) { $0 + $1.count }))

        var rng = SeededRNG(seed: seed &+ 1)
        let n = batchSize * seqLen
        let masked = min(seqLen - 1, Int((maskFraction * Double(seqLen)).rounded()))  // leading targets of each sequence
        func batch() -> Batch { Batch.random(batch: batchSize, seqLen: seqLen, vocab: config.vocab, masked: masked, rng: &rng) }
        let flops = BenchMath.flopsPerStep(config: config, model: model, B: batchSize, T: seqLen, checkpointing: checkpointing,
                                           headRows: batchSize * (seqLen - masked))
        var times: [Double] = []
        Profiler.enabled = profile
        for s in 0..<(warmup + steps) {
            let st = try trainer.step(microBatches: [batch()])
            let tag = s < warmup ? " (warm-up)" : ""
            Output.out(String(format: "step %d: %.3f s, loss %.4f, %.0f tokens/s%@", s + 1, st.seconds, st.loss,
                         Double(n) / st.seconds, tag))
            if s >= warmup { times.append(st.seconds) }
            if s + 1 == warmup || (warmup == 0 && s == 0) { Profiler.reset() }
        }
        let med = times.sorted()[times.count / 2]
        Output.out(String(format: "median: %.3f s/step, %.1f tokens/s (best %.1f tokens/s)", med, Double(n) / med,
                     Double(n) / (times.min() ?? med)))
        Output.out(String(format: "work: %.1f GFLOP/step → %.1f GFLOP/s = %.0f%% of sgemm peak", flops / 1e9, flops / med / 1e9,
                     100 * flops / med / peak))
        let memory = MemoryReport.training(model: model, trainer: trainer, other: [
            MemoryComponent("runtime + libraries (measured)", bytes: rssAtStart, kind: .other)])
        Output.out("memory (accounted as `train` shows it, and the process's resident set):")
        for line in memory.summaryLines() { Output.out("  " + line) }
        if profile {
            let rows = Profiler.report()
            let total = rows.reduce(0) { $0 + $1.seconds }
            Output.out("phases over \(steps) timed steps (s/step):")
            for (name, sec) in rows.sorted(by: { $0.seconds > $1.seconds }) {
                Output.out(String(format: "  %-16@ %8.3f  %5.1f%%", name as NSString, sec / Double(steps), 100 * sec / max(total, 1e-12)))
            }
        }
        if inspect > 0 { try timeInspection(model: model, trainer: trainer, step: med) }
        Output.out("FLOPs/step = fwd 2·N·P_lin + 2·N·P_lora + 4·L·B·H·T²·hd + 2·N·V·C; bwd 2·N·P_lin + 6·N·P_lora + 8·L·B·H·T²·hd + 2·N·V·C"
              + (checkpointing ? "; + recomputed block forward" : ""))
    }
}

extension Bench {
    /// Times `inspect` whole-model update inspections of the trained adapters (with the last step's gradients), the
    /// same call the engine makes for the Inside panel. The first also computes the cached base norms and is reported
    /// apart; the median of the rest is the steady cost of one panel refresh.
    func timeInspection(model: LlamaModel, trainer: Trainer, step: Double) throws {
        var sources: [String: FrozenMatrix] = [:]
        for block in model.blocks { for (_, lin, _) in block.projections { sources[lin.name + ".weight"] = lin.base } }
        let inspector = UpdateInspector()
        var times: [Double] = []
        var modules = 0
        for _ in 0...inspect {
            let report = try inspector.inspect(model: model, lora: trainer.lora, step: trainer.stepCount, sources: sources,
                                               storage: nil, gradientNorms: trainer.lastGradientNorms)
            times.append(report.seconds)
            modules = report.modules.count
        }
        let first = times.removeFirst()
        let med = times.sorted()[times.count / 2]
        Output.out(String(format: "inspection of %d modules: median %.1f ms over %d runs (%@ ms; first with base norms %.1f ms) = %.2f%% of the median step",
                          modules, med * 1e3, times.count, times.map { String(format: "%.1f", $0 * 1e3) }.joined(separator: ", "),
                          first * 1e3, 100 * med / step))
    }
}

/// The model shapes `bench` builds at random: `estimate`'s presets up to a few billion parameters (the larger ones
/// would not fit this kind of machine's memory in fp32 even for one step).
enum BenchPreset {
    static let maxParameters = 4_000_000_000

    static var names: [String] { ModelPreset.all.filter { $0.config.parameterCount <= maxParameters }.map(\.name) }

    /// The shape of a preset by any of its names, nil when unknown or too large to bench.
    static func config(named name: String) -> ModelConfig? {
        guard let p = ModelPreset.named(name), p.config.parameterCount <= maxParameters else { return nil }
        return p.config
    }
}

/// The benchmark's arithmetic: peak measurement and the FLOP formula (see `Bench`).
enum BenchMath {
    /// Best-of-3 GFLOP/s of a 2048³ sgemm, in FLOP/s.
    static func measurePeak() -> Double {
        let n = 2048
        let a = [Float](repeating: 0.5, count: n * n), b = [Float](repeating: 0.25, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        var best = Double.infinity
        for _ in 0..<3 {
            let t = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                guard let x = ap.baseAddress, let y = bp.baseAddress, let z = cp.baseAddress else { return }
                Parallel.gemm(m: n, n: n, k: n, a: x, lda: n, b: y, ldb: n, c: z, ldc: n)
            } } }
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t) / 1e9)
        }
        return 2 * Double(n * n * n) / best
    }

    /// FLOPs of one training step (formula in `Bench`'s documentation).
    /// `headRows`: the positions whose targets are not masked (all of them when nil): only they go through the LM head.
    static func flopsPerStep(config c: ModelConfig, model: LlamaModel, B: Int, T: Int, checkpointing: Bool,
                             headRows: Int? = nil) -> Double {
        let N = Double(B * T), NH = Double(headRows ?? B * T)
        var pLin = 0.0, pLora = 0.0
        for blk in model.blocks {
            for (_, lin, _) in blk.projections {
                pLin += Double(lin.inFeatures * lin.outFeatures)
                if let ad = lin.adapter { pLora += Double(ad.rank * (ad.inFeatures + ad.outFeatures)) }
            }
        }
        let attn = Double(c.layers * B * c.heads * T * T * c.headDim)
        let head = Double(c.vocab * c.dim)
        let blocksFwd = 2 * N * pLin + 2 * N * pLora + 4 * attn
        let fwd = blocksFwd + 2 * NH * head
        let bwd = 2 * N * pLin + 6 * N * pLora + 8 * attn + 2 * NH * head
        return fwd + bwd + (checkpointing ? blocksFwd : 0)
    }
}
