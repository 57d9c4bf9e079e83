import ArgumentParser
import Foundation
import LoRAKit

extension ExportFormat: ExpressibleByArgument {}
extension ExportDType: ExpressibleByArgument {}

/// `loratop export --model M --adapter DIR --format F --out PATH [--dtype D]`: an adapter in a form other tools load.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an adapter for other tools: PEFT, a llama.cpp LoRA GGUF, or the base with the adapter merged (HF folder or GGUF).",
        discussion: """
            peft          adapter_config.json + adapter_model.safetensors (F32) in the folder --out
            gguf-adapter  a llama.cpp LoRA adapter file (--dtype f32|f16); rsLoRA is written as alpha·√r
            merged-hf     config.json + model.safetensors (--dtype f32|f16|bf16) (+ tokenizer files of an HF source)
            merged-gguf   a GGUF model (--dtype f32|f16|q8_0) with the source GGUF's tokenizer metadata
            The merged formats refuse to write NaN or Inf. Files are written atomically, one tensor at a time.
            """)

    @Option(name: .long, help: "Base model: smollm2 (the cached sample), a .gguf file or a Hugging Face folder.")
    var model: String

    @Option(name: .long, help: "The adapter folder (adapter_config.json + adapter_model.safetensors; a checkpoint folder works).")
    var adapter: String

    @Option(name: .long, help: "peft | gguf-adapter | merged-hf | merged-gguf.")
    var format: ExportFormat

    @Option(name: .long, help: "Output: a folder for peft and merged-hf, a file for gguf-adapter and merged-gguf.")
    var out: String

    @Option(name: .long, help: "Tensor storage: f32 | f16 | bf16 (merged-hf) | q8_0 (merged-gguf).")
    var dtype: ExportDType = ExportRunner.defaultDType

    func validate() throws {
        do {
            try ExportRunner.checkDType(dtype, for: format)
        } catch let e as ExportError {
            throw ValidationError("\(e.message) (hint: \(e.hint))")
        }
    }

    func run() throws {
        let start = Date()
        let s = try ExportRunner.run(model: model, adapterFolder: adapter, format: format, out: out, dtype: dtype)
        let secs = Date().timeIntervalSince(start)
        Output.out("wrote \(s.path) (\(format.rawValue), \(dtype.rawValue), \(s.modules) adapter modules, \(String(format: "%.1f", secs)) s)")
        if format == .peft || format == .mergedHF { Output.out("files: \(s.files.joined(separator: ", "))") }
        for n in s.notes { Output.err("loratop export: note: \(n)\n") }
    }
}
