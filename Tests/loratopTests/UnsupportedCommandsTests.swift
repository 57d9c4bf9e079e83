import LoRAKit
import RunLink
import TerminalUI
import XCTest
@testable import loratop

/// A run that cannot do some commands (a PyTorch run: no rank or quant changes) says so in its state; the TUI shows
/// those settings greyed with the run's reason, leaves their keys out of the key line and does not send them.
final class UnsupportedCommandsTests: XCTestCase {
    static let rankWhy = "a PyTorch run cannot change the LoRA rank while it trains (PEFT's adapters have a fixed shape)"
    static let quantWhy = "a PyTorch run keeps the base model as it was loaded"

    func pytorchRun() -> AppState {
        var st = AppViewTests.state()
        st.unsupported = ["rank": Self.rankWhy, "quant": Self.quantWhy, "restart": "start the script again"]
        return st
    }

    func testTheirKeysAreNotSentAndTheReasonIsShown() {
        var st = pytorchRun()
        st.snapshot.settings.rank = 8
        st.snapshot.pending = []
        XCTAssertEqual(reduce(&st, .key(.char("R"))), [])
        XCTAssertEqual(st.viewerNote, "rank 16: \(Self.rankWhy)")
        XCTAssertEqual(reduce(&st, .key(.char("b"))), [])
        XCTAssertTrue(st.viewerNote?.hasSuffix(Self.quantWhy) ?? false, st.viewerNote ?? "no note")
        XCTAssertEqual(reduce(&st, .key(.char("A"))), [.send(.setAlpha(st.snapshot.settings.alpha * 2))],
                       "what the run can do is still sent")
    }

    /// A finished run trains no more: its key line offers quitting, detaching, a new run, an eval, samples and a save,
    /// not pause or the live settings (issue 17: the finished screen still offered `space pause  r/R rank`).
    func testAFinishedRunsKeyLineOffersOnlyWhatStillApplies() {
        var st = AppViewTests.state()
        st.snapshot.status = .finished
        let hints = StatusView.hints(st)
        for gone in ["space pause", "r/R rank", "a/A alpha", "l/L lr", "b base"] { XCTAssertFalse(hints.contains(gone), hints) }
        for kept in ["q quit", "d detach", "n new run", "e eval", "g sample", "s save"] { XCTAssertTrue(hints.contains(kept), hints) }
        var py = pytorchRun()
        py.snapshot.status = .finished
        XCTAssertFalse(StatusView.hints(py).contains("n new run"), "a run that cannot restart is not offered one")
        st.snapshot.status = .running
        XCTAssertTrue(StatusView.hints(st).contains("space pause"))
    }

    func testTheKeyLineOffersOnlyWhatTheRunCanDo() {
        let full = AppViewTests.state()
        XCTAssertTrue(StatusView.hints(full).contains("r/R rank"))
        XCTAssertTrue(StatusView.hints(full).contains("b base"))
        let hints = StatusView.hints(pytorchRun())
        XCTAssertFalse(hints.contains("r/R rank"), hints)
        XCTAssertFalse(hints.contains("b base"), hints)
        XCTAssertTrue(hints.contains("a/A alpha") && hints.contains("l/L lr"), hints)
    }

    func testTheAdapterPanelGreysFixedSettingsWithTheReason() {
        let ctx = ViewContext.standard
        let lines = AdapterView.lines(pytorchRun(), ctx)
        let rank = lines.first { $0.first?.text.hasPrefix("rank") ?? false }
        let fixed = rank?.last
        XCTAssertEqual(fixed?.text, "  fixed: " + Self.rankWhy)
        XCTAssertEqual(fixed?.style, ctx.style(.inactiveFg))
        let base = lines.first { $0.first?.text.hasPrefix("base") ?? false }
        XCTAssertEqual(base?.last?.text, "  fixed: " + Self.quantWhy)
        let plain = AdapterView.lines(AppViewTests.state(), ctx)
        XCTAssertFalse(plain.joined().contains { $0.text.contains("fixed:") })
    }

    func testTheDashboardDrawsAPyTorchRunAtEverySize() {
        for (w, h) in [(120, 40), (80, 24), (50, 16)] {
            let lines = AppView.render(pytorchRun(), .standard, size: Size(width: w, height: h)).lines()
            XCTAssertEqual(lines.count, h)
            XCTAssertFalse(lines.joined().contains("r/R rank"), "\(w)×\(h)")
        }
        let wide = AppView.render(pytorchRun(), .standard, size: Size(width: 160, height: 40)).lines().joined(separator: "\n")
        XCTAssertTrue(wide.contains("fixed: a PyTorch run"), wide)
    }

    func testTheSamplesPanelSaysWhyARunCannotSample() {
        var st = pytorchRun()
        st.snapshot.samples = []
        XCTAssertTrue(SamplesView.lines(st, .standard)[0][0].text.contains("press g"), "the run can sample")
        st.unsupported["sample"] = "no tokenizer is known to this run"
        XCTAssertEqual(SamplesView.lines(st, .standard)[0][0].text, "no samples: no tokenizer is known to this run")
    }

    func testEveryRanksMemoryIsShown() {
        var m = MemoryFigures(parts: [.init(name: "frozen base", bytes: 538 << 20, kind: .baseWeights)],
                              residentBytes: 900 << 20)
        m.ranks = [RankMemory(rank: 0, device: "cpu", residentBytes: 900 << 20, peakBytes: 1 << 30),
                   RankMemory(rank: 1, device: "cuda:1", residentBytes: 700 << 20, allocatedBytes: 600 << 20,
                              peakBytes: 800 << 20)]
        let text = MemoryView.headline(m, .standard).map(\.text).joined()
        XCTAssertTrue(text.contains("ranks 0 cpu 900 MiB (peak 1.00 GiB) · 1 cuda:1 600 MiB (peak 800 MiB)"), text)
        m.ranks = [m.ranks[0]]
        XCTAssertFalse(MemoryView.headline(m, .standard).map(\.text).joined().contains("ranks"))
    }

    func testAMirrorKeepsTheRunsUnsupportedCommands() throws {
        var state = SnapshotCodec.state(Snapshot(), memory: nil, points: 100)
        state.unsupported = ["rank": Self.rankWhy]
        let line = try WireCoding.line(state, encoder: WireCoding.encoder())
        let decoded = try WireCoding.decoder().decode(StateMessage.self, from: Data(line.dropLast()))
        var mirror = SnapshotMirror()
        mirror.apply(decoded)
        XCTAssertEqual(mirror.unsupported, ["rank": Self.rankWhy])
        XCTAssertTrue(String(decoding: line, as: UTF8.self).contains(#""unsupported":{"rank":"#))
    }

    func testAHeaderNamesWhatTheRunSaysAndNothingForNothing() {
        XCTAssertEqual(AppOptions.displayName(""), "", "an empty data name is not the current folder")
        XCTAssertEqual(AppOptions.displayName("/data/tags.jsonl"), "tags.jsonl")
        XCTAssertEqual(AppOptions.displayName("HuggingFaceTB/SmolLM2-135M"), "HuggingFaceTB/SmolLM2-135M")
        XCTAssertEqual(AppOptions.displayName("preset:tiny"), "preset:tiny")
    }
}
