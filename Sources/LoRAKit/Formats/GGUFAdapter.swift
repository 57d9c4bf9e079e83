import Foundation

/// llama.cpp's LoRA adapter GGUF (`llama-cli --lora FILE`, llama-cpp-python `lora_path`).
///
/// Metadata: `general.type = "adapter"`, `general.architecture` = the base's, `adapter.type = "lora"`,
/// `adapter.lora.alpha` (f32). Tensors `<base GGUF tensor>.lora_a`, ggml dims [n_in, r] (the bytes of PEFT's
/// A (r, in)), and `.lora_b`, ggml dims [r, n_out] (the bytes of B (out, r)). llama.cpp scales by alpha / r;
/// there is no rsLoRA field, so an rsLoRA adapter is written with alpha·√r (then alpha·√r / r = alpha / √r).
/// For LLaMA, llama.cpp's q/k base rows are permuted per head, so the rows of q/k `lora_b` are permuted the same way.
public enum GGUFAdapter {
    /// The GGUF base tensor name of a PEFT module name (`model.layers.3.self_attn.q_proj` → `blk.3.attn_q.weight`;
    /// Phi-3's `qkv_proj` → `attn_qkv` under `arch` phi3).
    public static func baseTensorName(module: String, arch: String = "llama") -> String? {
        GGUFWeightSource.ggufName(hf: module + ".weight", arch: arch)
    }

    /// The alpha written to `adapter.lora.alpha` so that llama.cpp's alpha / r equals the adapter's scale.
    public static func llamaCppAlpha(_ config: LoRAConfig) -> Float {
        config.useRSLoRA ? config.alpha * Float(config.rank).squareRoot() : config.alpha
    }

    /// Writes `adapter` for `base` to `path` (atomically); A and B stored as `type` (F32 or F16).
    public static func write(_ adapter: PEFTAdapter, base: ExportBase, to path: String, type: GGMLType = .f32) throws {
        guard type == .f32 || type == .f16 else {
            throw ExportError(path: path, message: "LoRA adapter tensors can be f32 or f16, not \(type.name)",
                              hint: "use --dtype f32 or f16 with --format gguf-adapter")
        }
        var metadata: [(String, GGUFValue)] = [
            ("general.type", .string("adapter")),
            ("general.architecture", .string(base.architecture)),
            ("general.name", .string("loratop LoRA adapter")),
            ("adapter.type", .string("lora")),
            ("adapter.lora.alpha", .float32(llamaCppAlpha(adapter.config))),
        ]
        if !adapter.baseModel.isEmpty { metadata.append(("general.base_model.0.name", .string(adapter.baseModel))) }
        var tensors: [PlannedTensor] = []
        for m in adapter.modules {
            guard let baseName = baseTensorName(module: m.name, arch: base.architecture) else {
                throw ExportError(path: path, message: "module \(m.name) has no llama.cpp tensor name",
                                  hint: "only the q, k, v, o, gate, up and down projections of a LLaMA-family model can be exported")
            }
            let stem = String(baseName.dropLast(".weight".count))
            let order = base.ggufRowOrder(module: m.name, rows: m.outFeatures)
            let b = m.b
            tensors.append(PlannedTensor(name: stem + ".weight.lora_a", shape: [m.rank, m.inFeatures]) { m.a })  // (r, in)
            tensors.append(PlannedTensor(name: stem + ".weight.lora_b", shape: [m.outFeatures, m.rank]) {     // (out, r)
                order.map { ExportBase.permuteRows(b, cols: m.rank, order: $0) } ?? b
            })
        }
        try ExportStream.writeGGUF(to: path, metadata: metadata, tensors: tensors) { _ in type }
    }

    /// Reads a llama.cpp LoRA adapter GGUF back into PEFT layout for `base` (q/k rows un-permuted). The result is
    /// a plain LoRA with alpha = `adapter.lora.alpha` (an rsLoRA adapter comes back as the equivalent plain one).
    public static func read(path: String, base: ExportBase) throws -> PEFTAdapter {
        let file = try GGUFFile(path: path)
        guard file.string("general.type") == "adapter", file.string("adapter.type") == "lora" else {
            throw FormatError(file: path, field: "general.type / adapter.type",
                              message: "expected \"adapter\" / \"lora\", found \(file.string("general.type") ?? "none") / \(file.string("adapter.type") ?? "none")",
                              hint: "this is not a llama.cpp LoRA adapter")
        }
        let arch = file.string("general.architecture") ?? ""
        guard arch == base.architecture else {
            throw FormatError(file: path, field: "general.architecture", message: "expected \(base.architecture) (the base's), found \(arch)",
                              hint: "the adapter was made for another model")
        }
        let alpha = file.float("adapter.lora.alpha") ?? 0
        var modules: [PEFTAdapter.Module] = []
        var targets: [LoRATarget] = []
        var rank = 0
        for t in file.tensors where t.name.hasSuffix(".weight.lora_a") {
            let stem = String(t.name.dropLast(".lora_a".count))
            guard let hf = GGUFWeightSource.hfName(gguf: stem, arch: base.architecture), hf.hasSuffix(".weight") else {
                throw FormatError(file: path, field: "tensor \(t.name)", message: "not a LoRA target of a LLaMA-family model")
            }
            let module = String(hf.dropLast(".weight".count))
            guard let bInfo = file.tensor(stem + ".lora_b") else {
                throw FormatError(file: path, field: "tensor \(t.name)", message: "lora_a without a matching lora_b")
            }
            guard t.dims.count == 2, bInfo.dims.count == 2, t.dims[1] == bInfo.dims[0] else {
                throw FormatError(file: path, field: "tensor \(stem)",
                                  message: "lora_a dims \(t.dims) and lora_b dims \(bInfo.dims) do not fit ([n_in, r] and [r, n_out])")
            }
            let r = t.dims[1], inF = t.dims[0], outF = bInfo.dims[1]
            if rank == 0 { rank = r }
            guard r == rank else {
                throw FormatError(file: path, field: "tensor \(t.name)", message: "rank \(r) differs from the first module's \(rank)",
                                  hint: "per-module ranks are not supported")
            }
            var b = try file.floats(bInfo.name)
            if let order = base.ggufRowOrder(module: module, rows: outF) { b = ExportBase.unpermuteRows(b, cols: r, order: order) }
            modules.append(PEFTAdapter.Module(name: module, a: try file.floats(t.name), b: b, rank: r, inFeatures: inF, outFeatures: outF))
            if let target = module.split(separator: ".").last.flatMap({ LoRATarget(name: String($0)) }), !targets.contains(target) {
                targets.append(target)
            }
        }
        guard !modules.isEmpty else {
            throw FormatError(file: path, field: "tensors", message: "no .lora_a / .lora_b tensors found")
        }
        modules.sort { PEFTAdapter.moduleOrder($0.name, $1.name) }
        let config: LoRAConfig
        do {
            config = try LoRAConfig(rank: rank, alpha: alpha, targets: LoRATarget.allCases.filter { targets.contains($0) })
        } catch {
            throw FormatError(file: path, field: "adapter.lora.alpha", message: "\(error)")
        }
        return PEFTAdapter(config: config, baseModel: file.string("general.base_model.0.name") ?? "", modules: modules)
    }
}
