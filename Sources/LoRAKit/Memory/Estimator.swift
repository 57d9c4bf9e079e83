import Foundation

extension LoRATarget {
    /// (in, out) features of this layer for a config.
    public func shape(_ c: ModelConfig) -> (input: Int, output: Int) {
        switch self {
        case .q: return (c.dim, c.heads * c.headDim)
        case .k, .v: return (c.dim, c.kvHeads * c.headDim)
        case .o: return (c.heads * c.headDim, c.dim)
        case .gate, .up: return (c.dim, c.ffnDim)
        case .down: return (c.ffnDim, c.dim)
        }
    }
}

/// The numeric precision training runs in.
public enum ActivationPrecision: String, Codable, Sendable, CaseIterable {
    /// This project's engine: fp32 activations, adapters, gradients and moments on the CPU.
    case fp32
    /// The QLoRA paper's GPU setting: bf16 activations, adapters and their gradients; fp32 AdamW moments.
    case bf16

    /// Bytes of one activation / adapter / gradient value.
    public var bytes: Int { self == .fp32 ? 4 : 2 }
}

/// The knobs of a what-if estimate (the adapter, batch, sequence and quantization flags of `train`).
public struct EstimateSettings: Codable, Sendable, Equatable {
    /// LoRA rank r.
    public var rank: Int = 8
    /// LoRA alpha (does not change memory; echoed in the table).
    public var alpha: Float = 16
    /// Adapted layers.
    public var targets: [LoRATarget] = LoRATarget.allCases
    /// Sequences per step.
    public var batch: Int = 4
    /// Tokens per sequence.
    public var seqLen: Int = 128
    /// Recompute each block in backward, saving only block inputs.
    public var checkpointing: Bool = false
    /// The base storage the user picked (adds a row when it is not one of the five standard methods).
    public var quant: QuantKind = .nf4
    /// Double quantization for the user's row.
    public var doubleQuant: Bool = false
    /// Values per quantization block.
    public var blockSize: Int = 64
    /// Numeric precision of the run.
    public var precision: ActivationPrecision = .fp32
    /// This engine's products in bf16 (`--compute bf16`): a dense base and dense embeddings held in bf16, and bf16
    /// copies of each product's activation operand (only the engine's own row depends on it).
    public var computeBF16: Bool = false
    /// Compute threads of the run: the engine shards a batch they divide, one LM-head buffer and one set of LoRA
    /// gradient sums per shard (only the engine's own row depends on it).
    public var threads: Int = 2
    /// Bytes of the token embedding (and an untied head) as the model file stores them, when estimating from a file:
    /// this engine keeps them in the file's storage under a quantized base. Nil: fp32.
    public var embeddingFileBytes: Int?

    /// Defaults as `loratop train` uses them.
    public init() {}
}

/// One row of the estimate: a training method's memory by component.
public struct MethodEstimate: Codable, Sendable {
    /// Short label, e.g. "QLoRA NF4+DQ".
    public var method: String
    /// One-line explanation of what is stored how.
    public var explanation: String
    /// Bytes by component.
    public var report: MemoryReport
    /// Storage bits per parameter of the (quantized) linear base weights.
    public var linearBitsPerParam: Double
    /// Storage bits per parameter over every base parameter (embeddings and norms included).
    public var baseBitsPerParam: Double
    /// Total divided by full fine-tuning's total.
    public var ratioToFull: Double
    /// This machine's predicted step and throughput (the engine's own row, with `estimate --speed`).
    public var speed: SpeedEstimate?

    /// Total bytes.
    public var total: Int { report.total }
}

/// What-if memory estimates for LoRA / QLoRA / full fine-tuning of a LLaMA-shaped model.
public enum Estimator {
    /// Bits per parameter of blockwise storage: code bits + fp32 absmax per block, or with double quantization
    /// 8-bit absmax codes + an fp32 absmax2 per `nestedBlock` blocks (the per-matrix offset is negligible).
    public static func blockwiseBits(codeBits: Int, blockSize: Int, doubleQuant: Bool, nestedBlock: Int = 256) -> Double {
        let b = Double(blockSize)
        return Double(codeBits) + (doubleQuant ? 8 / b + 32 / (b * Double(nestedBlock)) : 32 / b)
    }

    /// Bytes of one matrix of `count` values stored blockwise as the quantizer stores it: the codes, and the block
    /// scales (fp32, or 8-bit with an fp32 scale per nested block of 256 (INT8: of `blockSize`) and one offset).
    public static func blockwiseBytes(count: Int, kind: QuantKind, blockSize: Int, doubleQuant: Bool) -> Int {
        let blocks = (count + blockSize - 1) / blockSize
        let scales = BlockScales.bytes(blocks: blocks, nestedBlockSize: doubleQuant ? (kind == .int8 ? blockSize : 256) : nil)
        return (kind == .int8 ? count : (count + 1) / 2) + scales
    }

