import ArgumentParser
import Foundation
import LoRAKit

/// Loads a base model for inference (`generate`, `export`): fp32 unless asked otherwise, with an optional PEFT adapter.
struct InferenceModel {
    let model: LlamaModel
    let tokens: ModelTokenizer
    let path: String

    init(model name: String, adapter: String?, quant: QuantKind = .none) throws {
        path = try SampleModel.resolve(name)
        let source = try loadWeights(path: path)
        tokens = try ModelTokenizer.load(for: source)
        model = try LlamaModel(source: source) { tensor, m in
            try TrainingRun.store(m, name: tensor, kind: quant, blockSize: 64, doubleQuant: quant == .nf4)
        }
        if let dir = adapter {
            let a = try PEFTAdapter.read(folder: dir)
            try a.attach(to: model)
        }
    }
}
