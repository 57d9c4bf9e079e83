import Foundation
import XCTest
@testable import LoRAKit

final class DataDatasetTests: XCTestCase {
    private var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("loratop-data-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    private func write(_ name: String, _ text: String) throws -> URL {
        try write(name, Array(text.utf8))
    }

    private func write(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    private let tok = ByteTokenizer()

    private func load(_ url: URL, maxLength: Int = 256) throws -> Dataset {
        try Dataset.load(url: url, tokenizer: tok, template: .chatML, maxLength: maxLength)
    }

    /// The error thrown by `body`, as text.
    private func errorText(_ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) -> String {
        do {
            try body()
            XCTFail("expected an error", file: file, line: line)
            return ""
        } catch {
            return "\(error)"
        }
    }

    func testEachFormatTokenizesWithItsMask() throws {
        let text = try load(try write("t.jsonl", "{\"text\": \"ab\"}\n\n{\"text\": \"c\"}\n"))
        XCTAssertEqual(text.format, .text)
        XCTAssertEqual(text.examples[0], TokenizedExample(ids: [97, 98, 258], trained: [true, true, true]))
        XCTAssertEqual(text.examples.count, 2)

        let pc = try load(try write("pc.jsonl", "{\"prompt\": \"Q\", \"completion\": \"A\"}\r\n"))
        XCTAssertEqual(pc.format, .promptCompletion)
        XCTAssertEqual(pc.examples[0], TokenizedExample(ids: [81, 65, 258], trained: [false, true, true]))

        let chatLine = "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}, {\"role\": \"assistant\", \"content\": \"yo\"}]}"
        let chat = try load(try write("c.jsonl", chatLine + "\n"))
        XCTAssertEqual(chat.format, .chat)
        let want = ChatTemplate.chatML.encode([ChatMessage(role: "user", content: "hi"), ChatMessage(role: "assistant", content: "yo")],
                                              addGenerationPrompt: false, tokenizer: tok)
        XCTAssertEqual(chat.examples[0], want)
        XCTAssertEqual(chat.stats.trainedTokens, 3)  // "yo<|im_end|>"

        let alpaca = try load(try write("a.jsonl", "{\"instruction\": \"I\", \"input\": \"X\", \"output\": \"O\"}\n{\"instruction\": \"J\", \"output\": \"P\"}\n"))
        XCTAssertEqual(alpaca.format, .alpaca)
        XCTAssertEqual(tok.decode(alpaca.examples[0].ids), "<|im_start|>user\nI\n\nX<|im_end|>\n<|im_start|>assistant\nO<|im_end|>\n")
        XCTAssertEqual(tok.decode(alpaca.examples[1].ids), "<|im_start|>user\nJ<|im_end|>\n<|im_start|>assistant\nP<|im_end|>\n")
        XCTAssertEqual(tok.decode(zip(alpaca.examples[0].ids, alpaca.examples[0].trained).filter { $0.1 }.map(\.0)), "O<|im_end|>")
    }

    func testPlainTextIsCutIntoOverlappingWindows() throws {
        let url = try write("corpus.txt", "0123456789")
        let ds = try load(url, maxLength: 4)
        XCTAssertEqual(ds.format, .plainText)
        XCTAssertEqual(ds.examples.map(\.ids), [[48, 49, 50, 51], [51, 52, 53, 54], [54, 55, 56, 57]])
        // Every token after the first is a target exactly once.
        XCTAssertEqual(ds.examples.reduce(0) { $0 + $1.trainedCount }, 9)
        XCTAssertEqual(ds.stats.truncated, 0)
        // A .txt file is text even when it starts with "{".
        XCTAssertEqual(try load(try write("brace.txt", "{not json}")).format, .plainText)
        // A UTF-8 byte-order mark is dropped.
        XCTAssertEqual(try load(try write("bom.txt", [0xEF, 0xBB, 0xBF] + Array("ab".utf8))).examples[0].ids, [97, 98])
    }

    func testTruncationAndDropsAreCounted() throws {
        let lines = [
            "{\"prompt\": \"short\", \"completion\": \"ok\"}",
            "{\"prompt\": \"0123456789\", \"completion\": \"answer\"}",      // prompt alone fills maxLength: dropped
            "{\"prompt\": \"p\", \"completion\": \"a long completion\"}",   // truncated, still trained
        ]
        let ds = try load(try write("t.jsonl", lines.joined(separator: "\n")), maxLength: 10)
        XCTAssertEqual(ds.stats.truncated, 2)
        XCTAssertEqual(ds.stats.dropped, 1)
        XCTAssertEqual(ds.stats.examples, 2)
        XCTAssertEqual(ds.stats.longest, 19)  // "p" + 17 bytes + eos
        XCTAssertTrue(ds.examples.allSatisfy { $0.ids.count <= 10 })
        let none = errorText { _ = try self.load(try self.write("n.jsonl", lines[1]), maxLength: 10) }
        XCTAssertTrue(none.contains("no example keeps a trained token"), none)
    }

    func testMalformedFilesNameFileLineExpectedAndFound() throws {
        var e = errorText { _ = try DatasetFile(url: try self.write("empty.jsonl", "")) }
        XCTAssertTrue(e.contains("empty.jsonl: the file is empty") && e.contains("hint:"), e)
        e = errorText { _ = try DatasetFile(url: try self.write("blank.jsonl", "\n  \n")) }
        XCTAssertTrue(e.contains("the file is empty"), e)

        e = errorText { _ = try DatasetFile(url: try self.write("missing.jsonl", "{\"prompt\": \"a\", \"completion\": \"b\"}\n{\"prompt\": \"a\"}\n")) }
        XCTAssertTrue(e.contains("missing.jsonl:2: missing key \"completion\"") && e.contains("[\"prompt\"]"), e)

        e = errorText { _ = try DatasetFile(url: try self.write("utf.jsonl", Array("{\"text\": \"a\"}\n\n".utf8) + [0x7B, 0x22, 0xFF, 0x22, 0x7D, 0x0A])) }
        XCTAssertTrue(e.contains("utf.jsonl:3: not valid UTF-8") && e.contains("0xFF") && e.contains("column 3"), e)

        e = errorText { _ = try DatasetFile(url: try self.write("utf.txt", Array("line one\nline two\nbad ".utf8) + [0xC3])) }
        XCTAssertTrue(e.contains("utf.txt:3: not valid UTF-8") && e.contains("0xC3"), e)

        e = errorText { _ = try DatasetFile(url: try self.write("notjson.jsonl", "{\"text\": \"a\"}\n{text: b}\n")) }
        XCTAssertTrue(e.contains("notjson.jsonl:2: not JSON") && e.contains("{text: b}"), e)

        e = errorText { _ = try DatasetFile(url: try self.write("arr.jsonl", "[1, 2]\n")) }
        XCTAssertTrue(e.contains("arr.jsonl:1: not a JSON object") && e.contains("an array"), e)

        e = errorText { _ = try DatasetFile(url: try self.write("mixed.jsonl", "{\"text\": \"a\"}\n{\"text\": \"b\"}\n{\"prompt\": \"p\", \"completion\": \"c\"}\n")) }
        XCTAssertTrue(e.contains("mixed.jsonl:3: mixed formats") && e.contains("line 1"), e)

        e = errorText { _ = try DatasetFile(url: try self.write("type.jsonl", "{\"text\": 5}\n")) }
        XCTAssertTrue(e.contains("type.jsonl:1: \"text\" is not a string") && e.contains("a number"), e)

        e = errorText { _ = try DatasetFile(url: try self.write("role.jsonl", "{\"messages\": [{\"role\": \"bot\", \"content\": \"x\"}]}\n")) }
        XCTAssertTrue(e.contains("role.jsonl:1: messages[0].role is unknown") && e.contains("\"bot\""), e)

        e = errorText { _ = try DatasetFile(url: try self.write("noasst.jsonl", "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\n")) }
        XCTAssertTrue(e.contains("noasst.jsonl:1: no assistant message"), e)

        e = errorText { _ = try DatasetFile(url: try self.write("keys.jsonl", "{\"question\": \"x\"}\n")) }
        XCTAssertTrue(e.contains("keys.jsonl:1: unknown example shape") && e.contains("question"), e)

        e = errorText { _ = try DatasetFile(url: self.dir.appendingPathComponent("nope.jsonl")) }
        XCTAssertTrue(e.contains("nope.jsonl: no such file"), e)
    }

    func testSeededSplitIsDisjointAndRepeatable() throws {
        let lines = (0..<50).map { "{\"text\": \"example \($0)\"}" }.joined(separator: "\n")
        let ds = try load(try write("s.jsonl", lines))
        let (train, eval) = ds.split(evalFraction: 0.1, seed: 3)
        XCTAssertEqual(eval.examples.count, 5)
        XCTAssertEqual(train.examples.count, 45)
        XCTAssertEqual(Set((train.examples + eval.examples).map(\.ids)).count, 50)
        XCTAssertEqual(ds.split(evalFraction: 0.1, seed: 3).eval.examples, eval.examples)
        XCTAssertNotEqual(ds.split(evalFraction: 0.1, seed: 4).eval.examples, eval.examples)
        XCTAssertEqual(train.stats.examples, 45)
        // Each example keeps the line it came from (1-based), through the split.
        XCTAssertEqual(ds.lines, Array(1...50))
        XCTAssertEqual(Set(train.lines).union(eval.lines), Set(1...50))
        for (ex, line) in zip(eval.examples, eval.lines) { XCTAssertEqual(ex, ds.examples[line - 1]) }
    }
}

final class DataBatchLoaderTests: XCTestCase {
    private func examples(_ n: Int) -> [TokenizedExample] {
        (0..<n).map { i in
            let ids = (0...(i % 5 + 1)).map { Int32(i * 10 + $0) }
            return TokenizedExample(ids: ids, trained: ids.indices.map { $0 % 2 == 0 })
        }
    }

