import Foundation
import XCTest
@testable import LoRAKit

/// The committed sample-data/ files load with SmolLM2's tokenizer and stay short.
final class DataSampleDataTests: XCTestCase {
    private var sampleData: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("sample-data")
    }

    func testChatTaskSplitsLoadShortAndHeldOut() throws {
        let tok = try TokenizerFixtures.smolLM2()
        let trainFile = try DatasetFile(url: sampleData.appendingPathComponent("tags-train.jsonl"))
        let evalFile = try DatasetFile(url: sampleData.appendingPathComponent("tags-eval.jsonl"))
        XCTAssertEqual(trainFile.format, .chat)
        XCTAssertTrue((400...800).contains(trainFile.records.count), "\(trainFile.records.count)")
        XCTAssertTrue((50...100).contains(evalFile.records.count), "\(evalFile.records.count)")
        let train = try Dataset.load(trainFile, tokenizer: tok, template: .smolLM2, maxLength: 129)
        XCTAssertEqual(train.stats.truncated, 0)
        XCTAssertLessThan(train.stats.longest, 128)
        let evals = try EvalExample.extract(from: evalFile)
        XCTAssertEqual(evals.count, evalFile.records.count)
        let trainAnswers = Set(try EvalExample.extract(from: trainFile).map { ExactMatch.normalize($0.reference) })
        for e in evals {
            XCTAssertFalse(e.reference.isEmpty)
            XCTAssertFalse(trainAnswers.contains(ExactMatch.normalize(e.reference)), "eval answer \(e.reference) also in train")
        }
        print("DataSampleDataTests: train \(train.stats.examples) examples, \(train.stats.tokens) tokens, longest \(train.stats.longest)")
    }

    func testLogbookLoadsAsPlainText() throws {
        let tok = try TokenizerFixtures.smolLM2()
        let url = sampleData.appendingPathComponent("logbook.txt")
        let size = try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber).intValue
        XCTAssertLessThan(size, 400_000)
        let t0 = Date()
        let ds = try Dataset.load(url: url, tokenizer: tok, template: .smolLM2, maxLength: 129)
        let sec = Date().timeIntervalSince(t0)
        XCTAssertEqual(ds.format, .plainText)
        XCTAssertGreaterThan(ds.examples.count, 100)
        print(String(format: "DataSampleDataTests: logbook %d bytes -> %d tokens, %d windows in %.2f s", size, ds.stats.longest, ds.examples.count, sec))
    }
}
