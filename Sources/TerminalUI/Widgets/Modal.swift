/// A centred box drawn over everything (help, confirmations): clears its area, draws a titled border, then the content.
public struct Modal<Content: Widget>: Widget {
    /// Box title.
    public var title: String
    /// Wanted outer width (clamped to the area minus `margin` on each side).
    public var width: Int
    /// Wanted outer height (clamped likewise).
    public var height: Int
    /// Cells kept free around the modal when the area is small.
    public var margin: Int
    /// Border glyphs.
    public var glyphs: GlyphSet.BoxGlyphs
    /// Style of the border and title.
    public var borderStyle: Style
    /// Style the inside is cleared with.
    public var fill: Style
    /// What goes inside (drawn with one column of padding).
    public var content: Content

    /// Makes a modal.
    public init(title: String, width: Int, height: Int, margin: Int = 1, glyphs: GlyphSet.BoxGlyphs = .rounded,
                borderStyle: Style = Style(attributes: .bold), fill: Style = .plain, content: Content) {
        self.title = title; self.width = width; self.height = height; self.margin = margin; self.glyphs = glyphs
        self.borderStyle = borderStyle; self.fill = fill; self.content = content
    }

    /// The outer rectangle within an area.
    public func frame(in area: Rect) -> Rect {
        let room = area.inset(max(0, margin))
        let box = room.isEmpty ? area : room
        return box.centered(width: width, height: height)
    }

    /// Draws the modal.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        let outer = frame(in: area)
        guard !outer.isEmpty else { return }
        buffer.fill(outer, with: Cell(" ", style: fill))
        Box(title: title, glyphs: glyphs, borderStyle: borderStyle, titleStyle: borderStyle).render(into: &buffer, area: outer)
        let inner = Box.inner(outer).inset(by: Margin(left: 1)).inset(by: Margin(right: 1))
        content.render(into: &buffer, area: inner)
    }
}
