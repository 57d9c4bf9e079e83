import ArgumentParser
import Foundation
import LoRAKit

/// `loratop tokenize`: token ids of text lines, or a dataset's examples with what is trained and what is masked.
struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print token ids (one line per input line), or a dataset's tokens with --show-mask.")

    @Option(help: "Model whose tokenizer to use: smollm2, a GGUF file or a Hugging Face folder.") var model: String = "smollm2"
    @Option(name: .customLong("text-file"), help: "Text file: ids for each line.") var textFile: String?
    @Option(help: "Dataset file (.txt or .jsonl): ids for each example, as training sees it.") var data: String?
    @Flag(name: .customLong("show-mask"), help: "Show tokens, trained ones in [brackets], masked ones plain.") var showMask = false
    @Option(name: .customLong("seq-len"), help: "Sequence length examples are truncated to.") var seqLen: Int = 128

    func validate() throws {
        guard (textFile == nil) != (data == nil) else { throw ValidationError("give exactly one of --text-file or --data") }
        guard seqLen >= 1 else { throw ValidationError("--seq-len must be at least 1") }
    }

    func run() throws {
        let path = try SampleModel.resolve(model)
        let tokens = try ModelTokenizer.load(for: try loadWeights(path: path))
        let tok = tokens.tokenizer
        var out = ""
        if let file = textFile {
            guard let data = try RegularFile.contents(file) else {
                throw ValidationError("\(file): cannot read the file")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw ValidationError("\(file): not UTF-8 text")
            }
            var lines = text.components(separatedBy: "\n")
            if lines.last == "" { lines.removeLast() }
            var count = 0
            for line in lines {
                let ids = tok.encode(line)
                count += ids.count
                out += (showMask ? ids.map { render(tok, $0) }.joined(separator: "|") : ids.map(String.init).joined(separator: " ")) + "\n"
            }
            Output.write(out, to: STDOUT_FILENO)
            note("\(lines.count) lines, \(count) tokens")
            return
        }
        let file = data ?? ""
        let set = try Dataset.load(url: URL(fileURLWithPath: file), tokenizer: tok, template: tokens.template, maxLength: seqLen + 1)
        for ex in set.examples {
            if showMask {
                out += zip(ex.ids, ex.trained).map { id, trained in trained ? "[" + render(tok, id) + "]" : render(tok, id) }
                    .joined(separator: "|") + "\n"
            } else {
                out += ex.ids.map(String.init).joined(separator: " ") + "\n"
            }
            if out.utf8.count > 1 << 20 {
                Output.write(out, to: STDOUT_FILENO)
                out = ""
            }
        }
        Output.write(out, to: STDOUT_FILENO)
        let s = set.stats
        note("\(set.format.rawValue): \(s.examples) examples, \(s.tokens) tokens (\(s.trainedTokens) trained), "
             + "\(s.truncated) truncated to \(seqLen + 1) tokens, \(s.dropped) dropped, longest \(s.longest)")
    }

    /// A token as readable text: newlines and tabs shown as ⏎ and ⇥.
    private func render(_ tok: any Tokenizing, _ id: Int32) -> String {
        tok.decode([id]).replacingOccurrences(of: "\n", with: "⏎").replacingOccurrences(of: "\t", with: "⇥")
    }

    private func note(_ s: String) { Output.err((s + "\n")) }
}
