import Foundation
import XCTest

/// A bad `--data` / `--eval-data` path is reported before anything slow (the model is not even opened), naming the
/// path and what is wrong with it, and the command fails.
final class DataPathErrorTests: XCTestCase {
    private func run(_ extra: [String]) throws -> (code: Int32, errors: String) {
        // a model that does not exist: had it been opened first, the error would name it instead of the data
        let r = try BinaryRunner(["train", "--model", "/nonexistent/model.gguf", "--headless", "--output",
                                  NSTemporaryDirectory() + "loratop-datapath-\(UUID().uuidString)"] + extra)
        r.closeInput()
        let code = try r.waitForExit()
        return (code, r.errors)
    }

    func testAFolderGivenAsDataIsNamedAsAFolder() throws {
        let r = try run(["--data", "sample-data"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.errors.contains("sample-data: is a folder; expected a .txt or .jsonl file"), r.errors)
        XCTAssertFalse(r.errors.contains("NSCocoaErrorDomain"), r.errors)
        XCTAssertFalse(r.errors.contains("model.gguf:"), "the data is checked before the model: \(r.errors)")
    }

    func testMissingDataAndEvalFilesAreReportedBeforeTheModelLoads() throws {
        let missing = try run(["--data", "sample-data/no-such.jsonl"])
        XCTAssertNotEqual(missing.code, 0)
        XCTAssertTrue(missing.errors.contains("sample-data/no-such.jsonl: no such file"), missing.errors)
        XCTAssertFalse(missing.errors.contains("model.gguf:"), missing.errors)
        let eval = try run(["--data", "sample-data/tags-train.jsonl", "--eval-data", "sample-data"])
        XCTAssertNotEqual(eval.code, 0)
        XCTAssertTrue(eval.errors.contains("sample-data: is a folder"), eval.errors)
    }
}
