import Foundation
import LoRAKit

/// An adapter's singular-value spectra as a standalone SVG: one faint line per module (σᵢ against direction i, log
/// scale), coloured by projection type, the median of each type drawn bold, and the 90%-energy rank marked.
struct SpectraSVG {
    let inspection: UpdateInspection
    let title: String
    var width = 960.0
    var height = 540.0

    static let colors: [String: String] = ["q": "#1f77b4", "k": "#ff7f0e", "v": "#2ca02c", "o": "#d62728",
                                           "gate": "#9467bd", "up": "#8c564b", "down": "#e377c2"]

    func render() -> String {
        let left = 80.0, right = 150.0, top = 50.0, bottom = 50.0
        let pw = width - left - right, ph = height - top - bottom
        let x = inspection
        let n = max(2, x.modules.map(\.singularValues.count).max() ?? 2)
        let values = x.modules.flatMap(\.singularValues).map(Double.init).filter { $0 > 0 && $0.isFinite }
        var y0 = log10(values.min() ?? 1e-6), y1 = log10(values.max() ?? 1)
        if y1 - y0 < 1e-6 { y0 -= 0.5; y1 += 0.5 }
        func sx(_ i: Int) -> Double { left + Double(i) / Double(n - 1) * pw }
        func sy(_ v: Double) -> Double? { v > 0 && v.isFinite ? top + (1 - (log10(v) - y0) / (y1 - y0)) * ph : nil }
        func path(_ vs: [Double]) -> String {
            var d = "", pen = false
            for (i, v) in vs.enumerated() {
                guard let y = sy(v) else { pen = false; continue }
                d += (pen ? "L" : "M") + String(format: "%.1f,%.1f ", sx(i), y)
                pen = true
            }
            return d
        }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" viewBox="0 0 \(Int(width)) \(Int(height))" font-family="sans-serif" font-size="12">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="22" font-size="16">\(escape(title)): singular values of scale·B·A, r \(x.rank), \(x.modules.count) modules</text>
        <text x="\(left)" y="40" fill="#444">\(escape("advice: " + x.advice.summary))</text>

        """
        for e in Int(floor(y0))...Int(ceil(y1)) where Double(e) >= y0 - 1e-9 && Double(e) <= y1 + 1e-9 {
            let y = top + (1 - (Double(e) - y0) / (y1 - y0)) * ph
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", left, y, left + pw, y)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">1e%d</text>\n", left - 6, y + 4, e)
        }
        let ticks = Array(Set([0, n / 4, n / 2, 3 * n / 4, n - 1])).sorted()
        for i in ticks {
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n", sx(i), top + ph + 18, i + 1)
        }
        svg += String(format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">direction i</text>\n", left + pw / 2, height - 10)
        svg += String(format: "<text x=\"18\" y=\"%.1f\" transform=\"rotate(-90 18 %.1f)\" text-anchor=\"middle\">σᵢ (log scale)</text>\n",
                      top + ph / 2, top + ph / 2)
        svg += String(format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#888\"/>\n", left, top, pw, ph)
        for m in x.modules {
            let c = SpectraSVG.colors[m.target] ?? "#555"
            svg += "<path d=\"\(path(m.singularValues.map(Double.init)))\" fill=\"none\" stroke=\"\(c)\" stroke-opacity=\"0.25\" stroke-width=\"1\"/>\n"
        }
        for (k, t) in x.targets.enumerated() {
            let ms = x.modules.filter { $0.target == t }
            let c = SpectraSVG.colors[t] ?? "#555"
            let median = (0..<n).map { i -> Double in
                let col = ms.compactMap { i < $0.singularValues.count ? Double($0.singularValues[i]) : nil }.sorted()
                return col.isEmpty ? 0 : col[col.count / 2]
            }
            svg += "<path d=\"\(path(median))\" fill=\"none\" stroke=\"\(c)\" stroke-width=\"2.5\"/>\n"
            let ly = top + 14 + Double(k) * 18
            let r90 = x.advice.types.first { $0.target == t }?.rank90 ?? 0
            svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"3\"/>\n",
                          left + pw + 10, ly - 4, left + pw + 30, ly - 4, c)
            svg += String(format: "<text x=\"%.1f\" y=\"%.1f\">%@</text>\n", left + pw + 35, ly, escape("\(t) (r90 \(r90))"))
            if r90 >= 1 {
                svg += String(format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-dasharray=\"2 3\"/>\n",
                              sx(r90 - 1), top + ph - 8 - Double(k) * 4, sx(r90 - 1), top + ph, c)
            }
        }
        return svg + "</svg>\n"
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
