import Foundation

/// Short number formats for chart axes.
public enum ChartFormat {
    /// About three significant digits, k/M/G above 10 000, scientific below 0.001: `2.31`, `0.0123`, `120`, `12.3k`,
    /// `1e-4`. NaN and infinities print as `nan`, `inf`, `-inf`.
    public static func compact(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v < 0 ? "-inf" : "inf" }
        if v == 0 { return "0" }
        let a = abs(v)
        let sign = v < 0 ? "-" : ""
        if a >= 1e4 {
            let (d, s) = a >= 1e12 ? (1e12, "T") : a >= 1e9 ? (1e9, "G") : a >= 1e6 ? (1e6, "M") : (1e3, "k")
            return sign + trimmed(fixed(a / d, significant: 3)) + s
        }
        if a < 1e-3 {
            let e = Int(floor(log10(a)))
            let m = a / pow(10, Double(e))
            var ms = trimmed(String(format: "%.1f", m))
            var exp = e
            if ms == "10" { ms = "1"; exp += 1 }
            return sign + ms + "e" + String(exp)
        }
        return sign + trimmed(fixed(a, significant: 3))
    }

    /// Integers as integers (`120`, `12k`), anything else as `compact`.
    public static func step(_ v: Double) -> String {
        if v.isFinite, v == v.rounded(), abs(v) < 1e4 { return String(Int(v)) }
        return compact(v)
    }

    private static func fixed(_ a: Double, significant: Int) -> String {
        let digits = max(0, significant - 1 - Int(floor(log10(a))))
        return String(format: "%.\(digits)f", a)
    }

    private static func trimmed(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = Substring(s)
        while t.last == "0" { t = t.dropLast() }
        if t.last == "." { t = t.dropLast() }
        return String(t)
    }
}
