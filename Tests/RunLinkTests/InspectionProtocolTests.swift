import Foundation
import LoRAKit
import XCTest
@testable import RunLink

/// The update inspection travels to attached viewers: in the state message and as `inspection` events, with keys as
/// docs/PROTOCOL.md lists them, and a state without one (an older server, the PyTorch one) still decodes.
final class InspectionProtocolTests: XCTestCase {
    func sample(step: Int) -> UpdateInspection {
        let m = ModuleInspection(name: "model.layers.2.mlp.down_proj", rank: 4, inFeatures: 128, outFeatures: 64,
                                 singularValues: [0.5, 0.25, 0.1, 0], baseNorm: 10, gradNormA: 0.3, gradNormB: 0.4,
                                 quantError: 0.1)
        return UpdateInspection(step: step, rank: 4, alpha: 8, rsLoRA: true, storage: "nf4+dq", modules: [m], seconds: 0.01)
    }

    func testStateAndEventsCarryTheInspection() throws {
        var s = Snapshot()
        s.step = 7
        s.inspection = sample(step: 7)
        let line = try WireCoding.line(SnapshotCodec.state(s, memory: nil))
        let text = String(decoding: line, as: UTF8.self)
        for key in ["\"inspection\":", "\"rslora\":true", "\"singular_values\":", "\"effective_rank90\":2",
                    "\"grad_norm_a\":", "\"quant_error\":", "\"suggested_rank\":", "\"in_features\":128"] {
            XCTAssertTrue(text.contains(key), "\(key) in \(text)")
        }
        let state = try WireCoding.decoder().decode(StateMessage.self, from: Data(line.dropLast()))
        var mirror = SnapshotMirror()
        mirror.apply(state)
        XCTAssertEqual(mirror.snapshot.inspection, sample(step: 7))
        XCTAssertEqual(mirror.snapshot.inspection?.modules.first?.relativeSize ?? 0, 0.05679, accuracy: 1e-4)

        var e = SnapshotCodec.event(.inspection(sample(step: 9)), seq: state.seq + 1)
        let eline = try WireCoding.line(e)
        e = try WireCoding.decoder().decode(EventMessage.self, from: Data(eline.dropLast()))
        XCTAssertEqual(e.type, "inspection")
        XCTAssertTrue(mirror.apply(e))
        XCTAssertEqual(mirror.snapshot.inspection?.step, 9)
    }

    func testAStateWithoutAnInspectionDecodes() throws {
        let line = try WireCoding.line(SnapshotCodec.state(Snapshot(), memory: nil))
        XCTAssertFalse(String(decoding: line, as: UTF8.self).contains("inspection"))
        let state = try WireCoding.decoder().decode(StateMessage.self, from: Data(line.dropLast()))
        var mirror = SnapshotMirror()
        mirror.apply(state)
        XCTAssertNil(mirror.snapshot.inspection)
    }
}
