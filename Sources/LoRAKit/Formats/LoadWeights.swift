import Foundation

/// Opens base-model weights from a GGUF file or a Hugging Face folder (decided by what `path` is).
public func loadWeights(path: String) throws -> WeightSource {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw FormatError(file: path, field: "model", message: "no such file or folder",
                          hint: "give a .gguf file, a Hugging Face folder, or a sample name such as smollm2 (see `loratop fetch-model`)")
    }
    if isDir.boolValue { return try HFFolderWeightSource(folder: path) }
    let f = try MappedFile(path: path)
    if f.size >= 4, let base = f.base, base.loadUnaligned(as: UInt32.self) == UInt32(littleEndian: 0x4655_4747) {
        return try GGUFWeightSource(file: GGUFFile(mapped: f))
    }
    throw FormatError(file: path, field: "magic", message: "expected a GGUF file (magic \"GGUF\") or a folder",
                      hint: "for safetensors weights, give the folder holding config.json and model.safetensors")
}

/// Opens `--model M`: a sample name (smollm2) from the cache, otherwise a path.
public func loadWeights(model: String) throws -> WeightSource {
    try loadWeights(path: SampleModel.resolve(model))
}
