import Foundation
import XCTest
@testable import LoRAKit

final class DataTokenizerTests: XCTestCase {
    /// Compares encodings item by item and reports the first mismatches readably.
    private func assertMatches(_ tok: any Tokenizing, _ corpus: [String], _ expected: [[Int32]], _ label: String,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(corpus.count, expected.count, file: file, line: line)
        var bad = 0
        for (s, want) in zip(corpus, expected) {
            let got = tok.encode(s)
            if got != want {
                bad += 1
                if bad <= 5 { XCTFail("\(label): \(s.debugDescription)\n  got  \(got)\n  want \(want)", file: file, line: line) }
            }
        }
        XCTAssertEqual(bad, 0, "\(label): \(bad) of \(corpus.count) items differ", file: file, line: line)
    }

    func testTokenizerJSONMatchesTransformersOnCorpus() throws {
        let tok = try TokenizerFixtures.smolLM2()
        let corpus = try TokenizerFixtures.corpus()
        XCTAssertGreaterThanOrEqual(corpus.count, 2000)
        let expected = try TokenizerFixtures.json("expected.json")
        XCTAssertEqual(expected["hf_tokenizer_json_agrees_with_gguf"] as? Bool, true)
        XCTAssertEqual(tok.vocabularySize, 49152)
        XCTAssertEqual(tok.preTokenizerKind, .gpt2)
        XCTAssertEqual(tok.specialIDs, SpecialTokenIDs(bos: 1, eos: 2, unk: 0, pad: 2))
        assertMatches(tok, corpus, try TokenizerFixtures.ids(expected["gguf_transformers"]), "tokenizer.json")
    }

    /// The tokenizer built from plain arrays, as the GGUF metadata gives them (tokens, "a b" merges, token types).
    private func fromArrays(_ pre: PreTokenizerKind) throws -> BPETokenizer {
        let parsed = try BPETokenizer.parse(try TokenizerFile(try TokenizerFixtures.url("tokenizer.json")).root, source: "tokenizer.json")
        let expected = try TokenizerFixtures.json("expected.json")
        let nonNormal = try XCTUnwrap(expected["gguf_non_normal_token_types"] as? [String: NSNumber])
        var types = [Int32](repeating: 1, count: parsed.tokens.count)
        for (k, v) in nonNormal { types[try XCTUnwrap(Int(k))] = v.int32Value }
        return try BPETokenizer(tokens: parsed.tokens, merges: parsed.merges.map { $0.0 + " " + $0.1 }, tokenTypes: types,
                                specialIDs: SpecialTokenIDs(bos: 1, eos: 2, unk: 0, pad: 2), preTokenizer: pre)
    }

    func testPlainArraysMatchTransformersFromGGUF() throws {
        let expected = try TokenizerFixtures.json("expected.json")
        // The generator checked that the GGUF's tokens and merges are tokenizer.json's, so these arrays are the GGUF's.
        XCTAssertEqual(expected["gguf_tokens_equal_tokenizer_json"] as? Bool, true)
        XCTAssertEqual(expected["gguf_merges_equal_tokenizer_json"] as? Bool, true)
        assertMatches(try fromArrays(.gpt2), try TokenizerFixtures.corpus(), try TokenizerFixtures.ids(expected["gguf_transformers"]), "arrays gpt2")
    }

    func testSmolLMDigitsPreTokenizerMatchesTokenizersSequence() throws {
        let expected = try TokenizerFixtures.json("expected.json")
        XCTAssertEqual(expected["gguf_pre"] as? String, "smollm")
        let pre = try PreTokenizerKind(ggufName: "smollm")
        XCTAssertEqual(pre, .smollm)
        let corpus = try TokenizerFixtures.corpus()
        let digits = try TokenizerFixtures.ids(expected["smollm_digits"])
        assertMatches(try fromArrays(pre), corpus, digits, "arrays smollm")
        // The two splits really differ on some items, so this test can tell them apart.
        let gpt2 = try TokenizerFixtures.ids(expected["gguf_transformers"])
        XCTAssertGreaterThan(zip(gpt2, digits).filter { $0 != $1 }.count, 50)
    }

    func testDecodeRoundTripAndStreaming() throws {
        let tok = try TokenizerFixtures.smolLM2()
        var split = 0
        for s in try TokenizerFixtures.corpus() {
            let ids = tok.encode(s)
            XCTAssertEqual(tok.decode(ids), s)
            var dec = StreamingDecoder(tokenizer: tok)
            var out = ""
            for id in ids {
                let piece = dec.push(id)
                XCTAssertFalse(piece.unicodeScalars.contains("\u{FFFD}"), "held-back bytes leaked as U+FFFD in \(s.debugDescription)")
                if piece.isEmpty && !tok.bytes(of: id).isEmpty { split += 1 }
                out += piece
            }
            out += dec.finish()
            XCTAssertEqual(out, s)
        }
        XCTAssertGreaterThan(split, 0, "the corpus should contain characters split across tokens")
    }

