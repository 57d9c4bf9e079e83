import Foundation
import XCTest
@testable import LoRAKit

/// The tokenizer built from the sample GGUF's own metadata (`tokenizer.ggml.*`), as `loratop` uses it.
final class GGUFTokenizerTests: XCTestCase {
    private func tokenizer() throws -> ModelTokenizer {
        let source = try loadWeights(path: try TestModels.smollm2Path())
        return try ModelTokenizer.load(for: source)
    }

    /// From the GGUF with llama.cpp's `smollm` pre-tokenizer (digits one by one, then GPT-2): 100% of the corpus equals
    /// the `tokenizers` reference with SmolLM2's original Digits + ByteLevel pre-tokenizer.
    func testGGUFTokenizerMatchesSmolLM2OnTheCorpus() throws {
        let tok = try tokenizer()
        XCTAssertEqual((tok.tokenizer as? BPETokenizer)?.preTokenizerKind, .smollm)
        let corpus = try TokenizerFixtures.corpus()
        let expected = try TokenizerFixtures.ids(try TokenizerFixtures.json("expected.json")["smollm_digits"])
        XCTAssertGreaterThanOrEqual(corpus.count, 2000)
        var mismatches = 0
        for (i, text) in corpus.enumerated() where tok.tokenizer.encode(text) != expected[i] {
            mismatches += 1
            if mismatches <= 3 { XCTFail("item \(i) \(text.debugDescription.prefix(60)): ids differ") }
        }
        XCTAssertEqual(mismatches, 0)
    }

    /// The same vocabulary and merges with GPT-2's split equal transformers' tokenizer loaded from the same GGUF
    /// (transformers' GGUF converter drops SmolLM2's Digits step).
    func testGGUFVocabularyWithGPT2SplitMatchesTransformersFromGGUF() throws {
        let file = try GGUFFile(path: try TestModels.smollm2Path())
        let tokens = try XCTUnwrap(file.strings("tokenizer.ggml.tokens"))
        let merges = try XCTUnwrap(file.strings("tokenizer.ggml.merges"))
        let types = file.ints("tokenizer.ggml.token_type")?.map { Int32($0) }
        let tok = try BPETokenizer(tokens: tokens, merges: merges, tokenTypes: types,
                                   specialIDs: SpecialTokenIDs(bos: 1, eos: 2, unk: 0, pad: 2), preTokenizer: .gpt2)
        let corpus = try TokenizerFixtures.corpus()
        let expected = try TokenizerFixtures.ids(try TokenizerFixtures.json("expected.json")["gguf_transformers"])
        var mismatches = 0
        for (i, text) in corpus.enumerated() where tok.encode(text) != expected[i] { mismatches += 1 }
        XCTAssertEqual(mismatches, 0)
    }

    func testChatTemplateAndStopIDsComeFromTheGGUF() throws {
        let tok = try tokenizer()
        XCTAssertEqual(tok.template.defaultSystemPrompt, "You are a helpful AI assistant named SmolLM, trained by Hugging Face")
        XCTAssertEqual(tok.stopIDs, [2])
        XCTAssertEqual(tok.tokenizer.specialIDs.bos, 1)
    }
}
