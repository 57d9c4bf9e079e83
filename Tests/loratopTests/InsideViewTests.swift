@testable import LoRAKit
import TerminalUI
import XCTest
@testable import loratop

/// The Inside panel rendered into the text backend at 80×24, 120×40 and small sizes, in Unicode, ASCII and without
/// colour; the keys that drive it; and the requests a visible panel sends.
final class InsideViewTests: XCTestCase {
    /// SmolLM2's shape: 30 layers × 7 projections at r 16; sizes grow with depth, v and down carry most.
    static func inspection(step: Int = 120) -> UpdateInspection {
        var modules: [ModuleInspection] = []
        let shapes: [(String, String, Int, Int)] = [("q", "self_attn.q_proj", 576, 576), ("k", "self_attn.k_proj", 576, 192),
                                                   ("v", "self_attn.v_proj", 576, 192), ("o", "self_attn.o_proj", 576, 576),
                                                   ("gate", "mlp.gate_proj", 576, 1536), ("up", "mlp.up_proj", 576, 1536),
                                                   ("down", "mlp.down_proj", 1536, 576)]
        for layer in 0..<30 {
            for (i, (_, name, nIn, nOut)) in shapes.enumerated() {
                let top = 0.01 * Double(layer + 1) * (i == 2 || i == 6 ? 3 : 1)
                let sigma = (0..<16).map { top * pow(0.6, Double($0)) }
                modules.append(ModuleInspection(name: "model.layers.\(layer).\(name)", rank: 16, inFeatures: nIn,
                                                outFeatures: nOut, singularValues: sigma, baseNorm: 20, gradNormA: 0.01,
                                                gradNormB: 0.02 * Double(layer + 1), quantError: 0.09 + 0.001 * Double(i)))
            }
        }
        return UpdateInspection(step: step, rank: 16, alpha: 16, rsLoRA: false, storage: "nf4+dq", modules: modules,
                                seconds: 0.03)
    }

    static func state(visible: Bool = true) -> AppState {
        var st = AppViewTests.state()
        st.snapshot.inspection = inspection()
        st.inside.visible = visible
        return st
    }

    func render(_ st: AppState, _ w: Int, _ h: Int, ctx: ViewContext = .standard) -> [String] {
        AppView.render(st, ctx, size: Size(width: w, height: h)).lines()
    }