    func testBatchShiftsTargetsAndMasksPadding() {
        let ex = TokenizedExample(ids: [5, 6, 7, 8], trained: [false, false, true, true])
        let long = TokenizedExample(ids: [1, 2, 3, 4, 5, 6], trained: [true, true, true, true, true, true])
        let b = BatchLoader.batch([ex, long], batchSize: 3, seqLen: 5, padID: 99)
        XCTAssertEqual(b.inputs, [5, 6, 7, 99, 99,
                                  1, 2, 3, 4, 5,
                                  99, 99, 99, 99, 99])
        let I = Batch.ignore
        XCTAssertEqual(b.targets, [I, 7, 8, I, I,
                                   2, 3, 4, 5, 6,
                                   I, I, I, I, I])
        XCTAssertEqual(b.trainedTokens, 7)
    }

    func testResumeFromSavedPositionGivesTheSameBatches() throws {
        let data = examples(11)
        var a = BatchLoader(examples: data, batchSize: 3, seqLen: 6, padID: 0, seed: 42)
        var seen = [Batch]()
        var saved = DataPosition()
        for step in 0..<12 {
            if step == 5 { saved = a.position }
            seen.append(try XCTUnwrap(a.next()))
        }
        let json = try JSONEncoder().encode(saved)
        let restored = try JSONDecoder().decode(DataPosition.self, from: json)
        var b = BatchLoader(examples: data, batchSize: 3, seqLen: 6, padID: 0, seed: 42, position: restored)
        for step in 5..<12 { XCTAssertEqual(try XCTUnwrap(b.next()), seen[step], "batch \(step)") }
        XCTAssertEqual(a.position, b.position)
        XCTAssertGreaterThanOrEqual(a.position.epoch, 2)
    }

