import Foundation
import XCTest
@testable import LoRAKit

/// Shared helpers for the Formats tests.
enum FormatsFixtures {
    static var folder: String {
        (Bundle.module.url(forResource: "Fixtures", withExtension: nil)?.path ?? "Fixtures") + "/formats"
    }

    static func path(_ name: String) -> String { folder + "/" + name }

    static func floats(_ name: String) throws -> [Float] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(name)))
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    static func json(_ name: String) throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(name)))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    /// The real sample GGUF: $LORATOP_SAMPLE_MODEL, the loratop cache, or the reference copy; nil when absent.
    static var sampleModel: String? {
        let env = ProcessInfo.processInfo.environment
        var candidates = [SampleModel.smollm2.cachedPath()]
        if let p = env["LORATOP_SAMPLE_MODEL"] { candidates.insert(p, at: 0) }
        candidates.append(NSHomeDirectory() + "/.cache/loratop-ref/models/SmolLM2-135M-Instruct.Q4_1.gguf")
        return candidates.first { FileManager.default.fileExists(atPath: $0) }
    }

    /// A fresh empty temp folder.
    static func tempFolder() throws -> String {
        let p = NSTemporaryDirectory() + "loratop-formats-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: p, withIntermediateDirectories: true)
        return p
    }

    static func sha(_ v: [Float]) -> String {
        var h = SHA256()
        h.update(v)
        return h.finalizeHex()
    }
}
