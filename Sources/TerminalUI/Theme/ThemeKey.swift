/// The colour roles a theme file sets (`theme[<rawValue>]="#RRGGBB"`). See themes/README.md for what each one paints.
public enum ThemeKey: String, CaseIterable, Hashable, Sendable {
    /// Background of the whole screen ("" = the terminal's own).
    case mainBg = "main_bg"
    /// Ordinary text.
    case mainFg = "main_fg"
    /// Box titles.
    case title = "title"
    /// Highlighted text: key hints, current values.
    case hiFg = "hi_fg"
    /// Disabled or secondary text.
    case inactiveFg = "inactive_fg"
    /// Chart axes and labels.
    case graphText = "graph_text"
    /// Box borders and separators.
    case divLine = "div_line"
    /// Background of a selected row.
    case selectedBg = "selected_bg"
    /// Text of a selected row.
    case selectedFg = "selected_fg"
    /// Training loss line.
    case trainLine = "train_line"
    /// Evaluation loss line.
    case evalLine = "eval_line"
    /// Smoothed loss line.
    case smoothLine = "smooth_line"
    /// A previous run shown behind the current one.
    case ghostLine = "ghost_line"
    /// Chart markers (e.g. "r 8→16").
    case marker = "marker"
    /// Empty part of gauges and bars.
    case meterBg = "meter_bg"
    /// Filled part of gauges and bars.
    case meterFg = "meter_fg"
    /// Memory bar: frozen base weights.
    case memBase = "mem_base"
    /// Memory bar: adapter weights and gradients.
    case memAdapter = "mem_adapter"
    /// Memory bar: optimizer state.
    case memOptimizer = "mem_optimizer"
    /// Memory bar: activations.
    case memActivations = "mem_activations"
    /// Status line background.
    case statusBg = "status_bg"
    /// Status line text.
    case statusFg = "status_fg"
    /// A change requested but not yet applied.
    case pending = "pending"
    /// A change just applied.
    case applied = "applied"
    /// Warnings.
    case warning = "warning"
    /// Errors.
    case error = "error"
    /// Background of modal overlays (help).
    case modalBg = "modal_bg"

    /// True for the keys that are backgrounds rather than text colours.
    public var isBackground: Bool {
        switch self {
        case .mainBg, .selectedBg, .statusBg, .modalBg, .meterBg: return true
        default: return false
        }
    }

    /// The attributes standing in for this colour when there is no colour (NO_COLOR or a monochrome terminal).
    public var monochromeAttributes: Attributes {
        switch self {
        case .title, .hiFg, .evalLine, .marker, .applied, .warning, .memAdapter: return .bold
        case .inactiveFg, .ghostLine, .divLine, .meterBg, .memOptimizer: return .dim
        case .selectedBg, .selectedFg, .statusBg, .statusFg, .pending, .memActivations: return .reverse
        case .error: return [.bold, .underline]
        case .mainBg, .mainFg, .graphText, .trainLine, .smoothLine, .meterFg, .memBase, .modalBg: return []
        }
    }
}