    func testEpochsArePermutationsThatDiffer() {
        let loader = BatchLoader(examples: examples(20), batchSize: 4, seqLen: 8, padID: 0, seed: 7)
        let e0 = loader.epochOrder(0), e1 = loader.epochOrder(1)
        XCTAssertEqual(e0.sorted(), Array(0..<20))
        XCTAssertEqual(e1.sorted(), Array(0..<20))
        XCTAssertNotEqual(e0, e1)
        XCTAssertNotEqual(e0, Array(0..<20))
        XCTAssertEqual(e0, BatchLoader(examples: examples(20), batchSize: 4, seqLen: 8, padID: 0, seed: 7).epochOrder(0))
        XCTAssertNotEqual(e0, BatchLoader(examples: examples(20), batchSize: 4, seqLen: 8, padID: 0, seed: 8).epochOrder(0))
        XCTAssertEqual(loader.batchesPerEpoch, 5)
        let flat = BatchLoader(examples: examples(3), batchSize: 2, seqLen: 4, padID: 0, seed: 7, shuffle: false)
        XCTAssertEqual(flat.epochOrder(3), [0, 1, 2])
    }

    func testSequentialBatchesCoverEveryExampleOnce() {
        let data = examples(7)
        let batches = BatchLoader.sequentialBatches(data, batchSize: 3, seqLen: 8, padID: 0)
        XCTAssertEqual(batches.count, 3)
        XCTAssertEqual(batches.reduce(0) { $0 + $1.trainedTokens }, data.reduce(0) { $0 + $1.trainedCount })
        XCTAssertTrue(batches[2].targets[8...].allSatisfy { $0 == Batch.ignore })
        var empty = BatchLoader(examples: [], batchSize: 2, seqLen: 4, padID: 0, seed: 1)
        XCTAssertNil(empty.next())
    }
}

final class DataExactMatchTests: XCTestCase {
    func testNormalisation() {
        XCTAssertTrue(ExactMatch.matches("  LT-Quiet-RIVER \n", "lt-quiet-river"))
        XCTAssertTrue(ExactMatch.matches("a \t b", "A B"))
        XCTAssertFalse(ExactMatch.matches("LT-QUIET", "LT-QUIET-RIVER"))
        XCTAssertFalse(ExactMatch.matches("ab", "a b"))
        XCTAssertEqual(ExactMatch.score(generated: ["x", "Y ", "z"], references: ["X", "y", "w"]), 2.0 / 3.0, accuracy: 1e-12)
        XCTAssertEqual(ExactMatch.score(generated: [], references: []), 0)
    }

