extension UpdateInspector {
    /// How a saved adapter's base is stored for the quantization-error column.
    public struct BaseStorage: Sendable {
        /// The storage to compare against the source weights (none: no error column).
        public var kind: QuantKind
        /// Quantization block size.
        public var blockSize: Int
        /// Double-quantize the block scales.
        public var doubleQuant: Bool

        /// A storage choice.
        public init(kind: QuantKind, blockSize: Int = 64, doubleQuant: Bool = false) {
            self.kind = kind
            self.blockSize = blockSize
            self.doubleQuant = doubleQuant
        }
    }

    /// Inspects a saved PEFT adapter; with `base`, relative sizes come from its weights, and with a quantized
    /// `storage` (int8, fp4, nf4) each module's base is quantized once to report its error against the source.
    /// Throws naming the tensor when the base lacks a module or its shape differs.
    public func inspect(adapter: PEFTAdapter, base: WeightSource? = nil, storage: BaseStorage? = nil) throws -> UpdateInspection {
        var sources: [FrozenMatrix?] = []
        var stored: [FrozenMatrix?] = []
        for m in adapter.modules {
            guard let base else { sources.append(nil); stored.append(nil); continue }
            let tensor = m.name + ".weight"
            guard base.has(tensor) else {
                throw WeightError(origin: base.origin, tensor: tensor, message: "the adapter has module \(m.name) but the "
                                  + "base model has no such weight; hint: was the adapter trained on another model?")
            }
            let w = try base.matrix(tensor)
            guard w.rows == m.outFeatures, w.cols == m.inFeatures else {
                throw WeightError(origin: base.origin, tensor: tensor, message: "the base is \(w.rows)×\(w.cols) but the "
                                  + "adapter's B·A is \(m.outFeatures)×\(m.inFeatures); hint: was the adapter trained on another model?")
            }
            sources.append(w)
            if let st = storage, st.kind.isBlockwise {
                stored.append(try Quantizer.quantize(w, kind: st.kind, blockSize: st.blockSize, doubleQuant: st.doubleQuant,
                                                     name: tensor))
            } else {
                stored.append(nil)
            }
        }
        var label: String?
        if let st = storage, base != nil {
            label = st.kind.isBlockwise ? st.kind.rawValue + (st.doubleQuant ? "+dq" : "") : st.kind == .none ? "f32" : "source"
        }
        return try withFactors(adapter.modules) { ptrs in
            let factors = adapter.modules.indices.map { i in
                Factors(name: adapter.modules[i].name, rank: adapter.modules[i].rank, inFeatures: adapter.modules[i].inFeatures,
                        outFeatures: adapter.modules[i].outFeatures, a: ptrs[i].a, b: ptrs[i].b, gradNorms: nil,
                        source: sources[i], stored: stored[i])
            }
            return try inspect(factors, step: 0, lora: adapter.config, storage: label)
        }
    }

    /// Calls `body` with stable pointers to every module's A and B.
    private func withFactors<R>(_ modules: [PEFTAdapter.Module],
                                _ body: ([(a: UnsafePointer<Float>, b: UnsafePointer<Float>)]) throws -> R) rethrows -> R {
        // copies into buffers the inspection may read from any thread for its whole duration
        let buffers = modules.map { (FloatBuffer($0.a), FloatBuffer($0.b)) }
        return try withExtendedLifetime(buffers) {
            try body(buffers.map { (UnsafePointer($0.0.pointer), UnsafePointer($0.1.pointer)) })
        }
    }
}
