import CKernels
import Dispatch

/// Computes `UpdateInspection`s of a live model (at step boundaries) or of a saved adapter, keeping what changes
/// rarely: ‖W‖_F of every base (from its source weights, computed once) and the quantization error of every base's
/// storage (recomputed only when the storage object changes, e.g. after a live `quant` change).
public final class UpdateInspector: @unchecked Sendable {
    private var baseNorms: [String: Double] = [:]
    private struct QuantEntry { weak var storage: AnyObject?; var error: Double }
    private var quantErrors: [String: QuantEntry] = [:]

    /// An inspector with empty caches.
    public init() {}

    /// One module's factors and what is known about its base, as the inspection reads them.
    public struct Factors {
        /// HF module name.
        public var name: String
        /// Rank r.
        public var rank: Int
        /// Input features.
        public var inFeatures: Int
        /// Output features.
        public var outFeatures: Int
        /// A (r, in) row-major.
        public var a: UnsafePointer<Float>
        /// B (out, r) row-major.
        public var b: UnsafePointer<Float>
        /// L2 norms of the last step's gradients of A and B before clipping, when known.
        public var gradNorms: (a: Double, b: Double)?
        /// The base's source weights (for ‖W‖_F), when known.
        public var source: FrozenMatrix?
        /// The base's storage when it differs from the source (for the quantization error).
        public var stored: FrozenMatrix?
    }

    /// Inspects the adapters of `model`: factors from the adapters, gradient norms from `gradientNorms` (the trainer's
    /// `lastGradientNorms`, by tensor), bases from `sources` (module name + ".weight").
    public func inspect(model: LlamaModel, lora: LoRAConfig, step: Int, sources: [String: FrozenMatrix],
                        storage: String?, gradientNorms: [ObjectIdentifier: Double]?) throws -> UpdateInspection {
        var factors: [Factors] = []
        for block in model.blocks {
            for (_, lin, _) in block.projections {
                guard let ad = lin.adapter else { continue }
                let src = sources[lin.name + ".weight"]
                let quantized = src.map { s in lin.base !== s && !(lin.base is DenseMatrix) } ?? false
                factors.append(Factors(
                    name: lin.name, rank: ad.rank, inFeatures: ad.inFeatures, outFeatures: ad.outFeatures,
                    a: UnsafePointer(ad.a.value.pointer), b: UnsafePointer(ad.b.value.pointer),
                    gradNorms: gradientNorms.flatMap { g in
                        g[ObjectIdentifier(ad.a)].flatMap { a in g[ObjectIdentifier(ad.b)].map { (a, $0) } }
                    },
                    source: src, stored: quantized ? lin.base : nil))
            }
        }
        return try inspect(factors, step: step, lora: lora, storage: storage)
    }

    /// Inspects a list of modules' factors with the adapter settings `lora` (rank, alpha, rsLoRA give the scale).
    public func inspect(_ factors: [Factors], step: Int, lora: LoRAConfig, storage: String?) throws -> UpdateInspection {
        let t0 = DispatchTime.now().uptimeNanoseconds
        fillCaches(factors)
        let scale = lora.scale
        var results = [Result<ModuleInspection, Error>?](repeating: nil, count: factors.count)
        // modules in groups whose eigenproblems are solved together (their QL sweeps interleave)
        let group = Int(LORATOP_QL_BATCH)
        results.withUnsafeMutableBufferPointer { out in
            guard let res = out.baseAddress else { return }
            Parallel.forEachItem((factors.count + group - 1) / group) { g in
                let range = (g * group)..<min(factors.count, (g + 1) * group)
                do {
                    var cores = try range.map { i in
                        let f = factors[i]
                        return try UpdateSpectrum.core(a: f.a, b: f.b, rank: f.rank, inFeatures: f.inFeatures,
                                                       outFeatures: f.outFeatures)
                    }
                    try UpdateSpectrum.solve(&cores)
                    for (i, core) in zip(range, cores) {
                        let f = factors[i]
                        res[i] = .success(ModuleInspection(
                            name: f.name, rank: f.rank, inFeatures: f.inFeatures, outFeatures: f.outFeatures,
                            singularValues: UpdateSpectrum.singularValues(of: core, scale: scale),
                            baseNorm: f.source.flatMap { _ in self.baseNorms[f.name] },
                            gradNormA: f.gradNorms?.a, gradNormB: f.gradNorms?.b,
                            quantError: f.stored.flatMap { _ in self.quantErrors[f.name]?.error }))
                    }
                } catch {
                    for i in range { res[i] = .failure(error) }
                }
            }
        }
        let modules = try results.map { r -> ModuleInspection in
            guard let r else { throw RankResizeError(message: "inspection: a module was not computed") }
            return try r.get()
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return UpdateInspection(step: step, rank: lora.rank, alpha: lora.alpha, rsLoRA: lora.useRSLoRA, storage: storage,
                                modules: modules, seconds: seconds)
    }

    /// Computes the base norms not yet known and the quantization errors of storage not yet seen (in parallel; the
    /// caches are written only here, on the caller's thread).
    private func fillCaches(_ factors: [Factors]) {
        let needNorm = factors.filter { $0.source != nil && baseNorms[$0.name] == nil }
        let needQuant = factors.filter { f in
            guard let s = f.stored else { return false }
            return quantErrors[f.name]?.storage !== s
        }
        guard !needNorm.isEmpty || !needQuant.isEmpty else { return }
        var norms = [Double](repeating: 0, count: max(1, needNorm.count))   // never empty: baseAddress is non-nil
        var errors = [Double](repeating: 0, count: max(1, needQuant.count))
        norms.withUnsafeMutableBufferPointer { np in
            errors.withUnsafeMutableBufferPointer { ep in
                guard let n = np.baseAddress, let e = ep.baseAddress else { return }
                Parallel.forEachItem(needNorm.count + needQuant.count) { i in
                    if i < needNorm.count {
                        if let s = needNorm[i].source { n[i] = MatrixNorms.frobenius(s) }
                    } else {
                        let f = needQuant[i - needNorm.count]
                        if let q = f.stored, let s = f.source { e[i - needNorm.count] = MatrixNorms.relativeError(stored: q, source: s) }
                    }
                }
            }
        }
        for (f, v) in zip(needNorm, norms) { baseNorms[f.name] = v }
        for (f, v) in zip(needQuant, errors) { quantErrors[f.name] = QuantEntry(storage: f.stored, error: v) }
    }
}
