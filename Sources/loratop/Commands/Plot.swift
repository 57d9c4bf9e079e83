import ArgumentParser
import Foundation
import LoRAKit
import TerminalUI

/// `loratop plot METRICS.jsonl --out loss.svg`: the run's curves as an SVG a person can open anywhere;
/// `loratop plot --inspect ADAPTER_DIR --out spectra.svg`: a saved adapter's singular-value spectra.
struct Plot: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Draw a run's loss curves (train, smoothed, eval) and change markers, or an adapter's spectra, as SVG.")

    @Argument(help: "The metrics file a run wrote (--metrics).")
    var metrics: String?

    @Option(help: "Plot the singular-value spectra of this adapter folder (as `loratop inspect` reads it) instead.")
    var inspect: String?

    @Option(help: "With --inspect: the base model, for the title's relative sizes.")
    var model: String?

    @Option(name: .long, help: "Where to write the SVG.")
    var out: String = "loss.svg"

    @Option(name: .long, help: "Smoothing weight for the smoothed curve (0 = none, as TensorBoard).")
    var smoothing: Double = 0.9

    @Flag(name: .long, help: "Logarithmic loss axis.")
    var logY = false

    func validate() throws {
        guard (0...0.999).contains(smoothing) else { throw ValidationError("--smoothing must be in [0, 0.999]") }
        guard (metrics == nil) != (inspect == nil) else {
            throw ValidationError("give either a metrics file or --inspect ADAPTER_DIR")
        }
    }

    func run() throws {
        if let dir = inspect {
            let (folder, x) = try Inspect.load(adapter: dir, model: model, storage: nil)
            try AtomicFile.write(Array(SpectraSVG(inspection: x, title: URL(fileURLWithPath: folder).lastPathComponent).render().utf8),
                                 to: out)
            Output.out("wrote \(out) (\(x.modules.count) modules, r \(x.rank); advice: \(x.advice.summary))")
            return
        }
        guard let metrics else { return }
        let history = try MetricsHistory.read(path: metrics)
        guard !history.train.isEmpty || !history.eval.isEmpty else {
            throw ValidationError("\(metrics): no step or eval records to plot")
        }
        let svg = SVGPlot(history: history, smoothing: smoothing, logY: logY,
                          title: URL(fileURLWithPath: metrics).lastPathComponent).render()
        try AtomicFile.write(Array(svg.utf8), to: out)
        Output.out("wrote \(out) (\(history.train.count) steps, \(history.eval.count) evals, \(history.changes.count) changes)")
    }
}

/// Renders loss curves to a standalone SVG document.
struct SVGPlot {
    let history: MetricsHistory
    let smoothing: Double
    let logY: Bool
    let title: String
    var width = 960.0
    var height = 540.0

    func render() -> String {
        let left = 70.0, right = 20.0, top = 40.0, bottom = 50.0
        let pw = width - left - right, ph = height - top - bottom
        let smoothed = Smoothing.exponentialMovingAverage(history.train.map { Double($0.value) }, weight: smoothing)
        let all = (history.train.map { Double($0.value) } + history.eval.map { Double($0.value) })
            .filter { $0.isFinite && (!logY || $0 > 0) }
        let steps = history.train.map(\.step) + history.eval.map(\.step) + history.changes.map(\.step)
        let x0 = Double(steps.min() ?? 0), x1 = Double(max((steps.max() ?? 1), Int(x0) + 1))
        var y0 = all.min() ?? 0, y1 = all.max() ?? 1
        if logY { y0 = log10(max(y0, 1e-12)); y1 = log10(max(y1, 1e-12)) }
        if y1 - y0 < 1e-9 { y0 -= 0.5; y1 += 0.5 }
        let pad = (y1 - y0) * 0.05
        y0 -= pad; y1 += pad
        func sx(_ s: Double) -> Double { left + (s - x0) / (x1 - x0) * pw }
        func sy(_ v: Double) -> Double? {
            guard v.isFinite, !logY || v > 0 else { return nil }
            let t = logY ? log10(v) : v
            return top + (1 - (t - y0) / (y1 - y0)) * ph
        }
        func path(_ pts: [(Int, Double)]) -> String {
            var d = "", pen = false
            for (s, v) in pts {
                guard let y = sy(v) else { pen = false; continue }
                d += (pen ? "L" : "M") + String(format: "%.1f,%.1f ", sx(Double(s)), y)
                pen = true
            }
            return d
        }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="24" font-size="16">\(escape(title)): loss per step\(logY ? " (log scale)" : "")</text>

        """
        // Grid and axis labels.
        for i in 0...5 {
            let t = y0 + (y1 - y0) * Double(i) / 5
            let v = logY ? pow(10, t) : t
            let y = top + (1 - Double(i) / 5) * ph
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, y, left + pw, y)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%@</text>\n", left - 6, y + 4, axisLabel(v))
        }
        for i in 0...6 {
            let s = x0 + (x1 - x0) * Double(i) / 6
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", sx(s), top + ph + 18, Int(s.rounded()))
        }
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">step</text>\n", left + pw / 2, height - 10)
        svg += String(format: "<text x=\"16\" y=\"%.1f\" transform=\"rotate(-90 16 %.1f)\" text-anchor=\"middle\">loss (nats/token)</text>\n",
                      top + ph / 2, top + ph / 2)
        svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n", left, top, pw, ph)
        // Change markers.
        for c in history.changes {
            let x = sx(Double(c.step))
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#c0392b\" stroke-dasharray=\"4 3\"/>\n", x, top, x, top + ph)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"#c0392b\">%@</text>\n", x + 3, top + 12, escape("step \(c.step): \(c.label)"))
        }
        let train = history.train.map { ($0.step, Double($0.value)) }
        svg += "<path d=\"\(path(train))\" fill=\"none\" stroke=\"#9ecae1\" stroke-width=\"1\"/>\n"
        if smoothing > 0 {
            let sm = zip(history.train, smoothed).map { ($0.step, $1) }
            svg += "<path d=\"\(path(sm))\" fill=\"none\" stroke=\"#08519c\" stroke-width=\"2\"/>\n"
        }
        let eval = history.eval.map { ($0.step, Double($0.value)) }
        svg += "<path d=\"\(path(eval))\" fill=\"none\" stroke=\"#e6550d\" stroke-width=\"2\"/>\n"
        for (s, v) in eval { if let y = sy(v) { svg += String(format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"#e6550d\"/>\n", sx(Double(s)), y) } }
        // Legend.
        let legend = [("#9ecae1", "train"), ("#08519c", "train (smoothed \(smoothing))"), ("#e6550d", "eval")]
        for (i, (color, name)) in legend.enumerated() where i != 1 || smoothing > 0 {
            let y = top + 16 + Double(i) * 16
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"3\"/>\n",
                          left + pw - 170, y - 4, left + pw - 150, y - 4, color)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>\n", left + pw - 145, y, escape(name))
        }
        return svg + "</svg>\n"
    }

    private func axisLabel(_ v: Double) -> String {
        abs(v) >= 100 || (abs(v) < 0.01 && v != 0) ? String(format: "%.2g", v) : String(format: "%.2f", v)
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
