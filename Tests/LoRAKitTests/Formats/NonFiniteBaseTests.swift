import Foundation
import XCTest
@testable import LoRAKit

/// A base model file holding a NaN or an infinity is refused when it loads, naming the file, the tensor and where in
/// it: training on it would give a NaN loss from the first step (it trained silently, writing NaN checkpoints).
final class NonFiniteBaseTests: XCTestCase {
    /// The tiny LLaMA parity folder, copied with `edit` applied to its tensors and written in `dtype`.
    private func folder(dtype: SafetensorsDType, _ edit: (String, inout [Float]) -> Void) throws -> String {
        let dir = try FormatsFixtures.tempFolder()
        let src = TestModels.fixtures.appendingPathComponent("parity/tiny-llama-hf").path
        try FileManager.default.copyItem(atPath: src + "/config.json", toPath: dir + "/config.json")
        let file = try SafetensorsFile(path: src + "/model.safetensors")
        var w = SafetensorsWriter()
        for t in file.tensors {
            var values = try file.floats(t.name)
            edit(t.name, &values)
            try w.add(name: t.name, shape: t.shape, values: values, dtype: dtype)
        }
        try w.write(to: dir + "/model.safetensors")
        return dir
    }

    func testANaNOrInfinityInAMatrixIsRefusedWithTheTensorAndItsPlace() throws {
        let down = "model.layers.1.mlp.down_proj.weight"
        for dtype in [SafetensorsDType.f32, .f16, .bf16] {
            for bad in [Float.nan, -.infinity] {
                var cols = 0
                let dir = try folder(dtype: dtype) { name, v in
                    if name == down { cols = v.count; v[v.count - 5] = bad }
                }
                defer { try? FileManager.default.removeItem(atPath: dir) }
                let source = try loadWeights(path: dir)
                let shape = try source.matrix(down)
                XCTAssertEqual(shape.count, cols)
                XCTAssertThrowsError(try LlamaModel(source: source)) { e in
                    let text = "\(e)"
                    let word = bad.isNaN ? "nan" : "-inf"
                    XCTAssertTrue(text.hasPrefix(dir), text)
                    XCTAssertTrue(text.contains(down), text)
                    XCTAssertTrue(text.contains("\(word) at row \(shape.rows - 1), column \(shape.cols - 5) of [\(shape.rows), \(shape.cols)]"),
                                  "\(dtype) \(bad): \(text)")
                    XCTAssertTrue(text.contains("hint:"), text)
                }
            }
        }
    }

    func testANaNInANormIsRefusedAndAFiniteFolderStillLoads() throws {
        let norm = "model.layers.0.post_attention_layernorm.weight"
        let dir = try folder(dtype: .f32) { name, v in if name == norm { v[2] = .infinity } }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertThrowsError(try LlamaModel(source: try loadWeights(path: dir))) { e in
            XCTAssertTrue("\(e)".contains("\(norm): holds a non-finite weight (inf at element 2 of"), "\(e)")
        }
        let clean = try folder(dtype: .f32) { _, _ in }
        defer { try? FileManager.default.removeItem(atPath: clean) }
        XCTAssertNoThrow(try LlamaModel(source: try loadWeights(path: clean)))
    }

    func testTheScanFindsTheFirstInRowMajorOrderWhateverTheSplit() {
        let rows = 37, cols = 11
        for threads in [1, 2, 3] {
            let saved = Parallel.threads
            Parallel.threads = threads
            defer { Parallel.threads = saved }
            var v = [Float](repeating: 0.5, count: rows * cols)
            XCTAssertNil(DenseMatrix(rows: rows, cols: cols, values: v).firstNonFinite())
            v[30 * cols + 4] = .nan
            v[20 * cols + 9] = .infinity
            let hit = DenseMatrix(rows: rows, cols: cols, values: v).firstNonFinite()
            XCTAssertEqual(hit?.row, 20)
            XCTAssertEqual(hit?.col, 9)
            XCTAssertEqual(hit?.value, .infinity)
        }
        // Every position of a long array, across the kernel's 1024-element blocks.
        var long = [Float](repeating: -3, count: 5000)
        for i in [0, 1023, 1024, 2047, 4999] {
            long[i] = .nan
            XCTAssertEqual(Finite.firstNonFinite(long)?.index, i)
            long[i] = Float.greatestFiniteMagnitude
            XCTAssertNil(Finite.firstNonFinite(long))
        }
    }
}
