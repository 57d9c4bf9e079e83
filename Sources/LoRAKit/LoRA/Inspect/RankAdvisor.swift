import Foundation

/// What rank the update's spectra call for, per projection type and for the whole adapter.
public struct RankAdvice: Codable, Sendable, Equatable {
    /// One projection type's reading.
    public struct TypeAdvice: Codable, Sendable, Equatable {
        /// Projection short name (q, k, v, o, gate, up, down).
        public var target: String
        /// Modules of this type.
        public var modules: Int
        /// The smallest rank that keeps 90% of ‖ΔW‖² in most (the quantile `RankAdvisor.quantile`) of these modules.
        public var rank90: Int
        /// The same for 99%.
        public var rank99: Int
        /// Whether most of these modules' spectra are flat at the top (the update wants more directions).
        public var flatTop: Bool
        /// The rank advised for this type (rank90, or twice the current rank when flat at the top).
        public var suggested: Int
        /// Trainable parameters of these modules at `suggested`.
        public var trainableParameters: Int
    }

    /// Per type, in block order.
    public var types: [TypeAdvice]
    /// The rank the adapter has now.
    public var currentRank: Int
    /// One rank for every module (loratop trains one r): the largest type's advice, rounded up to a power of two.
    public var suggestedRank: Int
    /// Trainable parameters now and at `suggestedRank`.
    public var trainableParameters: Int
    /// Trainable parameters at `suggestedRank`.
    public var suggestedTrainableParameters: Int
    /// Whether some type's spectra are flat at the top, so growing would help.
    public var growthWanted: Bool
    /// The advisor's line for people.
    public var summary: String

    /// Adapter file size in bytes (fp32 A and B) for `parameters`.
    public static func adapterBytes(_ parameters: Int) -> Int { parameters * 4 }
}

/// Reads the spectra: per projection type, the smallest rank that keeps 90% (and 99%) of the update's energy in most
/// modules, and whether the spectra are flat at the top. It advises; people apply it with the rank keys or `rank N`.
public enum RankAdvisor {
    /// "Most modules": the advice covers this fraction of a type's modules (75th percentile, nearest rank).
    public static let quantile = 0.75
    /// A module's spectrum is flat at the top when 90% of its energy needs at least this fraction of its directions and
    /// the smallest of those still carries at least `flatRatio` of the largest singular value.
    public static let flatDirections = 0.75
    /// See `flatDirections`.
    public static let flatRatio = 0.5

    /// The advice for `modules` trained at `rank`.
    public static func advise(_ modules: [ModuleInspection], rank: Int) -> RankAdvice {
        let order = LoRATarget.allCases.map(\.shortName)
        let groups = Dictionary(grouping: modules, by: \.target)
        let names = order.filter { groups[$0] != nil } + groups.keys.filter { !order.contains($0) }.sorted()
        var types: [RankAdvice.TypeAdvice] = []
        for t in names {
            guard let ms = groups[t], !ms.isEmpty else { continue }
            let r90 = percentile(ms.map(\.effectiveRank90), quantile)
            let r99 = percentile(ms.map(\.effectiveRank99), quantile)
            let flat = ms.filter(isFlatTop).count * 2 > ms.count
            let suggested = flat ? min(4096, 2 * max(1, rank)) : max(1, r90)
            let params = ms.reduce(0) { $0 + suggested * ($1.inFeatures + $1.outFeatures) }
            types.append(RankAdvice.TypeAdvice(target: t, modules: ms.count, rank90: r90, rank99: r99, flatTop: flat,
                                               suggested: suggested, trainableParameters: params))
        }
        let growth = types.contains { $0.flatTop }
        let widest = types.map(\.suggested).max() ?? rank
        let suggested = growth ? min(4096, 2 * max(1, rank)) : min(max(1, rank), powerOfTwo(atLeast: widest))
        let perRank = modules.reduce(0) { $0 + $1.inFeatures + $1.outFeatures }
        let now = modules.reduce(0) { $0 + $1.rank * ($1.inFeatures + $1.outFeatures) }
        return RankAdvice(types: types, currentRank: rank, suggestedRank: suggested, trainableParameters: now,
                          suggestedTrainableParameters: suggested * perRank, growthWanted: growth,
                          summary: summary(types, rank: rank, suggested: suggested, now: now, then: suggested * perRank))
    }

    /// Whether a module's spectrum is flat at the top: 90% of its energy needs most of its directions, and the last of
    /// them is still close to the largest.
    public static func isFlatTop(_ m: ModuleInspection) -> Bool {
        let k = m.effectiveRank90, n = m.singularValues.count
        guard k >= 2, n >= 2, let top = m.singularValues.first, top > 0 else { return false }
        return Double(k) >= flatDirections * Double(n) && Double(m.singularValues[k - 1]) >= flatRatio * Double(top)
    }

    /// Nearest-rank percentile of whole numbers (0 for none).
    static func percentile(_ xs: [Int], _ q: Double) -> Int {
        guard !xs.isEmpty else { return 0 }
        let s = xs.sorted()
        let i = Int((q * Double(s.count)).rounded(.up)) - 1
        return s[min(max(i, 0), s.count - 1)]
    }

    static func powerOfTwo(atLeast n: Int) -> Int {
        var p = 1
        while p < n && p < 4096 { p *= 2 }
        return p
    }

    static func summary(_ types: [RankAdvice.TypeAdvice], rank: Int, suggested: Int, now: Int, then: Int) -> String {
        guard !types.isEmpty else { return "no adapted modules" }
        let per = types.map { "\($0.target) \($0.rank90)" }.joined(separator: " ")
        let sizes = "\(count(now))→\(count(then)) params, \(mib(now))→\(mib(then)) MiB"
        let flat = types.filter(\.flatTop).map(\.target)
        if !flat.isEmpty {
            return "r \(rank)→\(suggested): spectra flat at the top in \(flat.joined(separator: ",")) (the update wants "
                + "more directions); \(sizes)"
        }
        if suggested >= rank {
            return "r \(rank) fits: 90% of the update needs \(per); \(sizes)"
        }
        let r99 = types.map(\.rank99).max() ?? rank
        return "r \(rank)→\(suggested) keeps 90% in most modules (\(per); 99% needs \(r99)); \(sizes)"
    }

    static func count(_ n: Int) -> String {
        n >= 1_000_000 ? String(format: "%.2fM", Double(n) / 1e6) : n >= 1000 ? String(format: "%.0fk", Double(n) / 1e3) : "\(n)"
    }

    static func mib(_ params: Int) -> String {
        String(format: "%.1f", Double(RankAdvice.adapterBytes(params)) / 1_048_576)
    }
}
