import Foundation
import XCTest
@testable import LoRAKit

extension XCTestCase {
    /// Options for the tiny random preset on a file of `sample-data`, batches of 2, in a fresh output folder that the
    /// test's teardown removes.
    func tinyRunOptions(data: String = "logbook.txt", seqLen: Int = 32, steps: Int) -> RunOptions {
        var o = RunOptions()
        o.model = "preset:tiny"
        o.data = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("sample-data/" + data).path
        o.seqLen = seqLen
        o.batchSize = 2
        o.maxSteps = steps
        o.output = NSTemporaryDirectory() + "loratop-tiny-\(UUID().uuidString)"
        let output = o.output
        addTeardownBlock { try? FileManager.default.removeItem(atPath: output) }
        return o
    }
}
