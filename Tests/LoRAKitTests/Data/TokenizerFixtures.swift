import Foundation
import XCTest
@testable import LoRAKit

/// The committed SmolLM2 tokenizer fixtures (made by Fixtures/tokenizer/make_tokenizer_fixtures.py), loaded once.
enum TokenizerFixtures {
    static let directory: URL? = Bundle.module.url(forResource: "Fixtures", withExtension: nil)?.appendingPathComponent("tokenizer")

    static func url(_ name: String) throws -> URL {
        let dir = try XCTUnwrap(directory, "Fixtures folder missing from the test bundle")
        return dir.appendingPathComponent(name)
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: try url(name))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any], "\(name) is not a JSON object")
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var cached: BPETokenizer?

    /// SmolLM2's tokenizer from the committed tokenizer.json.
    static func smolLM2() throws -> BPETokenizer {
        lock.lock()
        defer { lock.unlock() }
        if let t = cached { return t }
        let t0 = Date()
        let t = try BPETokenizer(tokenizerJSON: try url("tokenizer.json"))
        print(String(format: "TokenizerFixtures: SmolLM2 tokenizer.json loaded in %.2f s", Date().timeIntervalSince(t0)))
        cached = t
        return t
    }

    static func corpus() throws -> [String] {
        try XCTUnwrap(try json("corpus.json")["items"] as? [String])
    }

    static func ids(_ any: Any?) throws -> [[Int32]] {
        let lists = try XCTUnwrap(any as? [[NSNumber]], "expected a list of id lists")
        return lists.map { $0.map(\.int32Value) }
    }
}
