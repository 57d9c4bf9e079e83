import Foundation

/// Round axis ticks: multiples of 1, 2 or 5 × 10ⁿ on a linear axis; on a log axis decades, with 2 and 5 between them
/// when there is room, or round linear values when the view spans less than a decade.
public enum ChartTicks {
    /// A tick: its plot row (0 = top) and its value (in data units, not on the scale).
    public struct Tick: Hashable, Sendable {
        /// Row from the top of the plot.
        public var row: Int
        /// Value the row stands for.
        public var value: Double
    }

    /// Ticks for a plot `rows` high showing `range` (on the scale: log10 of the values when `log`), at most `maxCount`,
    /// labelled rows at least two apart (one when the plot is shorter than four rows). Never empty for rows ≥ 1: when
    /// no two round values fit, the two ends of the range (the top alone on a one-row plot).
    public static func rows(range: ClosedRange<Double>, log: Bool, rows: Int, maxCount: Int) -> [Tick] {
        guard rows > 0 else { return [] }
        let lo = range.lowerBound, hi = range.upperBound
        let top = log ? pow(10, hi) : hi
        guard hi > lo, lo.isFinite, hi.isFinite, rows > 1 else { return [Tick(row: 0, value: top)] }
        let gap = rows >= 4 ? 2 : 1
        func place(_ values: [Double]) -> [Tick]? {
            var out: [Tick] = []
            for v in values.sorted(by: >) {
                let t = log ? Foundation.log10(v) : v
                let row = Int(((hi - t) / (hi - lo) * Double(rows - 1)).rounded())
                guard row >= 0, row < rows else { continue }
                if let last = out.last, row - last.row < gap { return nil }
                out.append(Tick(row: row, value: v))
            }
            return out.count <= maxCount && !out.isEmpty ? out : nil
        }
        // the candidate with most ticks that fit (the first among equals), when it has at least two
        func best(_ candidates: [[Double]]) -> [Tick]? {
            candidates.compactMap(place).filter { $0.count >= 2 }.max(by: { $0.count < $1.count })
        }
        if log {
            let tol = (hi - lo) * 1e-9
            let kMin = Int(floor(lo)), kMax = Int(ceil(hi))
            func inside(_ v: Double) -> Bool { let t = Foundation.log10(v); return t >= lo - tol && t <= hi + tol }
            var decades = [(kMin...kMax).flatMap { k in [1.0, 2, 5].map { $0 * pow(10, Double(k)) } }.filter(inside)]
            for stride in [1, 2, 5, 10, 20, 50] {
                decades.append((kMin...kMax).filter { $0 % stride == 0 }.map { pow(10, Double($0)) }.filter(inside))
            }
            // less than a decade in view, or the decades do not make two ticks: round linear values
            if let t = best(decades) ?? best(linearCandidates(pow(10, lo), pow(10, hi), maxCount: maxCount)) { return t }
        } else if let t = best(linearCandidates(lo, hi, maxCount: maxCount)) {
            return t
        }
        // no round values fit (a short plot): its two ends, as the range gives them
        return [Tick(row: 0, value: top), Tick(row: rows - 1, value: log ? pow(10, lo) : lo)]
    }

    /// Multiples of 1-2-5 steps from fine to coarse, each step's multiples inside lo…hi.
    static func linearCandidates(_ lo: Double, _ hi: Double, maxCount: Int) -> [[Double]] {
        let span = hi - lo
        guard span > 0, span.isFinite else { return [] }
        var e = floor(log10(span / Double(max(1, maxCount + 1))))
        var out: [[Double]] = []
        let tol = span * 1e-9
        for _ in 0..<8 {
            for m in [1.0, 2, 5] {
                let step = m * pow(10, e)
                let k0 = ceil((lo - tol) / step), k1 = floor((hi + tol) / step)
                guard k1 >= k0, k1 - k0 < 1000 else { continue }
                out.append(stride(from: k0, through: k1, by: 1).map { k in
                    let v = k * step
                    return abs(v) < step * 1e-9 ? 0 : v
                })
            }
            e += 1
        }
        return out
    }

    /// Labels for tick values: `formatter(value) + unit`; when two come out the same (the formatter's precision is
    /// coarser than the step), every label is printed with just enough decimals to tell them apart.
    public static func labels(_ values: [Double], unit: String, formatter: (Double) -> String) -> [String] {
        let plain = values.map { formatter($0) + unit }
        guard Set(plain).count < plain.count else { return plain }
        for decimals in 0...10 {
            let texts = values.map { String(format: "%.\(decimals)f", $0) + unit }
            if Set(texts).count == texts.count { return texts }
        }
        return plain
    }
}
