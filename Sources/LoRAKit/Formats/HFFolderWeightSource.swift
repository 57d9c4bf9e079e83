import Foundation

/// Base-model weights from a Hugging Face folder: `config.json` (LlamaForCausalLM, MistralForCausalLM or
/// Qwen2ForCausalLM) and `model.safetensors` or a sharded `model.safetensors.index.json`. Every expected tensor's
/// presence, shape and dtype is checked against the config when the folder is opened.
public final class HFFolderWeightSource: WeightSource, @unchecked Sendable {
    /// The folder.
    public let folder: String
    public let config: ModelConfig
    /// `architectures[0]` from config.json.
    public let architecture: String
    /// Tensor name → the shard holding it.
    private let shards: [String: SafetensorsFile]

    public var origin: String { folder }

    /// Architectures this reader accepts.
    public static let supportedArchitectures = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM",
                                                "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Phi3ForCausalLM"]

    /// Opens and validates a folder.
    public init(folder path: String) throws {
        let folder = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        self.folder = folder
        let (cfg, arch) = try Self.readConfig(folder + "/config.json")
        architecture = arch

        var map = [String: SafetensorsFile]()
        let fm = FileManager.default
        let single = folder + "/model.safetensors"
        let indexPath = folder + "/model.safetensors.index.json"
        if fm.fileExists(atPath: single) {
            let f = try SafetensorsFile(path: single)
            for t in f.tensors { map[t.name] = f }
        } else if fm.fileExists(atPath: indexPath) {
            guard let data = try RegularFile.contents(indexPath),
                  let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let weightMap = obj["weight_map"] as? [String: Any] else {
                throw FormatError(file: indexPath, field: "weight_map", message: "expected a JSON object with a weight_map of tensor → file",
                                  hint: "the index file is corrupt")
            }
            var opened = [String: SafetensorsFile]()
            for (tensor, fileAny) in weightMap.sorted(by: { $0.key < $1.key }) {
                guard let shard = fileAny as? String, !shard.contains("/"), !shard.hasPrefix(".") else {
                    throw FormatError(file: indexPath, field: "weight_map.\(tensor)", message: "expected a shard file name in the folder, found \(fileAny)")
                }
                if opened[shard] == nil { opened[shard] = try SafetensorsFile(path: folder + "/" + shard) }
                guard let f = opened[shard], f.tensor(tensor) != nil else {
                    throw FormatError(file: folder + "/" + shard, field: "tensor \(tensor)", message: "listed in the index but not in the shard",
                                      hint: "the download is incomplete")
                }
                map[tensor] = f
            }
        } else {
            throw FormatError(file: folder, field: "weights", message: "expected model.safetensors or model.safetensors.index.json, found neither",
                              hint: "PyTorch .bin checkpoints are not supported; save with safe_serialization=True")
        }
        shards = map
        var c = cfg
        if c.tiedEmbeddings == false && map["lm_head.weight"] == nil { c.tiedEmbeddings = true }
        config = c

        for (name, shape) in GGUFWeightSource.expectedShapes(c) {
            guard let f = map[name], let info = f.tensor(name) else {
                throw FormatError(file: folder, field: "tensor \(name)", message: "missing (expected shape \(shape))",
                                  hint: "the folder does not hold a complete \(arch) checkpoint")
            }
            guard info.shape == shape else {
                throw FormatError(file: f.path, field: "tensor \(name)", message: "expected shape \(shape), found \(info.shape)",
                                  hint: "the weights do not match config.json")
            }
            guard info.dtype.isFloatWeight else {
                throw FormatError(file: f.path, field: "tensor \(name)", message: "expected F32, F16 or BF16, found \(info.dtype.rawValue)",
                                  hint: "quantized HF checkpoints are not supported; use the float weights")
            }
        }
    }

    /// Reads config.json through ModelConfig's decoding (θ and RoPE scaling in either transformers spelling, Qwen3's
    /// q/k norms from its architecture), plus Qwen2's always-on q/k/v biases and Qwen3's sliding-window refusal.
    static func readConfig(_ path: String) throws -> (ModelConfig, String) {
        guard let data = try RegularFile.contents(path) else {
            throw FormatError(file: path, field: "config.json", message: "cannot read the file", hint: "a Hugging Face model folder needs config.json")
        }
        guard let obj = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw FormatError(file: path, field: "config.json", message: "expected a JSON object", hint: "the file is corrupt")
        }
        let arch = (obj["architectures"] as? [Any])?.first as? String ?? (obj["model_type"] as? String ?? "?")
        guard supportedArchitectures.contains(arch) else {
            throw FormatError(file: path, field: "architectures", message: "expected one of \(supportedArchitectures), found \(arch)",
                              hint: "loratop trains LLaMA-family decoders")
        }
        var cfg: ModelConfig
        do {
            cfg = try JSONDecoder().decode(ModelConfig.self, from: data)
        } catch let e as ModelConfigError {
            throw FormatError(file: path, field: e.field, message: e.message)
        } catch {
            throw FormatError(file: path, field: "config.json", message: "cannot decode: \(error)", hint: "check the types of the values")
        }
        if arch == "Qwen2ForCausalLM" { cfg.attentionBias = true }
        if arch == "Qwen3ForCausalLM" {
            if obj["use_sliding_window"] as? Bool == true {
                throw FormatError(file: path, field: "use_sliding_window", message: "sliding-window attention is not supported for Qwen3",
                                  hint: "the released Qwen3 models have it off (false)")
            }
        }
        do { try cfg.validate() } catch let e as ModelConfigError {
            throw FormatError(file: path, field: e.field, message: e.message)
        }
        return (cfg, arch)
    }

    public func has(_ name: String) -> Bool { shards[name] != nil }

    public func matrix(_ name: String) throws -> FrozenMatrix {
        guard let f = shards[name] else {
            throw WeightError(origin: origin, tensor: name, message: "not in this folder")
        }
        let m = try f.matrix(name)
        guard m.info.shape.count == 2 else {
            throw WeightError(origin: origin, tensor: name, message: "expected a 2-D tensor, found shape \(m.info.shape)")
        }
        return m
    }

    public func vector(_ name: String) throws -> [Float] {
        guard let f = shards[name] else {
            throw WeightError(origin: origin, tensor: name, message: "not in this folder")
        }
        return try f.floats(name)
    }
}

extension HFFolderWeightSource {
    /// Drops the resident pages of every shard's mapping (see `MappedFile.releaseResidentPages`).
    public func releaseResidentPages() {
        for f in shards.values { f.mapped.releaseResidentPages() }
    }
}
