import Foundation

/// `loratop export` without the command line: load the base (keeping the file's storage), read the adapter,
/// check it fits the base, and write the requested format.
public enum ExportRunner {
    /// What an export wrote.
    public struct Summary: Sendable, Equatable {
        /// The output path.
        public var path: String
        /// Files written (names inside a folder, or the file itself).
        public var files: [String]
        /// Adapter modules exported or fused.
        public var modules: Int
        /// Notes for the person (e.g. what could not be written).
        public var notes: [String]
    }

    /// The tensor storage used when `--dtype` is not given.
    public static let defaultDType = ExportDType.f32

    /// Checks that `format` can store `dtype`; throws naming the allowed ones.
    public static func checkDType(_ dtype: ExportDType, for format: ExportFormat) throws {
        let allowed: [ExportDType]
        switch format {
        case .peft: allowed = [.f32]
        case .ggufAdapter: allowed = [.f32, .f16]
        case .mergedHF: allowed = [.f32, .f16, .bf16]
        case .mergedGGUF: allowed = [.f32, .f16, .q8_0]
        }
        guard allowed.contains(dtype) else {
            throw ExportError(path: "--dtype", message: "\(format.rawValue) cannot be stored as \(dtype.rawValue)",
                              hint: "use one of \(allowed.map(\.rawValue).joined(separator: ", "))")
        }
    }

    /// Reads the adapter folder (PEFT files, or a loratop checkpoint folder holding them) with a clear error when missing.
    public static func readAdapter(_ folder: String) throws -> PEFTAdapter {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw ExportError(path: folder, message: "no such adapter folder",
                              hint: "give the folder holding adapter_config.json and adapter_model.safetensors (a training output or checkpoint folder)")
        }
        return try PEFTAdapter.read(folder: folder)
    }

    /// Attaches `adapter` to `model`, turning a shape mismatch into an error that names both sides.
    public static func attach(_ adapter: PEFTAdapter, adapterPath: String, to model: LlamaModel, modelPath: String) throws {
        do {
            try adapter.attach(to: model)
        } catch let e as FormatError {
            throw ExportError(path: adapterPath, message: "does not fit the model \(modelPath): \(e.field): \(e.message)",
                              hint: "export with the base model the adapter was trained on")
        }
    }

    /// Runs one export: `model` is `--model` (a sample name or a path), `adapterFolder` a PEFT adapter folder.
    public static func run(model: String, adapterFolder: String, format: ExportFormat, out: String,
                           dtype: ExportDType = defaultDType) throws -> Summary {
        try checkDType(dtype, for: format)
        try prepareOut(out, for: format)  // a read-only or mistyped --out is told before the model loads
        let source = try loadWeights(model: model)
        let adapter = try readAdapter(adapterFolder)
        let llama = try LlamaModel(source: source)  // the file's own storage: nothing expanded up front
        try attach(adapter, adapterPath: adapterFolder, to: llama, modelPath: source.origin)
        let base = ExportBase(source: source)
        return try export(model: llama, adapter: adapter, base: base, format: format, out: out, dtype: dtype)
    }

    /// Creates the folder `out` is (peft, merged-hf) or is in (the GGUF formats), checking it can be written.
    static func prepareOut(_ out: String, for format: ExportFormat) throws {
        switch format {
        case .peft, .mergedHF: try MergeExport.prepareFolder(out)
        case .ggufAdapter, .mergedGGUF: try MergeExport.prepareFile(out)
        }
    }

    /// Writes an already attached adapter in `format` (the model carries the same adapter for merged formats).
    public static func export(model: LlamaModel, adapter: PEFTAdapter, base: ExportBase, format: ExportFormat,
                              out: String, dtype: ExportDType = defaultDType) throws -> Summary {
        try checkDType(dtype, for: format)
        var notes: [String] = []
        var files: [String]
        switch format {
        case .peft:
            try MergeExport.prepareFolder(out)
            var a = adapter
            if a.baseModel.isEmpty { a.baseModel = base.origin }
            try a.write(to: out)
            files = ["adapter_config.json", "adapter_model.safetensors"]
        case .ggufAdapter:
            try MergeExport.prepareFile(out)
            try GGUFAdapter.write(adapter, base: base, to: out, type: dtype.ggmlType ?? .f32)
            files = [out]
        case .mergedHF:
            files = try MergeExport.writeHF(model: model, base: base, to: out, dtype: dtype.safetensorsType ?? .f32)
            if !files.contains("tokenizer.json") {
                notes.append(base.gguf != nil
                    ? "no tokenizer.json: the base is a GGUF file and loratop cannot yet write its tokenizer as tokenizer.json; copy one from the original model"
                    : "no tokenizer.json in the source folder to copy")
            }
        case .mergedGGUF:
            try MergeExport.writeGGUF(model: model, base: base, to: out, type: dtype.ggmlType ?? .f32)
            files = [out]
            if base.gguf == nil {
                notes.append("no tokenizer metadata: the base is a Hugging Face folder; llama.cpp needs tokenizer.ggml.* keys to load this file")
            }
        }
        return Summary(path: out, files: files, modules: adapter.modules.count, notes: notes)
    }
}