    func testEvalExamplesFromChatAndPromptCompletion() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("loratop-em-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let chat = dir.appendingPathComponent("c.jsonl")
        try Data("""
        {"messages": [{"role": "user", "content": "1+1?"}, {"role": "assistant", "content": "2"}, {"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]}

        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
        """.utf8).write(to: chat)
        let ex = try EvalExample.extract(from: try DatasetFile(url: chat))
        XCTAssertEqual(ex.count, 2)
        XCTAssertEqual(ex[0].reference, "4")
        XCTAssertEqual(ex[0].prompt, .chat([ChatMessage(role: "user", content: "1+1?"), ChatMessage(role: "assistant", content: "2"),
                                            ChatMessage(role: "user", content: "2+2?")]))
        XCTAssertEqual(ex[1].line, 3)
        let tok = ByteTokenizer()
        XCTAssertEqual(tok.decode(ex[1].promptIDs(template: .smolLM2, tokenizer: tok)),
                       "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\n")

        let pc = dir.appendingPathComponent("p.jsonl")
        try Data("{\"prompt\": \"Q: \", \"completion\": \"A\"}\n".utf8).write(to: pc)
        let p = try EvalExample.extract(from: try DatasetFile(url: pc))
        XCTAssertEqual(p, [EvalExample(prompt: .raw("Q: "), reference: "A", line: 1)])

        let txt = dir.appendingPathComponent("t.txt")
        try Data("just text".utf8).write(to: txt)
        XCTAssertThrowsError(try EvalExample.extract(from: try DatasetFile(url: txt)))
    }
}
