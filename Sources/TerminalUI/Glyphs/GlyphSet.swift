import Foundation
import CNCurses

/// The characters widgets draw with: Unicode (braille, box drawing, blocks) or plain ASCII for terminals and locales
/// that cannot show them.
public struct GlyphSet: Hashable, Sendable {
    /// How charts plot points.
    public enum ChartMode: Hashable, Sendable {
        /// Braille: 2×4 dots per cell.
        case braille
        /// Half blocks: 1×2 per cell (▀ ▄ █).
        case block
        /// One ASCII character per point per cell.
        case ascii
    }

    /// The six characters of a box outline.
    public struct BoxGlyphs: Hashable, Sendable {
        /// Top-left corner.
        public var topLeft: String
        /// Top-right corner.
        public var topRight: String
        /// Bottom-left corner.
        public var bottomLeft: String
        /// Bottom-right corner.
        public var bottomRight: String
        /// Horizontal edge.
        public var horizontal: String
        /// Vertical edge.
        public var vertical: String

        /// Rounded corners (╭╮╰╯).
        public static let rounded = BoxGlyphs(topLeft: "╭", topRight: "╮", bottomLeft: "╰", bottomRight: "╯",
                                              horizontal: "─", vertical: "│")
        /// Square corners (┌┐└┘).
        public static let line = BoxGlyphs(topLeft: "┌", topRight: "┐", bottomLeft: "└", bottomRight: "┘",
                                           horizontal: "─", vertical: "│")
        /// Double lines (╔╗╚╝).
        public static let double = BoxGlyphs(topLeft: "╔", topRight: "╗", bottomLeft: "╚", bottomRight: "╝",
                                             horizontal: "═", vertical: "║")
        /// ASCII (+-|).
        public static let ascii = BoxGlyphs(topLeft: "+", topRight: "+", bottomLeft: "+", bottomRight: "+",
                                            horizontal: "-", vertical: "|")
    }

    /// True for the Unicode set.
    public var isUnicode: Bool
    /// How charts plot.
    public var chartMode: ChartMode
    /// Default box outline.
    public var box: BoxGlyphs
    /// Outline for emphasised boxes (modals); same as `box` in ASCII.
    public var heavyBox: BoxGlyphs
    /// Horizontal rule.
    public var horizontal: String
    /// Vertical rule (chart markers, separators).
    public var vertical: String
    /// Y-axis line.
    public var axisVertical: String
    /// X-axis line.
    public var axisHorizontal: String
    /// Axis corner (bottom-left of a chart).
    public var axisCorner: String
    /// Tick on the y axis.
    public var axisTick: String
    /// Partial horizontal blocks from 1/8 to 8/8 (bars); one entry in ASCII.
    public var barEighths: [String]
    /// The empty part of a gauge.
    public var gaugeEmpty: String
    /// Marks a truncated text.
    public var ellipsis: String
    /// A short line sample for legends.
    public var legendLine: String
    /// Right arrow (e.g. "r 8→16").
    public var arrow: String
    /// Points for ASCII charts, one per series in turn.
    public var asciiPoints: [String]
    /// The frames of a busy indicator, shown in turn.
    public var spinner: [String] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]

    /// Braille, rounded boxes, eighth blocks.
    public static let unicode = GlyphSet(
        isUnicode: true, chartMode: .braille, box: .rounded, heavyBox: .double, horizontal: "─", vertical: "│",
        axisVertical: "│", axisHorizontal: "─", axisCorner: "└", axisTick: "┤",
        barEighths: ["▏", "▎", "▍", "▌", "▋", "▊", "▉", "█"], gaugeEmpty: "░", ellipsis: "…", legendLine: "──",
        arrow: "→", asciiPoints: ["*", "+", "o", "x", "#", "%"])

    /// Unicode with half-block charts instead of braille (for fonts without braille).
    public static let unicodeBlocks: GlyphSet = {
        var g = GlyphSet.unicode; g.chartMode = .block; return g
    }()

    /// Seven-bit ASCII only.
    public static let ascii = GlyphSet(
        isUnicode: false, chartMode: .ascii, box: .ascii, heavyBox: .ascii, horizontal: "-", vertical: "|",
        axisVertical: "|", axisHorizontal: "-", axisCorner: "+", axisTick: "-", barEighths: ["#"], gaugeEmpty: ".",
        ellipsis: "~", legendLine: "--", arrow: "->", asciiPoints: ["*", "+", "o", "x", "#", "%"], spinner: ["|", "/", "-", "\\"])

    /// True when a locale codeset name (from nl_langinfo(CODESET)) is UTF-8.
    public static func isUTF8(codeset: String) -> Bool {
        let c = codeset.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "")
        return c == "utf8"
    }

    /// The set for this process: ASCII when forced or when the locale's codeset (after `setlocale(LC_ALL, "")`) is
    /// not UTF-8, else Unicode.
    public static func detect(forceASCII: Bool = false) -> GlyphSet {
        if forceASCII { return .ascii }
        let codeset = String(cString: cnc_locale_codeset())
        return isUTF8(codeset: codeset) ? .unicode : .ascii
    }
}
