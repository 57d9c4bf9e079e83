// # TerminalUI
//
// A small terminal-UI toolkit: a cell buffer with frame diffing, rectangle layout, widgets that are pure functions
// of their values, btop-syntax themes with colour degradation, and two backends (ncurses for real terminals, text
// for tests). It knows nothing about training.
//
// ## Pieces
// - `CellBuffer` — a grid of `Cell`s (grapheme + `Style`: fg, bg, bold/dim/reverse/underline). Writes clip to the
//   buffer; `changes(since:)` gives the cells that differ from the previous frame.
// - `Rect` + `split(_:_:)` / `rows` / `columns` with `Constraint.fixed`, `.percent`, `.fill`; `inset(by: Margin)`.
// - Widgets (`Widget.render(into:area:)`): `LineChart` (braille / half blocks / ASCII, log-y, markers, legend),
//   `Bar`, `StackedBar`, `Gauge`, `Table`, `Text` (word wrap), `Box`, `StatusLine`, `Modal`, `Legend`.
// - `Smoothing.exponentialMovingAverage` — TensorBoard's debiased EMA.
// - `GlyphSet.detect(forceASCII:)` — Unicode when the locale is UTF-8, else ASCII.
// - `Theme`, `ThemeLibrary` (search path, file:line diagnostics), `Palette` (theme at a `ColorDepth`; NO_COLOR →
//   attributes only), `ColorCapability`.
// - `TerminalBackend`: `NCursesBackend` (the only code that calls curses) and `TextBackend` (tests).
//
// ## Usage
// ```swift
// import TerminalUI
//
// let glyphs = GlyphSet.detect(forceASCII: false)
// let library = ThemeLibrary(searchPaths: ThemeLibrary.standardSearchPaths(themesDir: nil, extra: ["themes"]))
// for p in library.problems { print(p) }                      // before curses starts
// let theme = (try? library.theme(named: "nord")) ?? .builtinDefault
// let backend = try NCursesBackend()                           // restores the terminal on exit and fatal signals
// defer { backend.shutdown() }
// let palette = theme.palette(depth: backend.colorDepth)
//
// var running = true
// while running {
//     var frame = CellBuffer(size: backend.size, fill: Cell(" ", style: palette[.mainBg]))
//     let rows = frame.bounds.rows([.fill, .fixed(1)])
//     let chartBox = Box(title: "loss", glyphs: glyphs.box, borderStyle: palette[.divLine], titleStyle: palette[.title])
//     frame.render(chartBox, in: rows[0])
//     let losses: [Double] = [2.9, 2.5, 2.2, 2.1, 1.9]
//     frame.render(LineChart(series: [
//         ChartSeries(name: "train", values: losses, style: palette[.trainLine]),
//         ChartSeries(name: "smooth", values: Smoothing.exponentialMovingAverage(losses, weight: 0.6),
//                     style: palette[.smoothLine]),
//     ], markers: [ChartMarker(x: 3, label: "r 8" + glyphs.arrow + "16", style: palette[.marker])],
//        glyphs: glyphs, axisStyle: palette[.graphText], labelStyle: palette[.graphText]), in: Box.inner(rows[0]))
//     frame.render(StatusLine("q quit  ? help", right: "step 5", style: palette.style(fg: .statusFg, bg: .statusBg)),
//                  in: rows[1])
//     backend.present(frame)                                   // writes only the changed cells
//     switch backend.readKey(timeoutMilliseconds: 100) {
//     case .char("q")?: running = false
//     case .ctrl("l")?: backend.invalidate()
//     default: break                                           // .resize: the next frame uses backend.size
//     }
// }
// ```

import CNCurses

/// The toolkit's version.
public enum TerminalUIInfo {
    /// Semantic version of the TerminalUI API.
    public static let version = "0.1.0"
}
