@testable import LoRAKit
import TerminalUI
import XCTest
@testable import loratop

/// Views render from synthetic snapshots into a cell buffer; tests compare lines of text.
final class AppViewTests: XCTestCase {
    /// A run at step 120 of 2000: falling loss, evals every 50 steps, a rank change at step 60 and rank 32 pending.
    static func state(step: Int = 120, losses: [Float]? = nil) -> AppState {
        var s = Snapshot()
        s.version = 7
        s.status = .running
        s.step = step
        s.totalSteps = 2000
        s.epoch = 0.42
        s.settings.rank = 16
        s.settings.quantization = "nf4"
        let values: [Float] = losses ?? (1...step).map { (i: Int) -> Float in
            let bump: Float = i % 7 == 0 ? 0.1 : 0
            return 3 - 1.5 * Float(i) / Float(step) + bump
        }
        s.trainLoss = values.enumerated().map { LossPoint(step: $0.offset + 1, value: $0.element) }
        s.evalLoss = stride(from: 50, through: step, by: 50).map { LossPoint(step: $0, value: 2.5 - Float($0) / 400) }
        s.lastStep = StepRecord(step: step, loss: values.last ?? 0, learningRate: 2e-4, gradNorm: 0.75, tokens: 64,
                                seconds: 0.05, epoch: 0.42)
        s.lastEval = EvalRecord(step: 100, loss: 2.25, exactMatch: 0.4, seconds: 1)
        s.tokensPerSecond = 1280
        s.secondsPerStep = 0.05
        s.elapsed = 62
        s.eta = 723
        s.changes = [ChangeEvent(step: 60, kind: "rank", from: "8", to: "16")]
        s.pending = [.setRank(32)]
        s.samples = [SampleRecord(step: 100, prompt: "Make a loratop tag for: bolt quartz star", base: "Sure! Here is a tag",
                                  adapted: "LT-BOLT-QUARTZ-STAR", reference: "LT-BOLT-QUARTZ-STAR")]
        s.messages = ["step 60: r 8→16"]
        s.trainableParameters = 2_442_240
        s.baseParameters = 134_515_008
        s.unsavedProgress = true
        var st = AppState()
        st.snapshot = s
        st.modelName = "SmolLM2-135M"
        st.dataName = "tags-train.jsonl"
        st.memory = MemoryFigures(
            parts: [.init(name: "base nf4", bytes: 70 << 20, kind: .baseWeights),
                    .init(name: "LoRA A, B", bytes: 9 << 20, kind: .adapters),
                    .init(name: "activations", bytes: 300 << 20, kind: .activations)],
            residentBytes: 420 << 20, peakResidentBytes: 450 << 20,
            methods: [.init(name: "Full fine-tuning", totalBytes: 2 << 30, ratioToFull: 1, linearBitsPerParam: 32),
                      .init(name: "QLoRA NF4", totalBytes: 379 << 20, ratioToFull: 0.1851, linearBitsPerParam: 4.5)])
        return st
    }

    func render(_ st: AppState, _ w: Int, _ h: Int, ctx: ViewContext = .standard) -> [String] {
        AppView.render(st, ctx, size: Size(width: w, height: h)).lines()
    }

    func text(_ lines: [String]) -> String { lines.joined(separator: "\n") }

