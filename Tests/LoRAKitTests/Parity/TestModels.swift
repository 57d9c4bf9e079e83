import Foundation
import XCTest
@testable import LoRAKit

/// Where tests find the sample model and the fixtures.
enum TestModels {
    /// The committed fixtures folder.
    static var fixtures: URL {
        Bundle.module.url(forResource: "Fixtures", withExtension: nil) ?? URL(fileURLWithPath: "Tests/LoRAKitTests/Fixtures")
    }

    /// The fixtures folder in the source tree (where LORATOP_WRITE_FIXTURES=1 writers write).
    static var sourceFixtures: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    }

    /// The sample GGUF from the cache (`loratop fetch-model`); in CI a missing model is a failure, elsewhere a skip.
    static func smollm2Path() throws -> String {
        if let p = try SampleModel.smollm2.installedPath() { return p }
        if ProcessInfo.processInfo.environment["CI"] != nil {
            XCTFail("the sample model is missing in CI; .ci/test runs `loratop fetch-model smollm2` first")
        }
        throw XCTSkip("sample model not in the cache; run `loratop fetch-model smollm2`")
    }

    /// SmolLM2 with an fp32 base, loaded once per test process.
    nonisolated(unsafe) private static var cachedDense: LlamaModel?
    static func smollm2Dense() throws -> LlamaModel {
        if let m = cachedDense { return m }
        let m = try LlamaModel(source: try loadWeights(path: try smollm2Path()), storage: { DenseMatrix($1) })
        cachedDense = m
        return m
    }

    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: fixtures.appendingPathComponent(relative))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }
}
