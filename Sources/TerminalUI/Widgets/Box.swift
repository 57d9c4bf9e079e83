/// A bordered box with an optional title on the top edge (`╭─ Title ──╮`).
public struct Box: Widget {
    /// Title drawn on the top edge after one border cell and a space.
    public var title: String
    /// Optional text at the right end of the top edge.
    public var rightTitle: String
    /// Border glyphs (take them from a `GlyphSet`).
    public var glyphs: GlyphSet.BoxGlyphs
    /// Style of the border.
    public var borderStyle: Style
    /// Style of the titles.
    public var titleStyle: Style
    /// When set, the inside is filled with blanks in this style first.
    public var fill: Style?
    /// Marks truncated titles.
    public var ellipsis: String

    /// Makes a box.
    public init(title: String = "", rightTitle: String = "", glyphs: GlyphSet.BoxGlyphs = .rounded,
                borderStyle: Style = .plain, titleStyle: Style = .plain, fill: Style? = nil, ellipsis: String = "…") {
        self.title = title; self.rightTitle = rightTitle; self.glyphs = glyphs
        self.borderStyle = borderStyle; self.titleStyle = titleStyle; self.fill = fill; self.ellipsis = ellipsis
    }

    /// The area inside the border.
    public static func inner(_ area: Rect) -> Rect { area.inset(1) }

    /// Draws the border and titles; areas under 2×2 get nothing.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard area.width >= 2, area.height >= 2 else { return }
        if let f = fill { buffer.fill(Box.inner(area), with: Cell(" ", style: f)) }
        let g = glyphs
        for x in area.x + 1..<area.maxX - 1 {
            buffer.set(x: x, y: area.y, Cell(g.horizontal, style: borderStyle), clip: area)
            buffer.set(x: x, y: area.maxY - 1, Cell(g.horizontal, style: borderStyle), clip: area)
        }
        for y in area.y + 1..<area.maxY - 1 {
            buffer.set(x: area.x, y: y, Cell(g.vertical, style: borderStyle), clip: area)
            buffer.set(x: area.maxX - 1, y: y, Cell(g.vertical, style: borderStyle), clip: area)
        }
        buffer.set(x: area.x, y: area.y, Cell(g.topLeft, style: borderStyle), clip: area)
        buffer.set(x: area.maxX - 1, y: area.y, Cell(g.topRight, style: borderStyle), clip: area)
        buffer.set(x: area.x, y: area.maxY - 1, Cell(g.bottomLeft, style: borderStyle), clip: area)
        buffer.set(x: area.maxX - 1, y: area.maxY - 1, Cell(g.bottomRight, style: borderStyle), clip: area)

        // Titles: " Title " after the corner and one edge cell; the right title ends one edge cell before the corner.
        let room = area.width - 4
        guard room >= 1 else { return }
        var used = 0
        if !title.isEmpty {
            let t = (" " + title + " ").truncated(toWidth: room, ellipsis: ellipsis)
            buffer.put(t, x: area.x + 2, y: area.y, style: titleStyle, clip: area)
            used = t.terminalWidth
        }
        if !rightTitle.isEmpty {
            let avail = room - used - (used > 0 ? 1 : 0)
            guard avail >= 3 else { return }
            let t = (" " + rightTitle + " ").truncated(toWidth: avail, ellipsis: ellipsis)
            buffer.put(t, x: area.maxX - 2 - t.terminalWidth, y: area.y, style: titleStyle, clip: area)
        }
    }
}
