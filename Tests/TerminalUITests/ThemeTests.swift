import XCTest
@testable import TerminalUI

final class TerminalUIThemeTests: XCTestCase {
    func testEveryRepositoryThemeParsesWithoutWarnings() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: repositoryThemes.path).filter { $0.hasSuffix(".theme") }
        XCTAssertGreaterThanOrEqual(files.count, 4)
        for f in files {
            let text = try String(contentsOf: repositoryThemes.appendingPathComponent(f), encoding: .utf8)
            let r = ThemeParser.parse(text, file: f)
            XCTAssertEqual(r.diagnostics, [], f)
            XCTAssertEqual(Set(r.colors.keys), Set(ThemeKey.allCases), "\(f) sets every key")
        }
        let lib = ThemeLibrary(searchPaths: [repositoryThemes])
        XCTAssertEqual(lib.problems, [])
        for name in ["default", "light", "nord", "gruvbox", "high-contrast"] { XCTAssertNoThrow(try lib.theme(named: name)) }
    }

    func testDefaultFileEqualsTheBuiltInDefault() throws {
        let t = try ThemeLibrary(searchPaths: [repositoryThemes]).theme(named: "default")
        XCTAssertEqual(t.colors, Theme.builtinDefault.colors)
    }

    func testValueSyntaxes() {
        let text = """
        # comment
        theme[main_fg]="#1a2B3c"
          theme[title] = "#7f"   # trailing comment
        theme[hi_fg]="255 0 10"
        theme[main_bg]=""
        theme[marker]='#000000'
        theme[no_such_key]="#ffffff"
        """
        let r = ThemeParser.parse(text, file: "x.theme")
        XCTAssertEqual(r.colors[.mainFg], .rgb(RGB(0x1A, 0x2B, 0x3C)))
        XCTAssertEqual(r.colors[.title], .rgb(RGB(0x7F, 0x7F, 0x7F)))
        XCTAssertEqual(r.colors[.hiFg], .rgb(RGB(255, 0, 10)))
        XCTAssertEqual(r.colors[.mainBg], .default)
        XCTAssertEqual(r.colors[.marker], .rgb(RGB(0, 0, 0)))
        XCTAssertTrue(r.isUsable)
        XCTAssertEqual(r.diagnostics.map(\.severity), [.warning])
        XCTAssertEqual(r.diagnostics.first?.line, 7)
        let theme = Theme(name: "x", overrides: r.colors)
        XCTAssertEqual(theme[.trainLine], Theme.builtinDefault[.trainLine], "missing keys fall back to the default")
    }

    func testBrokenFileIsReportedWithFileAndLineAndSkipped() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("tui-themes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "theme[main_fg]=\"#ffffff\"\n\ntheme[title]=\"#12345\"\n".write(to: dir.appendingPathComponent("broken.theme"),
                                                                           atomically: true, encoding: .utf8)
        try "theme[main_fg]=\"#010203\"\n".write(to: dir.appendingPathComponent("nord.theme"), atomically: true, encoding: .utf8)
        try "theme[main_fg]=\"300 0 0\"\nthis is not a theme line\n".write(to: dir.appendingPathComponent("bad2.theme"),
                                                                            atomically: true, encoding: .utf8)
        let lib = ThemeLibrary(searchPaths: [dir, repositoryThemes])
        XCTAssertFalse(lib.names.contains("broken"))
        XCTAssertFalse(lib.names.contains("bad2"))
        let broken = lib.problems.filter { $0.file.hasSuffix("broken.theme") }
        XCTAssertEqual(broken.map(\.line), [3])
        XCTAssertTrue(broken[0].description.hasPrefix(dir.appendingPathComponent("broken.theme").path + ":3: error:"),
                      broken[0].description)
        XCTAssertTrue(broken[0].description.contains("found 5"), broken[0].description)
        XCTAssertEqual(lib.problems.filter { $0.file.hasSuffix("bad2.theme") }.map(\.line), [1, 2])
        // The earlier directory wins for the same name.
        XCTAssertEqual(try lib.theme(named: "nord")[.mainFg], .rgb(RGB(1, 2, 3)))
        // Asking for the broken one says what is wrong with its file, not that there is no such theme.
        XCTAssertThrowsError(try lib.theme(named: "broken")) { e in
            XCTAssertTrue("\(e)".hasPrefix("theme \"broken\" cannot be used: " + dir.appendingPathComponent("broken.theme").path + ":3: error:"), "\(e)")
            XCTAssertFalse("\(e)".contains("no theme named"), "\(e)")
        }
        XCTAssertThrowsError(try lib.theme(named: "absent")) { e in
            XCTAssertTrue("\(e)".hasPrefix("no theme named \"absent\"; available:"), "\(e)")
        }
    }

    func testStandardSearchPathOrder() {
        let paths = ThemeLibrary.standardSearchPaths(themesDir: "/explicit", environment: ["XDG_CONFIG_HOME": "/xdg", "HOME": "/home/u"],
                                                     executablePath: "/opt/lt/bin/loratop", extra: ["/repo/themes"])
        XCTAssertEqual(paths.map(\.path), ["/explicit", "/xdg/loratop/themes", "/opt/lt/share/loratop/themes", "/repo/themes"])
        let noXDG = ThemeLibrary.standardSearchPaths(environment: ["HOME": "/home/u"], executablePath: nil)
        XCTAssertEqual(noXDG.map(\.path), ["/home/u/.config/loratop/themes"])
    }
}

