import Foundation
import XCTest

/// What the command line says when it is used wrongly: a misspelt command gets the nearest one, and a bad or
/// missing option of a subcommand points at that subcommand's help.
final class CommandLineMessageTests: XCTestCase {
    private func run(_ args: [String]) throws -> (code: Int32, errors: String) {
        let r = try BinaryRunner(args)
        r.closeInput()
        let code = try r.waitForExit()
        return (code, r.errors)
    }

    func testAMisspeltCommandGetsTheNearestOne() throws {
        let r = try run(["trian", "--data", "x"])
        XCTAssertEqual(r.code, 64)
        XCTAssertTrue(r.errors.contains("unknown command `trian`; did you mean `loratop train`?"), r.errors)
        let far = try run(["zzzzzzzz"])
        XCTAssertEqual(far.code, 64)
        XCTAssertTrue(far.errors.contains("unknown command `zzzzzzzz`"), far.errors)
        XCTAssertFalse(far.errors.contains("did you mean"), far.errors)
        XCTAssertTrue(far.errors.contains("the commands: train, resume"), far.errors)
    }

    func testSubcommandErrorsPointAtTheSubcommandsHelp() throws {
        let none = try run(["train"])
        XCTAssertEqual(none.code, 64)
        XCTAssertTrue(none.errors.contains("--data: a training data file is required"), none.errors)
        XCTAssertTrue(none.errors.contains("See 'loratop train --help'"), none.errors)
        XCTAssertTrue(none.errors.contains("Usage: loratop train"), none.errors)
        let quant = try run(["train", "--data", "sample-data/logbook.txt", "--quant", "q9"])
        XCTAssertEqual(quant.code, 64)
        XCTAssertTrue(quant.errors.contains("--quant: expected none, int8, fp4, nf4 or source, found `q9`"), quant.errors)
        XCTAssertTrue(quant.errors.contains("See 'loratop train --help'"), quant.errors)
    }

    /// A bad value from the `--config` file is reported as the file's key, with the file's name and no usage text; the
    /// same value given as a flag is still the flag's error.
    func testAYAMLValueIsReportedAsTheFilesKey() throws {
        let dir = NSTemporaryDirectory() + "loratop-yaml-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let yaml = dir + "/run.yaml"
        try "base_model: preset:tiny\ndatasets: sample-data/logbook.txt\nmicro_batch_size: 65536\n".write(toFile: yaml, atomically: true, encoding: .utf8)
        var r = try run(["train", "--config", yaml, "--headless", "--output", dir + "/out"])
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.errors.contains("\(yaml): micro_batch_size: expected 1…4096, found 65536"), r.errors)
        XCTAssertFalse(r.errors.contains("--batch-size:") || r.errors.contains("Usage:"), r.errors)
        r = try run(["train", "--config", yaml, "--batch-size", "65536", "--headless", "--output", dir + "/out"])
        XCTAssertTrue(r.errors.contains("--batch-size: expected 1…4096, found 65536"), "the flag's own value: \(r.errors)")
    }
}
