/// Word wrapping over styled text.
public enum TextWrap {
    /// Wraps plain text to `width` columns: breaks at spaces, splits words longer than a line, keeps explicit
    /// newlines, drops the spaces at a break. Returns at least one (possibly empty) line for non-empty input.
    public static func wrap(_ text: String, width: Int) -> [String] {
        wrap([Span(text)], width: width).map { $0.map(\.text).joined() }
    }

    /// Wraps spans to `width` columns; each output line is a list of spans.
    public static func wrap(_ spans: [Span], width: Int) -> [[Span]] {
        guard width > 0 else { return [] }
        var lines: [[(Character, Style)]] = [[]]
        var word: [(Character, Style)] = []
        var lineWidth = 0
        var soft = false   // the current line was started by wrapping (its leading spaces are dropped)

        func newLine(soft isSoft: Bool) { lines.append([]); lineWidth = 0; soft = isSoft }
        func flushWord() {
            guard !word.isEmpty else { return }
            let ww = word.reduce(0) { $0 + $1.0.terminalWidth }
            if lineWidth > 0 && lineWidth + ww > width { newLine(soft: true) }
            for item in word {
                let w = item.0.terminalWidth
                if lineWidth + w > width && lineWidth > 0 { newLine(soft: true) }
                lines[lines.count - 1].append(item); lineWidth += w
            }
            word.removeAll()
        }

        for span in spans {
            for ch in span.text {
                if ch == "\n" || ch == "\r\n" {
                    flushWord(); newLine(soft: false)
                } else if ch == " " || ch == "\t" {
                    flushWord()
                    if (lineWidth > 0 || !soft) && lineWidth < width {
                        lines[lines.count - 1].append((" ", span.style)); lineWidth += 1
                    }
                } else if ch.terminalWidth > 0 {
                    word.append((ch, span.style))
                }
            }
        }
        flushWord()
        return lines.map { line in
            var out: [Span] = []
            var trimmed = line
            while let last = trimmed.last, last.0 == " " { trimmed.removeLast() }
            for (ch, style) in trimmed {
                if let last = out.last, last.style == style { out[out.count - 1].text.append(ch) }
                else { out.append(Span(String(ch), style: style)) }
            }
            return out
        }
    }
}

/// A paragraph of styled text, word-wrapped (or cut) to its area, optionally scrolled.
public struct Text: Widget {
    /// The content; newlines start new lines.
    public var spans: [Span]
    /// Wrap at word boundaries (true) or cut each line at the edge (false).
    public var wrap: Bool
    /// Alignment of each line.
    public var alignment: Alignment
    /// Lines skipped at the top.
    public var scroll: Int
    /// Marks lines cut at the edge when not wrapping.
    public var ellipsis: String

    /// Makes a paragraph from spans.
    public init(_ spans: [Span], wrap: Bool = true, alignment: Alignment = .left, scroll: Int = 0, ellipsis: String = "…") {
        self.spans = spans; self.wrap = wrap; self.alignment = alignment; self.scroll = scroll; self.ellipsis = ellipsis
    }

    /// Makes a paragraph from plain text in one style.
    public init(_ text: String, style: Style = .plain, wrap: Bool = true, alignment: Alignment = .left) {
        self.init([Span(text, style: style)], wrap: wrap, alignment: alignment)
    }

    /// The lines this text takes at a width.
    public func lines(width: Int) -> [[Span]] {
        if wrap { return TextWrap.wrap(spans, width: width) }
        var lines: [[Span]] = [[]]
        for s in spans {
            let parts = s.text.split(separator: "\n", omittingEmptySubsequences: false)
            for (i, p) in parts.enumerated() {
                if i > 0 { lines.append([]) }
                if !p.isEmpty { lines[lines.count - 1].append(Span(String(p), style: s.style)) }
            }
        }
        return lines
    }

    /// Draws the visible lines.
    public func render(into buffer: inout CellBuffer, area: Rect) {
        guard !area.isEmpty else { return }
        let all = lines(width: area.width)
        let start = max(0, min(scroll, all.count))
        for (row, line) in all[start...].prefix(area.height).enumerated() {
            let y = area.y + row
            let w = line.reduce(0) { $0 + $1.text.terminalWidth }
            let pad: Int
            switch alignment {
            case .left: pad = 0
            case .center: pad = max(0, (area.width - w) / 2)
            case .right: pad = max(0, area.width - w)
            }
            if !wrap && w > area.width {
                // Cut with an ellipsis in the last column.
                let plain = line.map(\.text).joined().truncated(toWidth: area.width, ellipsis: ellipsis)
                var budget = plain.terminalWidth - ellipsis.terminalWidth
                var x = area.x
                for s in line where budget > 0 {
                    let piece = String(s.text.truncated(toWidth: budget, ellipsis: ""))
                    x = buffer.put(piece, x: x, y: y, style: s.style, clip: area)
                    budget -= piece.terminalWidth
                }
                buffer.put(ellipsis, x: x, y: y, style: line.last?.style ?? .plain, clip: area)
            } else {
                buffer.put(line, x: area.x + pad, y: y, clip: area)
            }
        }
    }
}
