import Foundation

/// A LoRA adapter in PEFT's file layout: `adapter_config.json` + `adapter_model.safetensors`, tensor keys
/// `base_model.model.<module>.lora_A.weight` (r, in) and `.lora_B.weight` (out, r).
public struct PEFTAdapter: Sendable {
    /// One module's factors.
    public struct Module: Sendable, Equatable {
        /// HF module name, e.g. `model.layers.0.self_attn.q_proj`.
        public var name: String
        /// A, (r, in) row-major.
        public var a: [Float]
        /// B, (out, r) row-major.
        public var b: [Float]
        /// Rank r.
        public var rank: Int
        /// Input features.
        public var inFeatures: Int
        /// Output features.
        public var outFeatures: Int

        /// A module's factors (shapes given explicitly).
        public init(name: String, a: [Float], b: [Float], rank: Int, inFeatures: Int, outFeatures: Int) {
            self.name = name
            self.a = a
            self.b = b
            self.rank = rank
            self.inFeatures = inFeatures
            self.outFeatures = outFeatures
        }
    }

    /// The adapter settings (rank, alpha, dropout, targets, rsLoRA).
    public var config: LoRAConfig
    /// What `base_model_name_or_path` says.
    public var baseModel: String
    /// Modules in model order.
    public var modules: [Module]
    /// The folder it was read from (what errors about it name); empty for one made in memory.
    public var folder = ""

    /// An adapter from settings and modules.
    public init(config: LoRAConfig, baseModel: String, modules: [Module]) {
        self.config = config
        self.baseModel = baseModel
        self.modules = modules
    }

    /// The adapter currently attached to `model` (copies A and B).
    public init(model: LlamaModel, config: LoRAConfig, baseModel: String) {
        self.config = config
        self.baseModel = baseModel
        modules = model.adapters.map { name, ad in
            Module(name: name, a: ad.a.value.array, b: ad.b.value.array, rank: ad.rank,
                   inFeatures: ad.inFeatures, outFeatures: ad.outFeatures)
        }
    }

    static let prefix = "base_model.model."

    /// Writes both files into `folder` (created if missing), each atomically.
    public func write(to folder: String) throws {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var st = SafetensorsWriter(metadata: ["format": "pt"])
        for m in modules {
            try st.add(name: PEFTAdapter.prefix + m.name + ".lora_A.weight", shape: [m.rank, m.inFeatures], values: m.a)
            try st.add(name: PEFTAdapter.prefix + m.name + ".lora_B.weight", shape: [m.outFeatures, m.rank], values: m.b)
        }
        try st.write(to: folder + "/adapter_model.safetensors")
        try AtomicFile.write(Array(configJSON().utf8), to: folder + "/adapter_config.json")
    }

