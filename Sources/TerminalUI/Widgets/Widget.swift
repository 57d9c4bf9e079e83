/// Something that draws itself into a region of a cell buffer. Rendering is a pure function of the widget's values;
/// it never writes outside `area` and never crashes on tiny or empty areas.
public protocol Widget {
    /// Draws into `buffer` inside `area`.
    func render(into buffer: inout CellBuffer, area: Rect)
}

extension CellBuffer {
    /// Draws a widget inside `area`.
    public mutating func render(_ widget: some Widget, in area: Rect) {
        widget.render(into: &self, area: area.intersection(bounds))
    }
}

/// A run of text in one style.
public struct Span: Hashable, Sendable {
    /// The text.
    public var text: String
    /// Its style.
    public var style: Style
    /// Makes a span.
    public init(_ text: String, style: Style = .plain) { self.text = text; self.style = style }
}

extension CellBuffer {
    /// Writes spans one after another on a row, clipped to `clip`; returns the column after the last one written.
    @discardableResult
    public mutating func put(_ spans: [Span], x: Int, y: Int, clip: Rect? = nil) -> Int {
        var cx = x
        for s in spans { cx = put(s.text, x: cx, y: y, style: s.style, clip: clip) }
        return cx
    }
}