    /// Parameters in the adapted linear layers (all seven per block), and in everything else (embeddings, head, norms).
    public static func parameterSplit(_ c: ModelConfig) -> (linear: Int, other: Int) {
        let perBlock = LoRATarget.allCases.reduce(0) { s, t in let (i, o) = t.shape(c); return s + i * o }
        let linear = perBlock * c.layers
        return (linear, c.parameterCount - linear)
    }

    /// LoRA parameters: r·(in + out) per adapted layer per block.
    public static func adapterParameters(_ c: ModelConfig, rank: Int, targets: [LoRATarget]) -> Int {
        c.layers * targets.reduce(0) { s, t in let (i, o) = t.shape(c); return s + rank * (i + o) }
    }

    /// Values (not bytes) of activations kept alive for backward, by this project's engine's layout.
    ///
    /// With N = batch·seqLen tokens, per decoder block the engine saves: the block input and the residual after
    /// attention (2·N·C, for the RMSNorm backwards) with their 2·N inverse RMS; both normed inputs (2·N·C, the
    /// inputs of q/k/v and gate/up, needed for LoRA dA); q, k, v after RoPE (N·(H + 2·Hkv)·hd); the softmax
    /// probabilities (B·H·T²); the attention output, input of o (N·H·hd); gate and up pre-activations and their
    /// SwiGLU product, input of down (3·N·F); and each adapter's A·x (N·r per target).
    /// With checkpointing only each block's input (N·C) is kept, and one block's full set is rebuilt during backward.
    /// Outside the blocks: the embedding output and the final normed hidden state (2·N·C).
    /// This is the one place to calibrate against measured RSS.
    public static func activationValues(_ c: ModelConfig, batch: Int, seqLen: Int, rank: Int, targets: Int,
                                        checkpointing: Bool) -> Int {
        let n = batch * seqLen
        let hd = c.headDim
        let perBlock = n * (4 * c.dim + 2 + (c.heads + 2 * c.kvHeads) * hd + c.heads * hd + 3 * c.ffnDim + targets * rank)
            + batch * c.heads * seqLen * seqLen
        let blocks = checkpointing ? c.layers * n * c.dim + perBlock : c.layers * perBlock
        return blocks + 2 * n * c.dim
    }

    /// Values of the logits and loss buffers: logits and their gradient (softmax probabilities), N·V each.
    public static func logitValues(_ c: ModelConfig, batch: Int, seqLen: Int) -> Int { 2 * batch * seqLen * c.vocab }

    /// Values of scratch: one dequantized base matrix (the largest linear layer) and backward work buffers
    /// (3 tensors of N·max(C, F)).
    public static func scratchValues(_ c: ModelConfig, batch: Int, seqLen: Int, dequantizes: Bool) -> Int {
        let tile = dequantizes ? c.dim * max(c.ffnDim, c.heads * c.headDim) : 0
        return tile + 3 * batch * seqLen * max(c.dim, c.ffnDim)
    }