    /// `adapter_config.json` as PEFT writes it (the keys PEFT reads back).
    public func configJSON() throws -> String {
        let obj: [String: Any] = [
            "peft_type": "LORA", "task_type": "CAUSAL_LM",
            "r": config.rank, "lora_alpha": Double(config.alpha), "lora_dropout": Double(config.dropout),
            "target_modules": targetModules, "use_rslora": config.useRSLoRA,
            "bias": "none", "base_model_name_or_path": baseModel, "init_lora_weights": true,
            "fan_in_fan_out": false, "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](),
            "inference_mode": true, "use_dora": false, "modules_to_save": NSNull(), "layers_to_transform": NSNull(),
            "layers_pattern": NSNull(), "revision": NSNull(),
        ]
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    /// PEFT's `target_modules`: the modules' own names (Phi-3's `qkv_proj`, `gate_up_proj`), in model order; the
    /// configured targets' names when there are no modules.
    var targetModules: [String] {
        var out: [String] = []
        for m in modules {
            let last = String(m.name.split(separator: ".").last ?? "")
            if !out.contains(last) { out.append(last) }
        }
        return out.isEmpty ? config.targets.map(\.rawValue) : out
    }

    /// Reads a PEFT adapter folder (made by loratop or by PEFT itself).
    public static func read(folder: String) throws -> PEFTAdapter {
        let cfgPath = folder + "/adapter_config.json"
        guard let data = try RegularFile.contents(cfgPath) else {
            throw FormatError(file: cfgPath, field: "adapter_config.json", message: "missing",
                              hint: "an adapter folder holds adapter_config.json and adapter_model.safetensors")
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw FormatError(file: cfgPath, field: "json", message: "not a JSON object")
        }
        if let t = obj["peft_type"] as? String, t.uppercased() != "LORA" {
            throw FormatError(file: cfgPath, field: "peft_type", message: "expected LORA, found \(t)",
                              hint: "only LoRA adapters are supported")
        }
        for key in ["rank_pattern", "alpha_pattern"] {
            if let p = obj[key] as? [String: Any], !p.isEmpty {
                throw FormatError(file: cfgPath, field: key, message: "per-module ranks or alphas are not supported",
                                  hint: "train the adapter with one r and lora_alpha for every module")
            }
        }
        if let d = obj["use_dora"] as? Bool, d {
            throw FormatError(file: cfgPath, field: "use_dora", message: "DoRA adapters are not supported")
        }
        // Keys that change what the weights mean: loading as if they were absent would give another model.
        if let f = obj["fan_in_fan_out"] as? Bool, f {
            throw FormatError(file: cfgPath, field: "fan_in_fan_out", message: "weights stored transposed (GPT-2 Conv1D style) are not supported",
                              hint: "loratop adapts LLaMA-family models, whose projections are nn.Linear")
        }
        if let b = obj["bias"] as? String, b != "none" {
            throw FormatError(file: cfgPath, field: "bias", message: "expected \"none\", found \"\(b)\": trained biases are not supported",
                              hint: "train the adapter with bias=\"none\"")
        }
        if let l = obj["layers_to_transform"], !(l is NSNull) {
            throw FormatError(file: cfgPath, field: "layers_to_transform", message: "adapters on some layers only are not supported",
                              hint: "train the adapter on every layer")
        }
        if let m = obj["modules_to_save"] as? [Any], !m.isEmpty {
            throw FormatError(file: cfgPath, field: "modules_to_save",
                              message: "fully trained modules (\(m.compactMap { $0 as? String }.joined(separator: ", "))) are not supported: the adapter alone is not the model",
                              hint: "train without modules_to_save, or merge the adapter with PEFT")
        }
        let config: LoRAConfig
        do {
            config = try JSONDecoder().decode(LoRAConfig.self, from: data)
        } catch {
            throw FormatError(file: cfgPath, field: "config", message: "\(error)")
        }
        let stPath = folder + "/adapter_model.safetensors"
        guard FileManager.default.fileExists(atPath: stPath) else {
            throw FormatError(file: stPath, field: "file", message: "missing",
                              hint: "PEFT's older adapter_model.bin is not supported; save with safe_serialization=True")
        }
        let st = try SafetensorsFile(path: stPath)
        var names: [String] = []
        for t in st.tensors where t.name.hasSuffix(".lora_A.weight") {
            var n = String(t.name.dropLast(".lora_A.weight".count))
            if n.hasPrefix(prefix) { n.removeFirst(prefix.count) }
            names.append(n)
        }
        var modules: [Module] = []
        for n in names.sorted(by: moduleOrder) {
            let aKey = (st.tensor(prefix + n + ".lora_A.weight") != nil ? prefix : "") + n + ".lora_A.weight"
            let bKey = (st.tensor(prefix + n + ".lora_B.weight") != nil ? prefix : "") + n + ".lora_B.weight"
            guard let ai = st.tensor(aKey), let bi = st.tensor(bKey) else {
                throw FormatError(file: stPath, field: n, message: "lora_A without a matching lora_B")
            }
            guard ai.shape.count == 2, bi.shape.count == 2, ai.shape[0] == bi.shape[1], ai.shape[0] == config.rank else {
                throw FormatError(file: stPath, field: n,
                                  message: "A \(ai.shape) and B \(bi.shape) do not fit rank \(config.rank) ([r, in] and [out, r])")
            }
            let a = try st.floats(aKey), b = try st.floats(bKey)
            for (key, values) in [(aKey, a), (bKey, b)] {
                if let bad = Finite.firstNonFinite(values) {
                    throw FormatError(file: stPath, field: key, message: "holds a non-finite value (\(Finite.describe(bad, of: values.count)))",
                                      hint: "the run that wrote it diverged; use an earlier checkpoint")
                }
            }
            modules.append(Module(name: n, a: a, b: b, rank: ai.shape[0], inFeatures: ai.shape[1], outFeatures: bi.shape[0]))
        }
        guard !modules.isEmpty else {
            throw FormatError(file: stPath, field: "tensors", message: "no lora_A / lora_B tensors found")
        }
        var adapter = PEFTAdapter(config: config, baseModel: obj["base_model_name_or_path"] as? String ?? "", modules: modules)
        adapter.folder = folder
        return adapter
    }

    /// Layer number first, then q, k, v, o, gate, up, down.
    static func moduleOrder(_ x: String, _ y: String) -> Bool {
        func key(_ s: String) -> (Int, Int, String) {
            let parts = s.split(separator: ".")
            let layer = parts.firstIndex(of: "layers").flatMap { i in i + 1 < parts.count ? Int(parts[i + 1]) : nil } ?? -1
            let last = parts.last.map(String.init) ?? ""
            let idx = LoRATarget.allCases.firstIndex { $0.rawValue == last } ?? 99
            return (layer, idx, s)
        }
        return key(x) < key(y)
    }

    /// Attaches this adapter to `model` (replacing any), checking every module exists with the right shape; errors
    /// name the adapter's file (not the base path written inside it).
    public func attach(to model: LlamaModel) throws {
        let source = folder.isEmpty ? "the adapter" : folder + "/adapter_model.safetensors"
        var rng = SeededRNG(seed: 0)
        model.attachAdapters(config, rng: &rng)
        let byName = Dictionary(model.adapters.map { ($0.name, $0.adapter) }, uniquingKeysWith: { a, _ in a })
        guard byName.count == modules.count else {
            throw FormatError(file: source, field: "target_modules",
                              message: "the adapter has \(modules.count) modules, the model expects \(byName.count) for \(config.targets.map(\.rawValue))",
                              hint: "was it trained on another model?")
        }
        for m in modules {
            guard let ad = byName[m.name] else {
                throw FormatError(file: source, field: m.name, message: "no such module in the model",
                                  hint: "was the adapter trained on another model?")
            }
            guard ad.inFeatures == m.inFeatures, ad.outFeatures == m.outFeatures, ad.rank == m.rank else {
                throw FormatError(file: source, field: m.name,
                                  message: "adapter is \(m.outFeatures)×\(m.inFeatures) r\(m.rank), model module is \(ad.outFeatures)×\(ad.inFeatures) r\(ad.rank)")
            }
            ad.a.value.assign(m.a)
            ad.b.value.assign(m.b)
        }
    }
}
