/// A grid of cells that widgets draw into. Every write is clipped to the buffer (and to an optional clip rectangle),
/// so drawing outside never crashes. Wide graphemes take two cells; overwriting either half clears the other.
public struct CellBuffer: Hashable, Sendable {
    /// Columns.
    public let width: Int
    /// Rows.
    public let height: Int
    /// Row-major cells, `width * height` of them.
    public private(set) var cells: [Cell]

    /// Makes a buffer filled with `fill`.
    public init(width: Int, height: Int, fill: Cell = .blank) {
        self.width = max(0, width); self.height = max(0, height)
        cells = [Cell](repeating: fill, count: self.width * self.height)
    }

    /// Makes a buffer of the given size.
    public init(size: Size, fill: Cell = .blank) { self.init(width: size.width, height: size.height, fill: fill) }

    /// The whole buffer as a rectangle.
    public var bounds: Rect { Rect(x: 0, y: 0, width: width, height: height) }

    /// The size.
    public var size: Size { Size(width: width, height: height) }

    /// The cell at (x, y), or a blank cell when outside.
    public subscript(x: Int, y: Int) -> Cell {
        guard x >= 0, y >= 0, x < width, y < height else { return .blank }
        return cells[y * width + x]
    }

    /// Sets one cell (clipped to the buffer and `clip`); wide graphemes also claim the next cell or are replaced by a
    /// space when that cell is clipped away.
    public mutating func set(x: Int, y: Int, _ cell: Cell, clip: Rect? = nil) {
        let area = clip.map { $0.intersection(bounds) } ?? bounds
        guard area.contains(x: x, y: y) else { return }
        let w = cell.symbol.first?.terminalWidth ?? 1
        if w == 2 {
            guard area.contains(x: x + 1, y: y) else { raw(x, y, Cell(" ", style: cell.style)); return }
            raw(x, y, cell)
            raw(x + 1, y, Cell("", style: cell.style))
        } else {
            raw(x, y, cell.isContinuation ? Cell(" ", style: cell.style) : cell)
        }
    }

    /// Writes a string on one row starting at (x, y), clipped; returns the column after the last one written
    /// (as if nothing were clipped on the right, capped at the clip's right edge).
    @discardableResult
    public mutating func put(_ text: String, x: Int, y: Int, style: Style = .plain, clip: Rect? = nil) -> Int {
        let area = clip.map { $0.intersection(bounds) } ?? bounds
        var cx = x
        for ch in text {
            let w = ch.terminalWidth
            if w == 0 { continue }
            if cx >= area.maxX { break }
            set(x: cx, y: y, Cell(String(ch), style: style), clip: area)
            cx += w
        }
        return min(cx, max(area.maxX, x))
    }

    /// Fills a rectangle (clipped) with one cell.
    public mutating func fill(_ rect: Rect, with cell: Cell = .blank) {
        let r = rect.intersection(bounds)
        guard !r.isEmpty else { return }
        for y in r.y..<r.maxY { for x in r.x..<r.maxX { set(x: x, y: y, cell, clip: r) } }
    }

    /// Sets the style of every cell in a rectangle (clipped), keeping the symbols.
    public mutating func setStyle(_ rect: Rect, _ style: Style) {
        let r = rect.intersection(bounds)
        guard !r.isEmpty else { return }
        for y in r.y..<r.maxY { for x in r.x..<r.maxX { cells[y * width + x].style = style } }
    }

    /// Copies another buffer's cells into this one with its top-left corner at (x, y), clipped.
    public mutating func blit(_ other: CellBuffer, x: Int, y: Int) {
        for oy in 0..<other.height { for ox in 0..<other.width {
            let c = other[ox, oy]
            if !c.isContinuation { set(x: x + ox, y: y + oy, c) }
        } }
    }

    /// Each row as plain text (continuation cells omitted, so wide graphemes read naturally).
    public func lines() -> [String] {
        (0..<height).map { y in
            var s = ""
            for x in 0..<width { s += cells[y * width + x].symbol }
            return s
        }
    }

    /// Each row as text with trailing spaces removed; handy in tests.
    public func trimmedLines() -> [String] {
        lines().map { l in
            var s = Substring(l)
            while s.last == " " { s = s.dropLast() }
            return String(s)
        }
    }

    /// Each row with one character per cell chosen by `code` from the cell's style (a map of colours or attributes).
    public func styleMap(_ code: (Style) -> Character) -> [String] {
        (0..<height).map { y in String((0..<width).map { code(cells[y * width + $0].style) }) }
    }

    private func isWideHead(_ c: Cell) -> Bool { (c.symbol.first?.terminalWidth ?? 1) == 2 }

    private mutating func raw(_ x: Int, _ y: Int, _ cell: Cell) {
        let i = y * width + x
        let old = cells[i]
        // Never leave half of a wide grapheme behind.
        if old.isContinuation && !cell.isContinuation && x > 0 && isWideHead(cells[i - 1]) {
            cells[i - 1] = Cell(" ", style: cells[i - 1].style)
        }
        if isWideHead(old) && x + 1 < width && cells[i + 1].isContinuation {
            cells[i + 1] = Cell(" ", style: cells[i + 1].style)
        }
        cells[i] = cell
    }
}