    func testStreamingDecoderHoldsBackAndFlushes() {
        let tok = ByteTokenizer()
        var dec = StreamingDecoder(tokenizer: tok)
        let bytes = Array("é🙂".utf8)  // 2 + 4 bytes
        XCTAssertEqual(dec.push(Int32(bytes[0])), "")
        XCTAssertEqual(dec.push(Int32(bytes[1])), "é")
        XCTAssertEqual(dec.push(Int32(bytes[2])), "")
        XCTAssertEqual(dec.push(Int32(bytes[3])), "")
        XCTAssertEqual(dec.push(Int32(bytes[4])), "")
        XCTAssertEqual(dec.push(Int32(bytes[5])), "🙂")
        XCTAssertEqual(dec.push(Int32(bytes[2])), "")
        XCTAssertEqual(dec.finish(), "\u{FFFD}")
        XCTAssertEqual(dec.push(258), "<|im_end|>")
        var skipping = StreamingDecoder(tokenizer: tok, skipSpecial: true)
        XCTAssertEqual(skipping.push(258), "")
        XCTAssertEqual(skipping.push(65), "A")
    }

    func testSpecialTokensAndDecodeSkip() throws {
        let tok = try TokenizerFixtures.smolLM2()
        XCTAssertEqual(tok.specialID("<|im_start|>"), 1)
        XCTAssertEqual(tok.specialID("<|im_end|>"), 2)
        XCTAssertEqual(tok.specialID("<|endoftext|>"), 0)
        XCTAssertNil(tok.specialID("hello"))
        let ids = tok.encode("<|im_start|>user\nhi<|im_end|>")
        XCTAssertEqual(ids.first, 1)
        XCTAssertEqual(ids.last, 2)
        XCTAssertEqual(tok.decode(ids, skipSpecial: true), "user\nhi")
        XCTAssertTrue(tok.isSpecial(2))
        XCTAssertFalse(tok.isSpecial(ids[1]))
    }

    func testByteLevelMapIsABijection() {
        var seen = Set<UInt32>()
        for b in 0..<256 {
            let s = ByteLevel.byteToScalar[b]
            XCTAssertTrue(seen.insert(s.value).inserted)
            XCTAssertEqual(ByteLevel.byte(for: s), UInt8(b))
        }
        XCTAssertEqual(ByteLevel.byteToScalar[32], "Ġ")
        XCTAssertEqual(ByteLevel.byteToScalar[10], "Ċ")
        XCTAssertEqual(ByteLevel.string(of: Array(" a\n".utf8)), "ĠaĊ")
    }

    func testPreTokenizerLookaheadCases() {
        func words(_ s: String, _ kind: PreTokenizerKind = .gpt2) -> [String] {
            let scalars = Array(s.unicodeScalars)
            return PreTokenizer(kind: kind).split(scalars).map { r in
                var v = String.UnicodeScalarView()
                v.append(contentsOf: scalars[r])
                return String(v)
            }
        }
        XCTAssertEqual(words("a   b"), ["a", "  ", " b"])
        XCTAssertEqual(words("a   "), ["a", "   "])
        XCTAssertEqual(words("a\t b"), ["a", "\t", " b"])
        XCTAssertEqual(words("a \tb"), ["a", " ", "\t", "b"])
        XCTAssertEqual(words("it's we'RE I'll"), ["it", "'s", " we", "'", "RE", " I", "'ll"])
        XCTAssertEqual(words("x 12345!!"), ["x", " 12345", "!!"])
        XCTAssertEqual(words("x   12", .smollm), ["x", "   ", "1", "2"])
        XCTAssertEqual(words("x   12", .gpt2), ["x", "  ", " 12"])
        XCTAssertEqual(words(""), [])
    }

