/// How much of the split axis a part takes.
public enum Constraint: Hashable, Sendable {
    /// Exactly n cells (less if the space runs out; earlier parts are served first).
    case fixed(Int)
    /// This percentage of the whole length (rounded down).
    case percent(Int)
    /// A share of what is left after fixed and percent parts, in proportion to the weight.
    case fill(Int)

    /// A fill with weight 1.
    public static let fill = Constraint.fill(1)
}

/// The axis a rectangle is split along.
public enum SplitDirection: Sendable {
    /// Parts side by side, left to right (splits the width).
    case horizontal
    /// Parts stacked top to bottom (splits the height).
    case vertical
}

extension Rect {
    /// Splits into parts along `direction`, with `spacing` cells between parts. Parts never overlap and never leave
    /// the rectangle; when space is short, later parts shrink (to zero if needed). Fill parts share the remainder
    /// by weight, leftover cells going to the earliest fills.
    public func split(_ direction: SplitDirection, _ constraints: [Constraint], spacing: Int = 0) -> [Rect] {
        let total = direction == .horizontal ? width : height
        let lengths = Rect.lengths(total: total, constraints, spacing: spacing)
        var out: [Rect] = []
        var pos = 0
        for len in lengths {
            let start = min(pos, total)
            let l = min(len, total - start)
            if direction == .horizontal {
                out.append(Rect(x: x + start, y: y, width: l, height: height))
            } else {
                out.append(Rect(x: x, y: y + start, width: width, height: l))
            }
            pos = start + l + max(0, spacing)
        }
        return out
    }

    /// Splits the width into columns (see `split`).
    public func columns(_ constraints: [Constraint], spacing: Int = 0) -> [Rect] {
        split(.horizontal, constraints, spacing: spacing)
    }

    /// Splits the height into rows (see `split`).
    public func rows(_ constraints: [Constraint], spacing: Int = 0) -> [Rect] {
        split(.vertical, constraints, spacing: spacing)
    }

    /// The lengths `split` would give along an axis of `total` cells.
    public static func lengths(total: Int, _ constraints: [Constraint], spacing: Int = 0) -> [Int] {
        let n = constraints.count
        guard n > 0 else { return [] }
        let whole = max(0, total)
        var remaining = max(0, whole - max(0, spacing) * (n - 1))
        var lengths = [Int](repeating: 0, count: n)
        for (i, c) in constraints.enumerated() {
            switch c {
            case .fixed(let v): lengths[i] = min(max(0, v), remaining)
            case .percent(let p): lengths[i] = min(max(0, min(100, p)) * whole / 100, remaining)
            case .fill: continue
            }
            remaining -= lengths[i]
        }
        let weights = constraints.map { c -> Int in if case .fill(let w) = c { return max(0, w) } else { return 0 } }
        let weightSum = weights.reduce(0, +)
        if weightSum > 0 {
            var given = 0
            for i in 0..<n where weights[i] > 0 {
                lengths[i] = remaining * weights[i] / weightSum
                given += lengths[i]
            }
            var extra = remaining - given
            for i in 0..<n where weights[i] > 0 && extra > 0 { lengths[i] += 1; extra -= 1 }
        }
        return lengths
    }
}
