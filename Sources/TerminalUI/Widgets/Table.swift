/// A column of a `Table`.
public struct TableColumn: Hashable, Sendable {
    /// How wide a column is.
    public enum Width: Hashable, Sendable {
        /// Exactly n columns (less if the table runs out of room).
        case fixed(Int)
        /// This percentage of the table width.
        case percent(Int)
        /// A share of the room left, by weight.
        case fill(Int)
        /// As wide as the widest cell or header, at most `max`.
        case content(max: Int)
    }
    /// Header text.
    public var title: String
    /// Width rule.
    public var width: Width
    /// Alignment of header and cells.
    public var alignment: Alignment

    /// Makes a column.
    public init(_ title: String, width: Width = .fill(1), alignment: Alignment = .left) {
        self.title = title; self.width = width; self.alignment = alignment
    }
}

/// Rows of cells under a header; cells too wide for their column end in an ellipsis.
public struct Table: Widget {
    /// The columns.
    public var columns: [TableColumn]
    /// Cell texts, one array per row (missing cells are blank, extra cells ignored).
    public var rows: [[String]]
    /// Show the header row.
    public var showHeader: Bool
    /// Style of the header.
    public var headerStyle: Style
    /// Style of ordinary rows.
    public var rowStyle: Style
    /// Per-row styles overriding `rowStyle` (by row index).
    public var rowStyles: [Int: Style]
    /// Index of a highlighted row, if any.
    public var selected: Int?
    /// Style of the highlighted row.
    public var selectedStyle: Style
    /// Columns of space between columns.
    public var spacing: Int
    /// Rows skipped at the top (scrolling).
    public var offset: Int
    /// Marks truncated cells.
    public var ellipsis: String

    /// Makes a table.
    public init(columns: [TableColumn], rows: [[String]], showHeader: Bool = true, headerStyle: Style = Style(attributes: .bold),
                rowStyle: Style = .plain, rowStyles: [Int: Style] = [:], selected: Int? = nil,
                selectedStyle: Style = Style(attributes: .reverse), spacing: Int = 1, offset: Int = 0, ellipsis: String = "…") {
        self.columns = columns; self.rows = rows; self.showHeader = showHeader; self.headerStyle = headerStyle
        self.rowStyle = rowStyle; self.rowStyles = rowStyles; self.selected = selected; self.selectedStyle = selectedStyle
        self.spacing = spacing; self.offset = offset; self.ellipsis = ellipsis
    }

    /// The column widths at a total width.
    public func columnWidths(total: Int) -> [Int] {
        let constraints: [Constraint] = columns.enumerated().map { i, c in
            switch c.width {
            case .fixed(let n): return .fixed(n)
            case .percent(let p): return .percent(p)
            case .fill(let w): return .fill(w)
            case .content(let maxWidth):
                let widest = rows.reduce(showHeader ? c.title.terminalWidth : 0) { m, r in
                    max(m, i < r.count ? r[i].terminalWidth : 0)
                }
                return .fixed(min(widest, maxWidth))
            }
        }
        return Rect.lengths(total: total, constraints, spacing: spacing)
    }

    /// Draws the header and the visible rows.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty, !columns.isEmpty else { return }
        let widths = columnWidths(total: area.width)
        var y = area.y
        func drawRow(_ texts: [String], style: Style, fillLine: Bool) {
            if fillLine { buffer.fill(Rect(x: area.x, y: y, width: area.width, height: 1), with: Cell(" ", style: style)) }
            var x = area.x
            for (i, w) in widths.enumerated() {
                let text = i < texts.count ? texts[i] : ""
                if w > 0 {
                    buffer.put(text.aligned(columns[i].alignment, width: w, ellipsis: ellipsis), x: x, y: y, style: style, clip: area)
                }
                x += w + spacing
            }
            y += 1
        }
        if showHeader { drawRow(columns.map(\.title), style: headerStyle, fillLine: false) }
        var index = max(0, offset)
        while y < area.maxY && index < rows.count {
            let isSelected = index == selected
            drawRow(rows[index], style: isSelected ? selectedStyle : (rowStyles[index] ?? rowStyle), fillLine: isSelected)
            index += 1
        }
    }
}
