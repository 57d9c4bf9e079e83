import Foundation
import XCTest

/// A FIFO (or any non-regular file) given where a file is expected is refused at once, naming it and what it is,
/// instead of blocking forever in `open` waiting for a writer.
final class FIFOInputTests: XCTestCase {
    private var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "loratop-fifo-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    private func fifo(_ name: String) throws -> String {
        let path = dir + "/" + name
        guard mkfifo(path, 0o600) == 0 else { throw XCTSkip("mkfifo: \(String(cString: strerror(errno)))") }
        return path
    }

    /// Runs loratop with `args`; it must end within 20 s (a blocked open never would).
    private func refuse(_ args: [String], naming path: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let r = try BinaryRunner(args)
        r.closeInput()
        let code = try r.waitForExit(timeout: 20)
        XCTAssertNotEqual(code, 0, r.errors, file: file, line: line)
        XCTAssertTrue(r.errors.contains(path) && r.errors.contains("FIFO"), "\(args): \(r.errors)", file: file, line: line)
    }

    func testFIFOsAsModelDataConfigAndAdapterAreRefused() throws {
        let out = dir + "/out"
        let model = try fifo("model.gguf")
        try refuse(["train", "--model", model, "--data", "sample-data/logbook.txt", "--headless", "--output", out], naming: model)
        let data = try fifo("data.jsonl")
        try refuse(["train", "--preset", "tiny", "--data", data, "--headless", "--output", out], naming: data)
        let config = try fifo("run.yaml")
        try refuse(["train", "--config", config, "--headless", "--output", out], naming: config)
        let adapter = dir + "/adapter"
        try FileManager.default.createDirectory(atPath: adapter, withIntermediateDirectories: true)
        let cfg = try fifo("adapter/adapter_config.json")
        try refuse(["inspect", adapter], naming: cfg)
        let hf = dir + "/hf"
        try FileManager.default.createDirectory(atPath: hf, withIntermediateDirectories: true)
        let hfConfig = try fifo("hf/config.json")
        try refuse(["train", "--model", hf, "--data", "sample-data/logbook.txt", "--headless", "--output", out], naming: hfConfig)
    }
}