    /// The five standard methods (and the user's own storage choice when it differs), biggest first.
    public static func estimate(_ c: ModelConfig, _ s: EstimateSettings) -> [MethodEstimate] {
        let split = parameterSplit(c)
        let p = s.precision.bytes
        let adapterParams = adapterParameters(c, rank: s.rank, targets: s.targets)
        let act = activationValues(c, batch: s.batch, seqLen: s.seqLen, rank: s.rank, targets: s.targets.count,
                                   checkpointing: s.checkpointing)
        let actFull = activationValues(c, batch: s.batch, seqLen: s.seqLen, rank: 0, targets: 0,
                                       checkpointing: s.checkpointing)
        let logits = logitValues(c, batch: s.batch, seqLen: s.seqLen) * 4  // the loss is always computed in fp32
        func bytes(bits: Double, params: Int) -> Int { Int((bits * Double(params) / 8).rounded(.up)) }

        struct Row { var name, why: String; var linearBits, otherBits: Double; var storage: String; var dequantizes: Bool }
        var rows: [Row] = []
        let pBits = Double(8 * p)
        rows.append(Row(name: "LoRA, fp32 base", why: "base kept dense fp32; only A, B train", linearBits: 32,
                        otherBits: 32, storage: "f32", dequantizes: false))
        rows.append(Row(name: "LoRA, 16-bit base", why: "base in bf16 (2 bytes/param); only A, B train",
                        linearBits: 16, otherBits: 16, storage: "bf16", dequantizes: true))
        let nf4 = blockwiseBits(codeBits: 4, blockSize: s.blockSize, doubleQuant: false)
        let nf4dq = blockwiseBits(codeBits: 4, blockSize: s.blockSize, doubleQuant: true)
        rows.append(Row(name: "QLoRA NF4", why: "linear layers NF4 + fp32 absmax per \(s.blockSize); embeddings, norms at \(p * 8)-bit",
                        linearBits: nf4, otherBits: pBits, storage: "nf4", dequantizes: true))
        rows.append(Row(name: "QLoRA NF4+DQ", why: "NF4 with absmax double-quantized to 8 bits (blocks of 256)",
                        linearBits: nf4dq, otherBits: pBits, storage: "nf4+dq", dequantizes: true))
        if s.quant == .int8 || s.quant == .fp4 {
            // bitsandbytes nests int8 scales in blocks of the outer block size, 4-bit scales in blocks of 256
            let bits = blockwiseBits(codeBits: s.quant.codeBits ?? 4, blockSize: s.blockSize, doubleQuant: s.doubleQuant,
                                     nestedBlock: s.quant == .int8 ? s.blockSize : 256)
            let label = s.quant.rawValue + (s.doubleQuant ? "+dq" : "")
            rows.append(Row(name: "LoRA, \(label) base", why: "your --quant: linear layers \(label), block \(s.blockSize)",
                            linearBits: bits, otherBits: pBits, storage: label, dequantizes: true))
        }

        // Full fine-tuning: every weight trains in fp32 with its gradient and two AdamW moments.
        let params = c.parameterCount
        let full = MemoryReport(components: [
            MemoryComponent("weights f32", bytes: 4 * params, kind: .baseWeights),
            MemoryComponent("weight gradients", bytes: 4 * params, kind: .gradients),
            MemoryComponent("AdamW m, v", bytes: 8 * params, kind: .optimizerState),
            MemoryComponent("activations", bytes: p * actFull, kind: .activations),
            MemoryComponent("logits + loss", bytes: logits, kind: .logits),
            MemoryComponent("scratch", bytes: p * scratchValues(c, batch: s.batch, seqLen: s.seqLen, dequantizes: false),
                            kind: .scratch),
        ])
        let fullTotal = Double(full.total)
        var out = [MethodEstimate(method: "Full fine-tuning", explanation: "all weights fp32, + gradients + 2 AdamW moments",
                                  report: full, linearBitsPerParam: 32, baseBitsPerParam: 32, ratioToFull: 1)]
        for r in rows {
            let linearBytes = bytes(bits: r.linearBits, params: split.linear)
            let otherBytes = bytes(bits: r.otherBits, params: split.other)
            let report = MemoryReport(components: [
                MemoryComponent("base \(r.storage)", bytes: linearBytes + otherBytes, kind: .baseWeights),
                MemoryComponent("LoRA A, B", bytes: p * adapterParams, kind: .adapters),
                MemoryComponent("adapter gradients", bytes: p * adapterParams, kind: .gradients),
                MemoryComponent("AdamW m, v", bytes: 8 * adapterParams, kind: .optimizerState),
                MemoryComponent("activations", bytes: p * act, kind: .activations),
                MemoryComponent("logits + loss", bytes: logits, kind: .logits),
                MemoryComponent("scratch", bytes: p * scratchValues(c, batch: s.batch, seqLen: s.seqLen,
                                                                     dequantizes: r.dequantizes), kind: .scratch),
            ])
            let baseBits = Double(8 * (linearBytes + otherBytes)) / Double(params)
            out.append(MethodEstimate(method: r.name, explanation: r.why, report: report, linearBitsPerParam: r.linearBits,
                                      baseBitsPerParam: baseBits, ratioToFull: Double(report.total) / fullTotal))
        }
        out.append(engineRow(c, s, fullTotal: fullTotal, adapterParams: adapterParams))
        return out
    }

    /// Measured on this machine for the SmolLM2 sample (Linux, Swift 6.3): the process before loading (runtime,
    /// Foundation, OpenBLAS, the CLI) and the GGUF tokenizer. Used only by the engine row.
    public static let runtimeBytes = 24 << 20
    /// See `runtimeBytes`.
    public static let tokenizerBytes = 5 << 20

    /// Bytes of the token embedding and an untied LM head as this engine holds them: the file's storage under a
    /// quantized base (when estimating from a file), bf16 under bf16 products, fp32 otherwise.
    public static func embeddingBytes(_ c: ModelConfig, _ s: EstimateSettings) -> Int {
        let dense = c.vocab * c.dim * (c.tiedEmbeddings ? 1 : 2) * (s.computeBF16 ? 2 : 4)
        return s.quant.isBlockwise ? s.embeddingFileBytes ?? dense : dense
    }

    /// Bytes of the LM head matrix (the embedding when tied): what each of the head's chunks reads.
    public static func headMatrixBytes(_ c: ModelConfig, _ s: EstimateSettings) -> Int {
        embeddingBytes(c, s) / (c.tiedEmbeddings ? 1 : 2)
    }

