import LoRAKit

/// What the Inside panel's heatmap shows (`m` cycles).
enum InsideMetric: Int, CaseIterable, Sendable {
    case relativeSize, effectiveRank, gradNorm, quantError

    /// The title.
    var label: String {
        switch self {
        case .relativeSize: return "relative size ‖ΔW‖/‖W‖"
        case .effectiveRank: return "effective rank (90% of ‖ΔW‖²)"
        case .gradNorm: return "grad norm ‖∂A‖,‖∂B‖"
        case .quantError: return "quantization error of the base"
        }
    }

    /// The module's value (nil when the run did not give it).
    func value(_ m: ModuleInspection) -> Double? {
        switch self {
        case .relativeSize: return m.relativeSize ?? (m.baseNorm == nil ? m.updateNorm : nil)
        case .effectiveRank: return Double(m.effectiveRank90)
        case .gradNorm: return m.gradNorm
        case .quantError: return m.quantError
        }
    }

    /// Quantities spanning decades use a log ramp.
    var logarithmic: Bool { self == .relativeSize || self == .gradNorm }

    /// A value as the legend writes it.
    func format(_ v: Double) -> String {
        switch self {
        case .relativeSize, .quantError: return Fmt.percent(v)
        case .effectiveRank: return String(Int(v.rounded()))
        case .gradNorm: return sci(Float(v))
        }
    }
}

/// The Inside panel's state: shown or not, the metric, the selected cell, and the requests it sent.
struct InsideState: Equatable, Sendable {
    /// Whether the panel is shown (it replaces the loss chart).
    var visible = false
    /// The heatmap's quantity.
    var metric = InsideMetric.relativeSize
    /// Selected projection (row: q, k, v, o, gate, up, down as present).
    var row = 0
    /// Selected layer (column).
    var column = 0
    /// The step at which this viewer last asked for an inspection.
    var requestedStep: Int?
    /// Requests sent since an inspection last arrived; after a few the run is taken not to compute them.
    var unanswered = 0
    /// The step of the last inspection seen.
    var seenStep: Int?

    /// Requests left unanswered before the panel stops asking (a server that cannot inspect refuses each one).
    static let patience = 3

    /// Whether the run seems not to compute inspections.
    var unsupported: Bool { unanswered >= InsideState.patience }
}

/// The `inspect` request a visible Inside panel sends when the latest inspection is older than the run (once per step).
func insideRequest(_ state: inout AppState) -> [Effect] {
    let s = state.snapshot
    if let x = s.inspection, x.step != state.inside.seenStep {
        state.inside.seenStep = x.step
        state.inside.unanswered = 0
    }
    guard state.inside.visible, state.canSend, state.disconnected == nil, !state.inside.unsupported,
          state.unsupportedReason(.inspect) == nil else { return [] }
    let stale = s.inspection.map { $0.step < s.step || $0.rank != s.settings.rank } ?? true
    guard stale, state.inside.requestedStep != s.step, !s.pending.contains(.inspect) else { return [] }
    state.inside.requestedStep = s.step
    state.inside.unanswered += 1
    return [.send(.inspect)]
}