    func testDashboardAt120x40ShowsEveryPanel() {
        let lines = render(Self.state(), 120, 40)
        XCTAssertEqual(lines.count, 40)
        for l in lines { XCTAssertEqual(l.terminalWidth, 120, l) }
        let all = text(lines)
        for title in ["Loss (nats/token)", "Adapter", "Throughput", "Memory", "Samples"] {
            XCTAssertTrue(all.contains(title), "missing panel \(title)")
        }
        XCTAssertTrue(lines[0].contains("SmolLM2-135M") && lines[0].contains("RUNNING") && lines[0].contains("120/2000"))
        XCTAssertTrue(all.contains("rank      16 → 32 (pending)"), "pending rank beside the current one")
        XCTAssertTrue(all.contains("│r 8→16"), "marker line with its label")
        XCTAssertTrue(all.contains("120 / 2000"))
        XCTAssertTrue(all.contains("1280") && all.contains("0.050 s") && all.contains("ETA 12:03"))
        XCTAssertTrue(all.contains("trainable 2.44M (1.8% of 135M base) → 4.88M"))
        XCTAssertTrue(all.contains("accounted 379 MiB   resident (OS) 420 MiB"))
        XCTAssertTrue(all.contains("unaccounted"), "resident memory beyond the accounting gets its own bar")
        XCTAssertTrue(all.contains("QLoRA NF4") && all.contains("0.19×") && all.contains("5.4× less") && all.contains("4.50"))
        XCTAssertTrue(all.contains("LT-BOLT-QUARTZ-STAR  (adapted matches)"))
        XCTAssertTrue(lines[37].contains("pending: rank 32 │ last change, step 60: r 8→16"), lines[37])
        XCTAssertEqual(all.components(separatedBy: "step 60: r 8→16").count, 2, "the change is not repeated by its message")
        XCTAssertFalse(lines[38].contains("r 8→16"), "the message row has the last message, not the change again")
        XCTAssertTrue(lines[39].contains("q quit") && lines[39].contains("? help"))
        // Chart: braille dots, y labels, x labels up to the planned steps.
        XCTAssertTrue(lines[1...20].contains { $0.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) } })
        XCTAssertTrue(lines[1...21].contains { $0.contains("2000") })
    }

    func testCompactAt80x24HasChartStatsAndStatusButNoSidePanels() {
        let lines = render(Self.state(), 80, 24)
        XCTAssertEqual(lines.count, 24)
        for l in lines { XCTAssertEqual(l.terminalWidth, 80) }
        let all = text(lines)
        XCTAssertTrue(all.contains("Loss (nats/token)"))
        XCTAssertFalse(all.contains("Throughput"))
        XCTAssertFalse(all.contains("Adapter"))
        XCTAssertTrue(all.contains("step 120/2000 (6.0%)"))
        XCTAssertTrue(all.contains("r 16 → 32 (pending)"))
        XCTAssertTrue(all.contains("memory 379 MiB accounted  resident 420 MiB  QLoRA NF4 0.19×"))
        XCTAssertTrue(lines[23].contains("q quit"))
    }

    func testTooSmallSaysSoAndNeverCrashesOnTinySizes() {
        let small = text(render(Self.state(), 30, 8))
        XCTAssertTrue(small.contains("terminal too small"), small)
        XCTAssertTrue(small.contains("q quits"), small)
        XCTAssertTrue(text(render(Self.state(), 39, 40)).contains("too small"))
        XCTAssertFalse(text(render(Self.state(), 40, 10)).contains("too small"))
        XCTAssertEqual(render(Self.state(), 0, 0), [])
        XCTAssertEqual(render(Self.state(), 1, 1).count, 1)
        for (w, h) in [(1, 40), (120, 1), (2, 2), (40, 10), (41, 11), (119, 39), (200, 60)] {
            let lines = render(Self.state(), w, h)
            XCTAssertEqual(lines.count, h)
            for l in lines { XCTAssertEqual(l.terminalWidth, w, "\(w)×\(h)") }
        }
    }

    /// At every width the key line keeps `q quit` whole and drops the least needed keys first (never cut mid-word).
    func testKeyLineKeepsTheQuitKeyAtEveryWidth() {
        var failed = Self.state()
        failed.snapshot.status = .failed("a very long reason that would push the keys off a narrow status line, and more")
        for st in [Self.state(), failed] {
            for w in stride(from: AppView.minimum.width, through: 160, by: 1) {
                let last = render(st, w, 24).last ?? ""
                XCTAssertTrue(last.contains("q quit"), "\(w): \(last)")
                XCTAssertFalse(last.contains("ause ") && !last.contains("space pause"), "\(w): \(last)")
                XCTAssertTrue(last.hasSuffix("? help ") || !last.contains("space pause"), "help goes only after the others: \(w): \(last)")
            }
        }
        XCTAssertEqual(StatusView.hints(Self.state(), width: 10), "q quit ")
        XCTAssertEqual(StatusView.hints(Self.state(), width: 25), "q quit  d detach  ? help ")
    }

    func testNonFiniteLossesAreSkippedNotDrawnOrScaled() {
        let st = Self.state(step: 6, losses: [2.0, .nan, .infinity, 1.5, -.infinity, 1.8])
        let lines = render(st, 120, 40)
        XCTAssertEqual(lines.count, 40)
        let range = LossChartView.yRange([2, .nan, .infinity, 1.5, -.infinity, 1.8], log: false)
        XCTAssertEqual(range?.lowerBound ?? 0, 1.4, accuracy: 1e-9, "snapped down to a multiple of 0.2")
        XCTAssertEqual(range?.upperBound ?? 0, 2.0, accuracy: 1e-9)
        XCTAssertNil(LossChartView.yRange([.nan, .infinity], log: false))
        XCTAssertNil(LossChartView.yRange([0, -1], log: true), "log scale has nothing positive to show")
        var nanLast = st
        nanLast.snapshot.lastStep?.loss = .nan
        XCTAssertTrue(text(render(nanLast, 120, 40)).contains("loss      nan"))
        XCTAssertTrue(text(render(nanLast, 80, 24)).contains("loss nan"))
    }

    func testASinglePointIsDrawn() {
        var st = Self.state(step: 1, losses: [2.5])
        st.snapshot.evalLoss = []
        let chart = LossChartView.chart(st, .standard)
        XCTAssertEqual(chart.series.map(\.name), ["train"], "no smoothed line from one point")
        let lines = render(st, 120, 40)
        XCTAssertTrue(lines[1...20].contains { $0.unicodeScalars.contains { (0x2801...0x28FF).contains($0.value) } })
    }

    func testGhostRunsComeFirstInADimStyle() {
        var st = Self.state()
        st.snapshot.ghosts = [GhostRun(label: "run 1: r8", train: (1...300).map { LossPoint(step: $0, value: 3.2 - Float($0) / 200) },
                                       eval: [])]
        let chart = LossChartView.chart(st, .standard)
        XCTAssertEqual(chart.series.first?.name, "earlier runs")
        XCTAssertTrue(chart.series[0].style.attributes.contains(.dim))
        XCTAssertEqual(chart.series[0].style.fg, Theme.builtinDefault[.ghostLine].degraded(to: .ansi256))
        XCTAssertEqual(chart.yRange?.upperBound ?? 0, 3.5, accuracy: 1e-9, "ghost values count in the y range")
        let buf = AppView.render(st, .standard, size: Size(width: 120, height: 40))
        let ghostCells = buf.cells.filter { $0.style == chart.series[0].style && $0.symbol.unicodeScalars.first.map { (0x2801...0x28FF).contains($0.value) } == true }
        XCTAssertGreaterThan(ghostCells.count, 5)
        XCTAssertTrue(buf.lines().joined().contains("earlier runs"))
    }

    func testMarkersForEveryAppliedChangeAndASCIIFallback() {
        var st = Self.state()
        st.snapshot.changes.append(ChangeEvent(step: 100, kind: "lr", from: "2e-04", to: "4e-04"))
        st.snapshot.changes.append(ChangeEvent(step: 0, kind: "restart", from: "run 1", to: "run 2"))
        let chart = LossChartView.chart(st, .standard)
        XCTAssertEqual(chart.markers.map(\.label), ["r 8→16", "lr 2e-04→4e-04"])
        XCTAssertEqual(chart.markers.map(\.x), [60, 100])
        let ascii = ViewContext(palette: Theme.builtinDefault.palette(depth: .ansi256), glyphs: .ascii)
        XCTAssertEqual(LossChartView.chart(st, ascii).markers.first?.label, "r 8->16")
        for size in [(120, 40), (80, 24), (30, 8)] {
            var s2 = st
            s2.showHelp = size.0 == 120
            let lines = render(s2, size.0, size.1, ctx: ascii)
            for l in lines { XCTAssertTrue(l.unicodeScalars.allSatisfy { $0.isASCII }, "non-ASCII in \(size): \(l)") }
        }
        let asciiScreen = text(render(st, 120, 40, ctx: ascii))
        XCTAssertTrue(asciiScreen.contains("|r 8->16"), asciiScreen)
    }

    func testPendingValuesShowNextToCurrentOnes() {
        var st = Self.state()
        st.snapshot.pending = [.setRank(32), .setAlpha(64), .setLearningRate(1e-4), .setQuantization("int8")]
        let adapter = text(AdapterView.lines(st, .standard).map { $0.map(\.text).joined() })
        XCTAssertTrue(adapter.contains("rank      16 → 32 (pending)"))
        XCTAssertTrue(adapter.contains("alpha     16 → 64 (pending)"))
        XCTAssertTrue(adapter.contains("lr        2e-04 → 1e-04 (pending)"))
        XCTAssertTrue(adapter.contains("base      nf4 → int8 (pending)"))
        XCTAssertTrue(adapter.contains("scale     1 (α/r) → 2 (pending)"))
        XCTAssertFalse(adapter.contains("dropout   0 →"), "unchanged values show no arrow")
        st.snapshot.pending = []
        XCTAssertFalse(text(AdapterView.lines(st, .standard).map { $0.map(\.text).joined() }).contains("pending"))
    }

    func testHelpOverlayListsEveryBoundKeyAndScrollsWhenShort() {
        var st = Self.state()
        st.showHelp = true
        let all = text(render(st, 120, 40))
        for line in KeyMap.helpLines() {
            XCTAssertTrue(all.contains(line.trimmingCharacters(in: .whitespaces)), "help misses: \(line)")
        }
        for key in KeyMap.allKeys { XCTAssertTrue(all.contains(key.label), key.label) }
        let short = text(render(st, 80, 24))
        XCTAssertTrue(short.contains("↑↓ scroll"))
        XCTAssertTrue(short.contains("quit: stop and save / stop / detach / cancel"))
        st.helpScroll = KeyMap.helpLines().count - 5
        let scrolled = text(render(st, 80, 24))
        XCTAssertFalse(scrolled.contains("quit: stop and save / stop / detach / cancel"))
        XCTAssertTrue(scrolled.contains("close help / cancel"))
    }

    func testQuitAndStoppingOverlays() {
        var st = Self.state()
        st.confirmQuit = true
        let quit = text(render(st, 120, 40))
        XCTAssertTrue(quit.contains("Quit?") && quit.contains("stop the run and save a checkpoint") && quit.contains("Esc"))
        XCTAssertTrue(quit.contains("detach: the run goes on"))
        XCTAssertTrue(text(render(st, 80, 24)).contains("stop the run without saving"))
        st.confirmQuit = false
        st.quitting = true
        st.stopSignal = SIGTERM
        let stopping = text(render(st, 120, 40))
        XCTAssertTrue(stopping.contains("signal SIGTERM: saving a checkpoint and stopping…"), stopping)
        XCTAssertTrue(render(st, 120, 40)[39].contains("stopping…"))
    }

    func testNoColorUsesAttributesOnly() {
        let mono = ViewContext(palette: Theme.builtinDefault.palette(depth: .none), glyphs: .unicode)
        let buf = AppView.render(Self.state(), mono, size: Size(width: 120, height: 40))
        XCTAssertTrue(buf.cells.allSatisfy { $0.style.fg == .default && $0.style.bg == .default })
        XCTAssertTrue(buf.cells.contains { $0.style.attributes.contains(.reverse) }, "the status line stays visible")
        // the same text with and without colour, except the curves: smoothed dotted, eval as points (legend alike)
        let coloured = AppView.render(Self.state(), .standard, size: buf.size).lines()
        func curves(_ line: String) -> Bool { line.unicodeScalars.contains { (0x2800...0x28FF).contains($0.value) || $0 == "•" } }
        for (m, c) in zip(buf.lines(), coloured) where !curves(m) && !curves(c) { XCTAssertEqual(m, c) }
        let text = buf.lines().joined(separator: "\n")
        XCTAssertTrue(text.contains("·· smoothed") && text.contains("• eval") && text.contains("── train"), text)
        let chart = LossChartView.chart(Self.state(), mono)
        XCTAssertEqual(chart.series.map(\.pattern).suffix(3), [.solid, .dotted, .points("•")])
        XCTAssertTrue(LossChartView.chart(Self.state(), .standard).series.allSatisfy { $0.pattern == .solid })
    }

    func testAxisRangesSnapToRoundValues() {
        XCTAssertEqual(LossChartView.niceStep(0.37), 0.5)
        XCTAssertEqual(LossChartView.niceStep(0.12), 0.2)
        XCTAssertEqual(LossChartView.niceStep(7), 10)
        XCTAssertEqual(LossChartView.niceRange(1.13, 2.96), 1.0...3.0)
        XCTAssertEqual(LossChartView.niceRange(2, 2), 1.95...2.05)
        let log = LossChartView.yRange([0.5, 3], log: true)
        XCTAssertNotNil(log)
        XCTAssertLessThanOrEqual(log?.lowerBound ?? 1, 0.5)
        XCTAssertGreaterThanOrEqual(log?.upperBound ?? 0, 3)
        // All steps: 0…planned; zoom: the last N, window end snapped to N/5.
        var st = Self.state(step: 437)
        XCTAssertEqual(LossChartView.xRange(st), 0...2000)
        st.chart.zoomIndex = 2
        XCTAssertEqual(LossChartView.xRange(st), 340...440)
        // a window longer than the run shows the run, never steps past the plan
        st.chart.zoomIndex = 1
        st.snapshot.totalSteps = 450
        XCTAssertEqual(LossChartView.xRange(st), 0...450)
        st.chart.zoomIndex = 2
        XCTAssertEqual(LossChartView.xRange(st), 340...440)
        st.chart.logY = true
        XCTAssertEqual(LossChartView.chart(st, .standard).scale, .log)
    }

    func testSmoothingFollowsTheChosenWeight() {
        var st = Self.state()
        st.chart.smoothingIndex = 0
        XCTAssertFalse(LossChartView.chart(st, .standard).series.map(\.name).contains("smoothed"))
        st.chart.smoothingIndex = 3
        let chart = LossChartView.chart(st, .standard)
        let smoothed = chart.series.first { $0.name == "smoothed" }?.points.map(\.y) ?? []
        let expected = Smoothing.exponentialMovingAverage(st.snapshot.trainLoss.map { Double($0.value) }, weight: 0.9)
        XCTAssertEqual(smoothed, expected)
        XCTAssertTrue(LossChartView.caption(st, .standard).contains("smoothing 0.90"))
    }

    func testLongCurvesAreDecimatedToTheirEnvelope() {
        let pts: [ChartPoint] = (0..<10_000).map { (i: Int) -> ChartPoint in
            let y: Double = i == 5000 ? .nan : Double((i * 7919) % 100)
            return ChartPoint(x: Double(i), y: y)
        }
        let d = LossChartView.decimate(pts, range: 0...10_000, buckets: 100)
        XCTAssertLessThanOrEqual(d.count, 2 * 100 + 4)
        XCTAssertEqual(d.filter { $0.y.isNaN }.count, 1, "the break survives")
        let ys: [Double] = d.map { $0.y }.filter { $0.isFinite }
        XCTAssertEqual(ys.min(), 0)
        XCTAssertEqual(ys.max(), 99)
        let xs: [Double] = d.map { $0.x }
        XCTAssertEqual(xs, xs.sorted(), "x order kept")
        XCTAssertEqual(LossChartView.decimate(Array(pts.prefix(150)), range: 0...150, buckets: 100).count, 150, "short curves untouched")
    }

    func testMemoryFiguresAdaptTheEstimator() {
        var e = EstimateSettings()
        e.rank = 8
        let rows = Estimator.estimate(ModelConfig(), e)
        let m = MemoryFigures(report: rows[3].report, methods: rows)
        XCTAssertEqual(m.accountedBytes, rows[3].total)
        XCTAssertEqual(m.methods.map(\.name), rows.map(\.method))
        XCTAssertEqual(m.methods.first?.ratioToFull, 1)
        XCTAssertNil(m.residentBytes)
        XCTAssertNotNil(m.measuringResidentIfMissing().residentBytes, "Linux reports VmRSS")
    }
}
