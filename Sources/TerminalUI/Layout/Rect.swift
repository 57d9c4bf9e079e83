/// A width × height in cells.
public struct Size: Hashable, Sendable {
    /// Columns.
    public var width: Int
    /// Rows.
    public var height: Int
    /// Makes a size (negative values become 0).
    public init(width: Int, height: Int) { self.width = max(0, width); self.height = max(0, height) }
}

/// Space around a rectangle's content.
public struct Margin: Hashable, Sendable {
    /// Rows removed at the top.
    public var top: Int
    /// Columns removed on the right.
    public var right: Int
    /// Rows removed at the bottom.
    public var bottom: Int
    /// Columns removed on the left.
    public var left: Int
    /// Makes a margin with each side given.
    public init(top: Int = 0, right: Int = 0, bottom: Int = 0, left: Int = 0) {
        self.top = top; self.right = right; self.bottom = bottom; self.left = left
    }
    /// The same margin on all four sides.
    public static func all(_ n: Int) -> Margin { Margin(top: n, right: n, bottom: n, left: n) }
    /// `horizontal` columns left and right, `vertical` rows top and bottom.
    public static func symmetric(horizontal: Int = 0, vertical: Int = 0) -> Margin {
        Margin(top: vertical, right: horizontal, bottom: vertical, left: horizontal)
    }
}

/// A rectangle of cells; x grows to the right, y grows down. Width and height are never negative.
public struct Rect: Hashable, Sendable, CustomStringConvertible {
    /// Left column.
    public var x: Int
    /// Top row.
    public var y: Int
    /// Columns.
    public var width: Int
    /// Rows.
    public var height: Int

    /// Makes a rectangle (negative sizes become 0).
    public init(x: Int, y: Int, width: Int, height: Int) {
        self.x = x; self.y = y; self.width = max(0, width); self.height = max(0, height)
    }

    /// A rectangle at the origin with the given size.
    public init(size: Size) { self.init(x: 0, y: 0, width: size.width, height: size.height) }

    /// The empty rectangle.
    public static let zero = Rect(x: 0, y: 0, width: 0, height: 0)

    /// One past the right column.
    public var maxX: Int { x + width }
    /// One past the bottom row.
    public var maxY: Int { y + height }
    /// True when it has no cells.
    public var isEmpty: Bool { width == 0 || height == 0 }
    /// Number of cells.
    public var area: Int { width * height }
    /// The size.
    public var size: Size { Size(width: width, height: height) }

    /// `x,y wxh`.
    public var description: String { "\(x),\(y) \(width)x\(height)" }

    /// True when the cell (px, py) lies inside.
    public func contains(x px: Int, y py: Int) -> Bool { px >= x && px < maxX && py >= y && py < maxY }

    /// The overlap of two rectangles (empty, positioned at the clamped origin, when they do not meet).
    public func intersection(_ o: Rect) -> Rect {
        let nx = max(x, o.x), ny = max(y, o.y)
        return Rect(x: nx, y: ny, width: min(maxX, o.maxX) - nx, height: min(maxY, o.maxY) - ny)
    }

    /// The rectangle shrunk by a margin (never below zero size).
    public func inset(by m: Margin) -> Rect {
        let w = max(0, width - m.left - m.right), h = max(0, height - m.top - m.bottom)
        return Rect(x: x + min(m.left, width), y: y + min(m.top, height), width: w, height: h)
    }

    /// The rectangle shrunk by `n` on every side.
    public func inset(_ n: Int) -> Rect { inset(by: .all(n)) }

    /// A rectangle of at most the given size centred inside this one.
    public func centered(width w: Int, height h: Int) -> Rect {
        let cw = min(max(0, w), width), ch = min(max(0, h), height)
        return Rect(x: x + (width - cw) / 2, y: y + (height - ch) / 2, width: cw, height: ch)
    }

    /// The top `n` rows.
    public func top(_ n: Int) -> Rect { Rect(x: x, y: y, width: width, height: min(max(0, n), height)) }
    /// The bottom `n` rows.
    public func bottom(_ n: Int) -> Rect {
        let h = min(max(0, n), height); return Rect(x: x, y: maxY - h, width: width, height: h)
    }
    /// The left `n` columns.
    public func left(_ n: Int) -> Rect { Rect(x: x, y: y, width: min(max(0, n), width), height: height) }
    /// The right `n` columns.
    public func right(_ n: Int) -> Rect {
        let w = min(max(0, n), width); return Rect(x: maxX - w, y: y, width: w, height: height)
    }
}
