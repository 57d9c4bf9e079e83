import LoRAKit
import RunLink

/// What the memory panel shows: this run's bytes by component, the resident set the OS measured, and a what-if
/// comparison of full fine-tuning, LoRA and QLoRA. A small value type so views do not depend on how it was computed.
struct MemoryFigures: Sendable, Equatable {
    /// One accounted part of this run ("base nf4+dq", "LoRA A, B", …).
    struct Part: Sendable, Equatable {
        /// Name people see.
        var name: String
        /// Bytes.
        var bytes: Int
        /// The category (picks the bar colour).
        var kind: MemoryKind
    }

    /// One training method in the comparison.
    struct Method: Sendable, Equatable {
        /// Short label, e.g. "QLoRA NF4+DQ".
        var name: String
        /// Accounted total bytes.
        var totalBytes: Int
        /// Total divided by full fine-tuning's total.
        var ratioToFull: Double
        /// Storage bits per parameter of the (quantized) linear base weights.
        var linearBitsPerParam: Double
    }

    /// This run's accounted parts, in display order.
    var parts: [Part]
    /// Resident set measured by the OS (nil when not measured).
    var residentBytes: Int?
    /// Peak resident set (nil when not measured).
    var peakResidentBytes: Int?
    /// The comparison rows, biggest first.
    var methods: [Method]
    /// Each process's figures in a run of several (torchrun ranks); empty otherwise.
    var ranks: [RankMemory] = []

    /// Sum of the accounted parts.
    var accountedBytes: Int { parts.reduce(0) { $0 + $1.bytes } }

    init(parts: [Part], residentBytes: Int? = nil, peakResidentBytes: Int? = nil, methods: [Method] = []) {
        self.parts = parts
        self.residentBytes = residentBytes
        self.peakResidentBytes = peakResidentBytes
        self.methods = methods
    }

    /// Adapts LoRAKit's accounting and estimator output.
    init(report: MemoryReport, methods: [MethodEstimate] = []) {
        parts = report.components.map { Part(name: $0.name, bytes: $0.bytes, kind: $0.kind) }
        residentBytes = report.process?.residentBytes
        peakResidentBytes = report.process?.peakResidentBytes
        self.methods = methods.map {
            Method(name: $0.method, totalBytes: $0.total, ratioToFull: $0.ratioToFull,
                   linearBitsPerParam: $0.linearBitsPerParam)
        }
    }

    /// The figures a run sent over its connection.
    init(state m: MemoryState) {
        parts = m.parts.map { Part(name: $0.name, bytes: $0.bytes, kind: $0.kind) }
        residentBytes = m.residentBytes
        peakResidentBytes = m.peakResidentBytes
        methods = m.methods.map { Method(name: $0.name, totalBytes: $0.totalBytes, ratioToFull: $0.ratioToFull,
                                         linearBitsPerParam: $0.linearBitsPerParam) }
        ranks = m.ranks ?? []
    }

    /// These figures with the resident set read now when the provider did not measure it.
    func measuringResidentIfMissing() -> MemoryFigures {
        guard residentBytes == nil, let p = ProcessMemory.current() else { return self }
        var m = self
        m.residentBytes = p.residentBytes
        m.peakResidentBytes = p.peakResidentBytes
        return m
    }
}