    func testErrorsNameTheProblem() throws {
        XCTAssertThrowsError(try PreTokenizerKind(ggufName: "deepseek-llm")) { e in
            XCTAssertTrue("\(e)".contains("deepseek-llm"), "\(e)")
        }
        XCTAssertThrowsError(try BPETokenizer(tokens: ["a", "b", "ab"], merges: ["a b", "ab"], specialIDs: SpecialTokenIDs(), preTokenizer: .gpt2)) { e in
            XCTAssertTrue("\(e)".contains("merge 1"), "\(e)")
        }
        XCTAssertThrowsError(try BPETokenizer(tokens: ["a", "b"], merges: ["a c"], specialIDs: SpecialTokenIDs(), preTokenizer: .gpt2)) { e in
            XCTAssertTrue("\(e)".contains("not in the vocabulary"), "\(e)")
        }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loratop-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let bad = dir.appendingPathComponent("tokenizer.json")
        try Data("{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}".utf8).write(to: bad)
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: bad)) { e in
            XCTAssertTrue("\(e)".contains("Unigram") && "\(e)".contains(bad.path), "\(e)")
        }
        // Ids far beyond what the file holds are refused before the token table is allocated (2^40 asked for 17 TB).
        for (huge, field) in [("1099511627776", "model.vocab[\"b\"]"), ("2147483647", "model.vocab[\"b\"]"), ("-3", "model.vocab[\"b\"]"),
                              ("2.5", "model.vocab[\"b\"]")] {
            try Data(#"{"model": {"type": "BPE", "vocab": {"a": 0, "b": \#(huge)}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}"#.utf8).write(to: bad)
            XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: bad)) { e in
                XCTAssertTrue("\(e)".contains("\(field) is ") && "\(e)".contains("expected a whole number from 0 to 1025"), "\(huge): \(e)")
            }
        }
        try Data(#"{"added_tokens": [{"id": 300000000, "content": "<x>"}], "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}"#.utf8).write(to: bad)
        XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: bad)) { e in
            XCTAssertTrue("\(e)".contains("added_tokens[0].id is 300000000"), "\(e)")
        }
    }

    /// A tiny tokenizer.json with merges in pair form, added tokens and the Digits sequence.
    func testSmallTokenizerJSONPairMerges() throws {
        let g = { (s: String) in ByteLevel.string(of: Array(s.utf8)) }
        var vocab: [String: Int] = [:]
        for b in 0..<256 { vocab[String(Character(ByteLevel.byteToScalar[b]))] = b + 1 }
        vocab[g(" t")] = 257
        vocab[g(" th")] = 258
        vocab[g(" the")] = 259
        let json: [String: Any] = [
            "added_tokens": [["id": 0, "content": "<|endoftext|>", "special": true]],
            "pre_tokenizer": ["type": "Sequence", "pretokenizers": [["type": "Digits", "individual_digits": true],
                                                                    ["type": "ByteLevel", "add_prefix_space": false, "use_regex": true]]],
            "model": ["type": "BPE", "vocab": vocab, "merges": [[g(" "), "t"], [g(" t"), "h"], [g(" th"), "e"]]],
        ]
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loratop-tok-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        let tok = try BPETokenizer(tokenizerJSON: url)
        XCTAssertEqual(tok.preTokenizerKind, .smollm)
        XCTAssertEqual(tok.encode("a the<|endoftext|>"), [98, 259, 0])
        XCTAssertEqual(tok.encode(" 42"), [33, 53, 51])
        XCTAssertEqual(tok.decode(tok.encode("a the 42<|endoftext|>")), "a the 42<|endoftext|>")
        XCTAssertEqual(tok.specialIDs.eos, 0)
    }

    func testEncodeSpeed() throws {
        let tok = try BPETokenizer(tokenizerJSON: try TokenizerFixtures.url("tokenizer.json"))  // fresh: empty word cache
        let text = try TokenizerFixtures.corpus().joined(separator: "\n")
        var t0 = Date()
        let ids = tok.encode(text)
        var sec = Date().timeIntervalSince(t0)
        print(String(format: "DataTokenizerTests: cold cache %d bytes -> %d tokens in %.3f s (%.0f tokens/s)",
                     text.utf8.count, ids.count, sec, Double(ids.count) / sec))
        t0 = Date()
        for _ in 0..<3 { _ = tok.encode(text) }
        sec = Date().timeIntervalSince(t0) / 3
        print(String(format: "DataTokenizerTests: warm cache %.0f tokens/s", Double(ids.count) / sec))
        XCTAssertEqual(tok.decode(ids), text)
        XCTAssertEqual(ids, try TokenizerFixtures.smolLM2().encode(text))
    }

    /// Llama 3's and Qwen2's pre-tokenizer (Split on their regex, then ByteLevel without its own regex): small BPEs
    /// trained by `tokenizers` with exactly that pipeline (make_split_fixtures.py) give `tokenizers`' ids on every
    /// corpus item; GGUF's names for the two select the same splits.
    func testLlama3AndQwen2SplitsMatchTokenizers() throws {
        let corpus = try TokenizerFixtures.corpus()
        let expected = try TokenizerFixtures.json("split_expected.json")
        for (name, kind, gguf) in [("llama3", PreTokenizerKind.llama3, "llama-bpe"), ("qwen2", .qwen2, "qwen2")] {
            let tok = try BPETokenizer(tokenizerJSON: try TokenizerFixtures.url("\(name)_tokenizer.json"))
            XCTAssertEqual(tok.preTokenizerKind, kind)
            XCTAssertEqual(try PreTokenizerKind(ggufName: gguf), kind)
            let ids = try TokenizerFixtures.ids((expected[name] as? [String: Any])?["ids"])
            assertMatches(tok, corpus, ids, name)
        }
    }

    /// SentencePiece-style vocabularies (Gemma's kind: BPE by score, byte fallback, "▁" for spaces; and Llama 2's,
    /// with a space prefix; made by make_spm_fixtures.py): from the GGUFs llama.cpp's converter wrote, llama.cpp's ids
    /// on every corpus item; from tokenizer.json, `tokenizers`' ids; decoding gives the text back.
    func testSentencePieceVocabulariesMatchLlamaCppAndTokenizers() throws {
        let corpus = try TokenizerFixtures.corpus()
        let expected = try TokenizerFixtures.json("spm_expected.json")
        let file = try GGUFFile(path: try TokenizerFixtures.url("spm_gemma.gguf").path)
        let fromGGUF = try SentencePieceTokenizer(gguf: file)
        XCTAssertEqual(fromGGUF.vocabularySize, 1500)
        XCTAssertEqual(fromGGUF.specialIDs, SpecialTokenIDs(bos: 2, eos: 1, unk: 3, pad: 0))
        assertMatches(fromGGUF, corpus, try TokenizerFixtures.ids(expected["gguf"]), "GGUF (llama.cpp)")
        // Llama 2's kind: a space before the text and after every special token (GGUF add_space_prefix)
        let llama = try SentencePieceTokenizer(gguf: try GGUFFile(path: try TokenizerFixtures.url("spm_llama.gguf").path))
        XCTAssertEqual(llama.specialIDs.bos, 1)
        assertMatches(llama, corpus, try TokenizerFixtures.ids(expected["gguf_llama"]), "GGUF with a space prefix (llama.cpp)")
        let fromJSON = try BPETokenizer.load(tokenizerJSON: try TokenizerFixtures.url("spm_gemma_tokenizer.json"))
        XCTAssertTrue(fromJSON is SentencePieceTokenizer)
        XCTAssertEqual(fromJSON.specialID("<start_of_turn>"), 4, "an added token is split out of text")
        assertMatches(fromJSON, corpus, try TokenizerFixtures.ids(expected["hf"]), "tokenizer.json (tokenizers)")
        var lost = 0
        for s in corpus where fromGGUF.decode(fromGGUF.encode(s)) != s { lost += 1 }
        XCTAssertEqual(lost, 0, "decode(encode(text)) must give the text back")
        // a character the vocabulary lacks comes out as its UTF-8 bytes, and back
        let rare = "\u{10348} ok"
        let ids = fromGGUF.encode(rare)
        XCTAssertTrue(ids.prefix(4).allSatisfy { fromGGUF.tokens[Int($0)].hasPrefix("<0x") }, "\(ids)")
        XCTAssertEqual(fromGGUF.decode(ids), rare)
    }

    /// A model that expects BOS (SentencePiece GGUFs by default, as llama.cpp; the file's add_bos_token otherwise) gets
    /// it before plain text and prompts; the sample's byte-level tokenizer says no, and gets none.
    func testBOSGoesBeforeTextAndPromptsWhenTheModelExpectsIt() throws {
        let spmTok = try SentencePieceTokenizer(gguf: try GGUFFile(path: try TokenizerFixtures.url("spm_gemma.gguf").path))
        XCTAssertTrue(spmTok.addsBOS)
        let dir = NSTemporaryDirectory() + "bos-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, line) in [("pc", "{\"prompt\": \"Lamp hours?\", \"completion\": \" 13\"}"), ("text", "{\"text\": \"The gallery was swept.\"}")] {
            let file = URL(fileURLWithPath: dir + "/\(name).jsonl")
            try Data((line + "\n").utf8).write(to: file)
            let set = try Dataset.load(url: file, tokenizer: spmTok, template: .gemma, maxLength: 64)
            XCTAssertEqual(set.examples.first?.ids.first, 2, "\(name): BOS first")
        }
        XCTAssertFalse(try TokenizerFixtures.smolLM2().addsBOS)
    }
}