    /// Storage bits per weight of the linear layers in `s.quant` (dense fp32, or bf16 under bf16 products, for none).
    static func linearBits(_ s: EstimateSettings) -> Double {
        switch s.quant {
        case .none: return s.computeBF16 ? 16 : 32
        case .source: return 32
        case .int8: return blockwiseBits(codeBits: 8, blockSize: s.blockSize, doubleQuant: s.doubleQuant, nestedBlock: s.blockSize)
        case .fp4, .nf4: return blockwiseBits(codeBits: 4, blockSize: s.blockSize, doubleQuant: s.doubleQuant)
        }
    }

    /// Bytes of one block's seven linear layers as this engine stores them (blockwise: the quantizer's exact bytes).
    public static func blockLinearBytes(_ c: ModelConfig, _ s: EstimateSettings) -> Int {
        LoRATarget.allCases.reduce(0) { sum, t in
            let (i, o) = t.shape(c)
            return sum + (s.quant.isBlockwise ? blockwiseBytes(count: i * o, kind: s.quant, blockSize: s.blockSize, doubleQuant: s.doubleQuant)
                                              : Int((linearBits(s) * Double(i * o) / 8).rounded(.up)))
        }
    }
    /// The engine row's method name.
    public static let engineMethod = "loratop, this run"

    /// What this engine itself would hold for the settings: the linear base in `s.quant` storage (dense fp32 for none),
    /// embeddings in the file's storage when quantized (fp32 otherwise), fp32 adapters, gradients and AdamW moments,
    /// the exact buffers `TrainingGraph` allocates (logits only in chunks of up to 64 MiB per shard), LoRA's saved A·x, one dequantized
    /// tile of the largest matrix, and the measured runtime and tokenizer. `loratop train` prints the same
    /// components measured; the test suite checks they agree.
    public static func engineRow(_ c: ModelConfig, _ s: EstimateSettings, fullTotal: Double, adapterParams: Int) -> MethodEstimate {
        let split = parameterSplit(c)
        let quantized = s.quant.isBlockwise
        let linearBits = linearBits(s)
        let linearBytes = quantized ? c.layers * blockLinearBytes(c, s) : Int((linearBits * Double(split.linear) / 8).rounded(.up))
        let embedValues = c.vocab * c.dim * (c.tiedEmbeddings ? 1 : 2)
        let embedBytes = embeddingBytes(c, s)
        let normBytes = 4 * (split.other - embedValues)
        let n = s.batch * s.seqLen
        let lora = 2 * n * s.rank * s.targets.count * c.layers
        let act = 4 * (TrainingGraph.plannedActivationValues(c, B: s.batch, T: s.seqLen, checkpointing: s.checkpointing,
                                                             threads: s.threads, headBytes: headMatrixBytes(c, s)) + lora)
        let shards = TrainingGraph.shardCount(B: s.batch, threads: s.threads)
        // a dequantized tile (fp32, or bf16 with the bf16 copy of the activation operand, N × max(C, F), per shard)
        let tileValues = quantized ? c.dim * max(c.ffnDim, c.heads * c.headDim) : 0
        let tile = s.computeBF16 ? 2 * tileValues + 2 * n * max(c.dim, c.ffnDim) : 4 * tileValues
        let label = s.quant == .none ? (s.computeBF16 ? "bf16" : "f32") : s.quant.rawValue + (quantized && s.doubleQuant ? "+dq" : "")
        let report = MemoryReport(components: [
            MemoryComponent("base \(label)", bytes: linearBytes, kind: .baseWeights),
            MemoryComponent("embeddings", bytes: embedBytes + normBytes, kind: .baseWeights),
            MemoryComponent("LoRA A, B", bytes: 4 * adapterParams, kind: .adapters),
            MemoryComponent("adapter gradients", bytes: 4 * adapterParams * shards, kind: .gradients),
            MemoryComponent("AdamW m, v", bytes: 8 * adapterParams, kind: .optimizerState),
            MemoryComponent("activations", bytes: act, kind: .activations),
            MemoryComponent("scratch", bytes: tile, kind: .scratch),
            MemoryComponent("runtime + tokenizer", bytes: runtimeBytes + tokenizerBytes, kind: .other),
        ])
        let baseBits = Double(8 * (linearBytes + embedBytes + normBytes)) / Double(c.parameterCount)
        return MethodEstimate(method: engineMethod,
                              explanation: "this engine with your flags: \(label) linear base, embeddings "
                                + (quantized && s.embeddingFileBytes != nil ? "as the file stores them" : s.computeBF16 ? "bf16" : "fp32")
                                + (s.computeBF16 ? ", bf16 products with fp32 sums" : ", fp32 math") + ", chunked LM head",
                              report: report, linearBitsPerParam: linearBits, baseBitsPerParam: baseBits,
                              ratioToFull: Double(report.total) / fullTotal)
    }
}