    func testFitsEightyByTwentyFourWithEveryLayerAndTheAdvice() {
        let lines = render(Self.state(), 80, 24)
        let text = lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("Inside: relative size ‖ΔW‖/‖W‖"), text)
        XCTAssertTrue(text.contains("step 120 · 0.03 s"), text)
        for t in ["q", "k", "v", "o", "gate", "up", "down"] {
            XCTAssertEqual(lines.filter { $0.hasPrefix("│ \(t) ") }.count, 1, "row \(t)\n\(text)")
        }
        let down = lines.first { $0.hasPrefix("│ down ") } ?? ""
        XCTAssertEqual(down.filter { "·░▒▓█".contains($0) }.count, 60, "30 layers × 2 columns\n\(text)")
        XCTAssertTrue(lines.contains { $0.contains(" 25 ") }, "layer labels every 5\n\(text)")
        XCTAssertTrue(text.contains("L0 q ‖ΔW‖"), text)
        XCTAssertTrue(text.contains("σ █"), "the spectrum sparkline starts at its top\n\(text)")
        XCTAssertTrue(text.contains("advice: r 16→"), text)
        XCTAssertTrue(lines.last?.contains("step") ?? false || lines.count == 24)
        XCTAssertEqual(lines.count, 24)
        XCTAssertTrue(lines.allSatisfy { $0.count == 80 })
    }

    func testDashboardShowsThePanelInPlaceOfTheChartAndKeepsTheSidePanels() {
        let lines = render(Self.state(), 120, 40)
        let text = lines.joined(separator: "\n")
        XCTAssertTrue(text.contains("Inside: relative size"), text)
        XCTAssertFalse(text.contains("Loss"), "the chart gives way\n\(text)")
        XCTAssertTrue(text.contains("Adapter"), text)
        XCTAssertTrue(text.contains("advice:"), text)
    }

    func testSelectionMetricsAndFallbacks() {
        var st = Self.state()
        for _ in 0..<3 { _ = reduce(&st, .key(.right)) }
        for _ in 0..<2 { _ = reduce(&st, .key(.down)) }
        XCTAssertEqual(st.inside.row, 2)
        XCTAssertEqual(st.inside.column, 3)
        XCTAssertTrue(render(st, 80, 24).joined(separator: "\n").contains("L3 v ‖ΔW‖"))
        _ = reduce(&st, .key(.char("m")))
        XCTAssertEqual(st.inside.metric, .effectiveRank)
        XCTAssertTrue(render(st, 80, 24).joined(separator: "\n").contains("of r 16"))
        _ = reduce(&st, .key(.char("m")))
        _ = reduce(&st, .key(.char("m")))
        let quant = render(st, 80, 24).joined(separator: "\n")
        XCTAssertTrue(quant.contains("Inside: quantization error"), quant)
        XCTAssertTrue(quant.contains("quant 9.2%") && quant.contains("(nf4+dq vs source)"), quant)
        // ASCII: nothing outside printable ASCII
        let ascii = ViewContext(palette: Theme.builtinDefault.palette(depth: .none), glyphs: .ascii)
        let a = render(st, 80, 24, ctx: ascii)
        XCTAssertTrue(a.allSatisfy { $0.unicodeScalars.allSatisfy { $0.value >= 32 && $0.value < 127 } },
                      a.joined(separator: "\n"))
        XCTAssertTrue(a.contains { $0.contains("@") }, "the ASCII ramp's top level shows")
        // no colour: the ramp's styles carry none
        let buf = AppView.render(st, ascii, size: Size(width: 80, height: 24))
        XCTAssertTrue((0..<24).allSatisfy { y in (0..<80).allSatisfy { x in buf[x, y].style.fg == .default } })
        // small and tiny terminals neither crash nor lose the too-small line
        for (w, h) in [(40, 10), (50, 14), (20, 5), (1, 1), (0, 0)] { _ = render(st, w, h) }
        XCTAssertTrue(render(st, 40, 10).joined().contains("Inside"))
    }

    func testAVisiblePanelAsksOncePerStepAndAHiddenOneNever() {
        var st = Self.state(visible: false)
        st.snapshot.inspection = nil
        XCTAssertEqual(reduce(&st, .snapshot(st.snapshot)), [], "hidden: nothing asked")
        XCTAssertEqual(reduce(&st, .key(.char("i"))), [.send(.inspect)])
        var s = st.snapshot
        s.version += 1
        XCTAssertEqual(reduce(&st, .snapshot(s)), [], "already asked at this step")
        s.step += 1
        s.version += 1
        XCTAssertEqual(reduce(&st, .snapshot(s)), [.send(.inspect)], "a new step: ask again")
        s.inspection = Self.inspection(step: s.step)
        s.version += 1
        XCTAssertEqual(reduce(&st, .snapshot(s)), [], "up to date")
        XCTAssertEqual(st.inside.unanswered, 0)
        // a server that never answers: the panel stops asking after a few steps
        s.inspection = nil
        for _ in 0..<5 { s.step += 1; s.version += 1; _ = reduce(&st, .snapshot(s)) }
        XCTAssertTrue(st.inside.unsupported)
        XCTAssertTrue(render(st, 80, 24).joined().contains("does not compute inspections"))
        // a run that says it cannot inspect is not asked, and its reason shows
        var py = Self.state()
        py.snapshot.inspection = nil
        py.unsupported = ["inspect": "a PyTorch run does not compute inspections"]
        XCTAssertEqual(reduce(&py, .snapshot(py.snapshot)), [])
        XCTAssertTrue(render(py, 80, 24).joined().contains("inspect: a PyTorch run does not compute inspections"))
        // read-only viewers never send
        var ro = Self.state()
        ro.canSend = false
        ro.snapshot.step += 1
        XCTAssertEqual(reduce(&ro, .snapshot(ro.snapshot)), [])
        XCTAssertEqual(reduce(&ro, .key(.char("i"))), [])
    }

    /// A capture of the panel for the README (printed; not compared).
    func testPrintsACapture() {
        print(render(Self.state(), 80, 24).joined(separator: "\n"))
    }
}
