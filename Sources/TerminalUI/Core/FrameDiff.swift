/// One cell that differs from the previous frame.
public struct CellChange: Hashable, Sendable {
    /// Column.
    public var x: Int
    /// Row.
    public var y: Int
    /// The new cell.
    public var cell: Cell
}

extension CellBuffer {
    /// The cells of `self` that differ from `previous`; every cell when there is no previous frame or its size differs.
    /// Continuation cells are included only when they changed, so a backend can skip them and still repaint wide
    /// graphemes through their left half (which changes with them).
    public func changes(since previous: CellBuffer?) -> [CellChange] {
        var out: [CellChange] = []
        guard let prev = previous, prev.width == width, prev.height == height else {
            out.reserveCapacity(cells.count)
            for y in 0..<height { for x in 0..<width { out.append(CellChange(x: x, y: y, cell: cells[y * width + x])) } }
            return out
        }
        for i in 0..<cells.count where cells[i] != prev.cells[i] {
            out.append(CellChange(x: i % width, y: i / width, cell: cells[i]))
        }
        return out
    }
}
