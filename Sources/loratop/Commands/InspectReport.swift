import Foundation
import LoRAKit

/// The `inspect` command's table and JSON.
enum InspectReport {
    /// The per-module table, the per-type summary and the advisor's line.
    static func table(_ x: UpdateInspection, adapter: String, model: String?) -> String {
        var out = "adapter \(adapter): r \(x.rank), alpha \(formatNumber(x.alpha)), scale \(formatNumber(x.scale)) "
            + "(\(x.rsLoRA ? "alpha/√r, rsLoRA" : "alpha/r")), \(x.modules.count) modules\n"
        if let m = model { out += "base \(m)" + (x.storage.map { ", quantization error of \($0) storage" } ?? "") + "\n" }
        let hasBase = x.modules.contains { $0.baseNorm != nil }
        let hasQuant = x.modules.contains { $0.quantError != nil }
        var head = "layer module   ‖ΔW‖_F     " + (hasBase ? "‖ΔW‖/‖W‖  " : "") + "r90  r99  σ1         σmin      "
        if hasQuant { head += "quant err" }
        out += head.trimmingTrailingSpaces() + "\n"
        for m in x.modules {
            var line = pad(m.layer >= 0 ? "\(m.layer)" : "-", 5, right: true) + " " + pad(m.target, 8) + sci(m.updateNorm) + "  "
            if hasBase { line += pad(m.relativeSize.map { percent($0) } ?? "-", 10) }
            line += pad("\(m.effectiveRank90)", 5) + pad("\(m.effectiveRank99)", 5)
            line += sci(Double(m.singularValues.first ?? 0)) + "  " + sci(Double(m.singularValues.last ?? 0)) + "  "
            if hasQuant { line += m.quantError.map { percent($0) } ?? "-" }
            out += line.trimmingTrailingSpaces() + "\n"
        }
        out += "\nper type (75% of modules):  type  r90  r99  flat  advised  params\n"
        for t in x.advice.types {
            out += "                            " + pad(t.target, 6) + pad("\(t.rank90)", 5) + pad("\(t.rank99)", 5)
                + pad(t.flatTop ? "yes" : "no", 6) + pad("\(t.suggested)", 9) + "\(t.trainableParameters)\n"
        }
        out += "advice: \(x.advice.summary)\n"
        return out
    }

    /// The inspection as JSON: the figures, with each module's relative size and gradient norm spelled out.
    static func json(_ x: UpdateInspection, adapter: String, model: String?) throws -> String {
        struct Module: Encodable {
            let name: String, layer: Int, target: String, rank: Int, inFeatures: Int, outFeatures: Int
            let updateNorm: Double, baseNorm: Double?, relativeSize: Double?
            let singularValues: [Float], effectiveRank90: Int, effectiveRank99: Int
            let gradNormA: Double?, gradNormB: Double?, quantError: Double?
        }
        struct Doc: Encodable {
            let adapter: String, model: String?, rank: Int, alpha: Float, rsLoRA: Bool, scale: Float
            let storage: String?, modules: [Module], advice: RankAdvice, seconds: Double
        }
        let doc = Doc(adapter: adapter, model: model, rank: x.rank, alpha: x.alpha, rsLoRA: x.rsLoRA, scale: x.scale,
                      storage: x.storage, modules: x.modules.map {
                          Module(name: $0.name, layer: $0.layer, target: $0.target, rank: $0.rank, inFeatures: $0.inFeatures,
                                 outFeatures: $0.outFeatures, updateNorm: $0.updateNorm, baseNorm: $0.baseNorm,
                                 relativeSize: $0.relativeSize, singularValues: $0.singularValues,
                                 effectiveRank90: $0.effectiveRank90, effectiveRank99: $0.effectiveRank99,
                                 gradNormA: $0.gradNormA, gradNormB: $0.gradNormB, quantError: $0.quantError)
                      }, advice: x.advice, seconds: x.seconds)
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return String(decoding: try enc.encode(doc), as: UTF8.self)
    }

    static func sci(_ v: Double) -> String { String(format: "%.3e", v) }
    static func percent(_ v: Double) -> String { String(format: v < 0.001 ? "%.4f%%" : "%.2f%%", v * 100) }
    static func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
        s.count >= n ? s + (right ? "" : " ") : right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count)
    }
}

extension String {
    /// The string without trailing blanks.
    func trimmingTrailingSpaces() -> String {
        var s = self
        while s.last == " " { s.removeLast() }
        return s
    }
}
