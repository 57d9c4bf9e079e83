/// One entry of a legend.
public struct LegendItem: Hashable, Sendable {
    /// Sample glyph(s) drawn in `style` (e.g. "──" or "*").
    public var symbol: String
    /// Name.
    public var name: String
    /// Style of the symbol.
    public var style: Style
    /// Makes an entry.
    public init(symbol: String, name: String, style: Style) { self.symbol = symbol; self.name = name; self.style = style }
}

/// Entries on one row: `── train  ── eval`; entries that do not fit are left out whole.
public struct Legend: Widget {
    /// The entries.
    public var items: [LegendItem]
    /// Style of the names.
    public var textStyle: Style
    /// Alignment of the row.
    public var alignment: Alignment

    /// Makes a legend.
    public init(items: [LegendItem], textStyle: Style = .plain, alignment: Alignment = .left) {
        self.items = items; self.textStyle = textStyle; self.alignment = alignment
    }

    /// Columns the legend needs.
    public var width: Int { items.enumerated().reduce(0) { $0 + ($1.offset > 0 ? 2 : 0) + itemWidth($1.element) } }

    private func itemWidth(_ i: LegendItem) -> Int { i.symbol.terminalWidth + 1 + i.name.terminalWidth }

    /// Draws on the first row of `area`.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        var shown: [LegendItem] = []
        var used = 0
        for item in items {
            let w = (shown.isEmpty ? 0 : 2) + itemWidth(item)
            if used + w > area.width { break }
            shown.append(item); used += w
        }
        var x: Int
        switch alignment {
        case .left: x = area.x
        case .center: x = area.x + (area.width - used) / 2
        case .right: x = area.maxX - used
        }
        for (i, item) in shown.enumerated() {
            if i > 0 { x += 2 }
            x = buffer.put(item.symbol, x: x, y: area.y, style: item.style, clip: area)
            x = buffer.put(" " + item.name, x: x, y: area.y, style: textStyle, clip: area)
        }
    }
}