final class TerminalUIColorTests: XCTestCase {
    /// btop's formula written out independently (C `round` = half away from zero).
    func reference256(_ r: Int, _ g: Int, _ b: Int) -> Int {
        func rd(_ v: Int, _ d: Double) -> Int { Int((Double(v) / d).rounded(.toNearestOrAwayFromZero)) }
        if rd(r, 11) == rd(g, 11) && rd(r, 11) == rd(b, 11) { return 232 + rd(r, 11) }
        return 16 + 36 * rd(r, 51) + 6 * rd(g, 51) + rd(b, 51)
    }

    func test256ColourMapping() {
        XCTAssertEqual(RGB(0, 0, 0).xterm256Index, 232)
        XCTAssertEqual(RGB(255, 255, 255).xterm256Index, 255)     // 232 + round(23.18)
        XCTAssertEqual(RGB(128, 128, 128).xterm256Index, 244)     // 232 + round(11.6)
        XCTAssertEqual(RGB(255, 0, 0).xterm256Index, 196)         // 16 + 36·5
        XCTAssertEqual(RGB(0x5F, 0xD7, 0xFF).xterm256Index, 117)     // 16 + 36·2 + 6·4 + 5
        XCTAssertEqual(RGB(5, 0, 0).xterm256Index, 232)           // 5/11 rounds to 0 like 0/11: grey
        XCTAssertEqual(RGB(6, 0, 0).xterm256Index, 16)            // 6/11 rounds to 1, 0/11 to 0: cube
        XCTAssertEqual(RGB(25, 26, 26).xterm256Index, 234)        // 2.27, 2.36 → grey 2
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let (r, g, b) = (Int.random(in: 0...255, using: &rng), Int.random(in: 0...255, using: &rng), Int.random(in: 0...255, using: &rng))
            XCTAssertEqual(Int(RGB(UInt8(r), UInt8(g), UInt8(b)).xterm256Index), reference256(r, g, b))
        }
        XCTAssertEqual(Color.hex(0xFF0000).degraded(to: .ansi256), .indexed(196))
        XCTAssertEqual(Color.hex(0xFF0000).degraded(to: .trueColor), .hex(0xFF0000))
        XCTAssertEqual(Color.default.degraded(to: .ansi256), .default)
    }

    func test16ColourMapping() {
        XCTAssertEqual(RGB(0, 0, 0).ansi16Index, 0)
        XCTAssertEqual(RGB(255, 255, 255).ansi16Index, 15)
        XCTAssertEqual(RGB(200, 10, 10).ansi16Index, 1)
        XCTAssertEqual(RGB(250, 20, 20).ansi16Index, 9)
        XCTAssertEqual(RGB(0x5F, 0xD7, 0xFF).ansi16Index, 14)
        XCTAssertEqual(RGB(120, 120, 120).ansi16Index, 8)
        XCTAssertEqual(RGB(0x26, 0x26, 0x26).ansi16Index, 0)
        // Brute force: no palette entry is strictly closer than the one chosen.
        for v in stride(from: 0, through: 255, by: 17) { for w in stride(from: 0, through: 255, by: 51) {
            let c = RGB(UInt8(v), UInt8(w), UInt8(255 - v))
            let chosen = RGB.ansi16Palette[Int(c.ansi16Index)]
            func d(_ p: RGB) -> Int {
                let dr = Int(c.r) - Int(p.r), dg = Int(c.g) - Int(p.g), db = Int(c.b) - Int(p.b)
                return dr * dr + dg * dg + db * db
            }
            for p in RGB.ansi16Palette { XCTAssertLessThanOrEqual(d(chosen), d(p)) }
        } }
        XCTAssertEqual(Color.indexed(196).degraded(to: .ansi16), .indexed(9))
        XCTAssertEqual(Color.indexed(3).degraded(to: .ansi16), .indexed(3))
        XCTAssertEqual(RGB.xterm256(196), RGB(255, 0, 0))
        XCTAssertEqual(RGB.xterm256(244), RGB(128, 128, 128))
    }

    func testNoColorGivesAttributesOnly() {
        let env = ["NO_COLOR": "1", "TERM": "xterm-256color", "COLORTERM": "truecolor"]
        XCTAssertEqual(ColorCapability.detect(environment: env), .none)
        XCTAssertEqual(ColorCapability.effective(environment: env, cursesColors: 256), .none)
        XCTAssertEqual(ColorCapability.effective(environment: env, cursesColors: 256, forced: .trueColor), .none)
        XCTAssertEqual(ColorCapability.detect(environment: ["NO_COLOR": "", "TERM": "xterm-256color"]), .ansi256,
                       "an empty NO_COLOR does not count")
        let p = Theme.builtinDefault.palette(depth: .none)
        for key in ThemeKey.allCases {
            XCTAssertEqual(p[key].fg, .default, key.rawValue)
            XCTAssertEqual(p[key].bg, .default, key.rawValue)
        }
        XCTAssertEqual(p[.pending].attributes, .reverse)
        XCTAssertEqual(p[.warning].attributes, .bold)
        XCTAssertEqual(p[.ghostLine].attributes, .dim)
        XCTAssertEqual(p.style(fg: .statusFg, bg: .statusBg).attributes, .reverse)
        XCTAssertEqual(p[.error].attributes, [.bold, .underline])
        // With colour, the same keys carry colours and no stand-in attributes.
        let c = Theme.builtinDefault.palette(depth: .ansi256)
        XCTAssertEqual(c[.pending], Style(fg: .indexed(RGB(hex: 0xFFD75F).xterm256Index), bg: .default))
    }

    func testCapabilityDetection() {
        XCTAssertEqual(ColorCapability.detect(environment: ["COLORTERM": "truecolor", "TERM": "xterm"]), .trueColor)
        XCTAssertEqual(ColorCapability.detect(environment: ["COLORTERM": "24bit"]), .trueColor)
        XCTAssertEqual(ColorCapability.detect(environment: ["TERM": "xterm-256color"]), .ansi256)
        XCTAssertEqual(ColorCapability.detect(environment: ["TERM": "tmux-256color"]), .ansi256)
        XCTAssertEqual(ColorCapability.detect(environment: ["TERM": "screen-256color"]), .ansi256)
        XCTAssertEqual(ColorCapability.detect(environment: ["TERM": "xterm"]), .ansi16)
        XCTAssertEqual(ColorCapability.detect(environment: ["TERM": "screen"]), .ansi16)
        XCTAssertEqual(ColorCapability.detect(environment: ["TERM": "linux"]), .ansi16)
        XCTAssertEqual(ColorCapability.detect(environment: ["TERM": "vt100"]), .none)
        XCTAssertEqual(ColorCapability.detect(environment: ["TERM": "dumb"]), .none)
        XCTAssertEqual(ColorCapability.detect(environment: [:]), .none)
        XCTAssertEqual(ColorCapability.depth(cursesColors: 0x100_0000), .trueColor)
        XCTAssertEqual(ColorCapability.depth(cursesColors: 256), .ansi256)
        XCTAssertEqual(ColorCapability.depth(cursesColors: 8), .ansi16)
        XCTAssertEqual(ColorCapability.depth(cursesColors: 0), .none)
        XCTAssertEqual(ColorCapability.effective(environment: ["COLORTERM": "truecolor"], cursesColors: 256), .ansi256)
        XCTAssertEqual(ColorCapability.effective(environment: [:], cursesColors: 256, forced: .ansi16), .ansi16)
        XCTAssertEqual(ColorCapability.effective(environment: [:], cursesColors: 8, forced: .trueColor), .ansi16)
    }

    func testGlyphSetSelection() {
        XCTAssertTrue(GlyphSet.isUTF8(codeset: "UTF-8"))
        XCTAssertTrue(GlyphSet.isUTF8(codeset: "utf8"))
        XCTAssertFalse(GlyphSet.isUTF8(codeset: "ANSI_X3.4-1968"))
        XCTAssertFalse(GlyphSet.isUTF8(codeset: "ISO-8859-1"))
        XCTAssertEqual(GlyphSet.detect(forceASCII: true), .ascii)
        let ascii = GlyphSet.ascii
        let all = [ascii.box.topLeft, ascii.box.horizontal, ascii.vertical, ascii.axisCorner, ascii.ellipsis, ascii.gaugeEmpty,
                   ascii.legendLine, ascii.arrow] + ascii.barEighths + ascii.asciiPoints
        for g in all { XCTAssertTrue(g.unicodeScalars.allSatisfy(\.isASCII), g) }
    }
}
