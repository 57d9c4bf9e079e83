/// One row with text on the left and on the right, the rest filled with the style. The right part wins when
/// space is short; the left part is cut with an ellipsis.
public struct StatusLine: Widget {
    /// Left-aligned spans.
    public var left: [Span]
    /// Right-aligned spans.
    public var right: [Span]
    /// Style of the whole row.
    public var style: Style
    /// Marks a cut left part.
    public var ellipsis: String

    /// Makes a status line.
    public init(left: [Span], right: [Span] = [], style: Style = Style(attributes: .reverse), ellipsis: String = "…") {
        self.left = left; self.right = right; self.style = style; self.ellipsis = ellipsis
    }

    /// Makes a status line from plain strings.
    public init(_ left: String, right: String = "", style: Style = Style(attributes: .reverse), ellipsis: String = "…") {
        self.init(left: [Span(left, style: style)], right: right.isEmpty ? [] : [Span(right, style: style)], style: style,
                  ellipsis: ellipsis)
    }

    /// Draws on the first row of `area`.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        let row = Rect(x: area.x, y: area.y, width: area.width, height: 1)
        buffer.fill(row, with: Cell(" ", style: style))
        let rightWidth = min(area.width, right.reduce(0) { $0 + $1.text.terminalWidth })
        let rightStart = area.maxX - rightWidth
        // Right part first (it wins), clipped from its left when wider than the row.
        if rightWidth > 0 {
            let full = right.reduce(0) { $0 + $1.text.terminalWidth }
            buffer.put(right, x: area.maxX - full, y: area.y, clip: row)
        }
        let leftRoom = max(0, rightStart - area.x - (rightWidth > 0 ? 1 : 0))
        guard leftRoom > 0 else { return }
        let leftWidth = left.reduce(0) { $0 + $1.text.terminalWidth }
        if leftWidth <= leftRoom {
            buffer.put(left, x: area.x, y: area.y, clip: row)
        } else {
            let clip = Rect(x: area.x, y: area.y, width: max(0, leftRoom - ellipsis.terminalWidth), height: 1)
            let end = buffer.put(left, x: area.x, y: area.y, clip: clip)
            buffer.put(ellipsis, x: min(end, clip.maxX), y: area.y, style: left.last?.style ?? style, clip: row)
        }
    }
}
