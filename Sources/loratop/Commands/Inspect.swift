import ArgumentParser
import Foundation
import LoRAKit

/// `loratop inspect ADAPTER_DIR`: what a saved adapter learned, module by module, and what rank it needs.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Explain a saved LoRA adapter: per-module update size, singular values, effective rank, rank advice.",
        discussion: """
        Works on any PEFT adapter folder (adapter_config.json + adapter_model.safetensors), loratop's or PEFT's, or a \
        loratop output folder (its newest checkpoint). Computed from the small factors only (QR and an r×r SVD per \
        module). With --model, ‖ΔW‖/‖W‖ uses the base's weights and the quantization error of --quant storage against \
        them is shown.
        """)

    @Argument(help: "A PEFT adapter folder or a loratop output / checkpoint folder.")
    var adapter: String

    @Option(help: "Base model for relative sizes and quantization errors: smollm2, a GGUF file or a Hugging Face folder.")
    var model: String?

    @Option(help: "Base storage whose error against the source weights is shown (with --model): none, int8, fp4, nf4 [nf4].")
    var quant: String = "nf4"

    @Flag(name: .customLong("double-quant"), help: "Double-quantize the block scales (with --quant).") var doubleQuant = false
    @Option(name: .customLong("block-size"), help: "Quantization block size [64].") var blockSize: Int = 64

    @Flag(help: "JSON for scripts instead of the table.") var json = false

    @Option(help: "Compute threads.") var threads: Int = 2

    func validate() throws {
        guard let q = QuantKind(parsing: quant), q != .source else {
            throw ValidationError("--quant: expected none, int8, fp4 or nf4, found `\(quant)`")
        }
        guard QuantKind.validBlockSizes.contains(blockSize) else {
            throw ValidationError("--block-size: expected a power of two from 32 to 4096, found \(blockSize)")
        }
        guard (1...256).contains(threads) else { throw ValidationError("--threads: expected 1…256") }
    }

    func run() throws {
        Parallel.setThreads(threads)
        let (folder, x) = try Inspect.load(adapter: adapter, model: model,
                                           storage: UpdateInspector.BaseStorage(kind: QuantKind(parsing: quant) ?? .nf4,
                                                                                blockSize: blockSize, doubleQuant: doubleQuant))
        if json {
            Output.write(try InspectReport.json(x, adapter: folder, model: model) + "\n", to: STDOUT_FILENO, json: true)
        } else {
            Output.write(InspectReport.table(x, adapter: folder, model: model), to: STDOUT_FILENO)
        }
    }

    /// Reads the adapter (a folder with adapter_config.json, or an output folder: its newest checkpoint) and inspects it.
    static func load(adapter: String, model: String?, storage: UpdateInspector.BaseStorage?) throws
        -> (String, UpdateInspection) {
        var folder = adapter
        if !FileManager.default.fileExists(atPath: adapter + "/adapter_config.json") {
            guard let resolved = try? Checkpoint.resolve(adapter) else {
                throw ValidationError("\(adapter)/adapter_config.json: missing; expected a PEFT adapter folder "
                                      + "(adapter_config.json + adapter_model.safetensors) or a loratop output folder")
            }
            folder = resolved
        }
        let a = try PEFTAdapter.read(folder: folder)
        let base = try model.map { try loadWeights(path: try SampleModel.resolve($0)) }
        return (folder, try UpdateInspector().inspect(adapter: a, base: base, storage: base == nil ? nil : storage))
    }
}
