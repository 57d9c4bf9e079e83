import ArgumentParser
import Foundation
import LoRAKit

/// Loads a base model for inference (`generate`, `export`): fp32 unless asked otherwise, with an optional PEFT adapter.
struct InferenceModel {
    let model: LlamaModel
    let tokens: ModelTokenizer
    let path: String

    /// `bf16`: hold a dense base in bf16 (generation with bf16 products); export always reads fp32.
    init(model name: String, adapter: String?, quant: QuantKind = .none, bf16: Bool = false) throws {
        path = try SampleModel.resolve(name)
        let source = try loadWeights(path: path)
        tokens = try ModelTokenizer.load(for: source)
        model = try LlamaModel(source: source) { tensor, m in
            try TrainingRun.store(m, name: tensor, kind: quant, blockSize: 64, doubleQuant: quant == .nf4, bf16: bf16)
        }
        if let dir = adapter {
            let a = try PEFTAdapter.read(folder: dir)
            try a.attach(to: model)
        }
    }
}
