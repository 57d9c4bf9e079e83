import XCTest
import Foundation
@testable import TerminalUI
import CNCurses

/// Drives the real ncurses backend on a pseudo-terminal and reads what it writes.
final class TerminalUINCursesTests: XCTestCase {
    var master: Int32 = -1
    var slave: Int32 = -1

    override func setUpWithError() throws {
        guard FileManager.default.fileExists(atPath: "/lib/terminfo/x/xterm-256color")
                || FileManager.default.fileExists(atPath: "/usr/share/terminfo/x/xterm-256color") else {
            throw XCTSkip("no xterm-256color terminfo entry on this machine")
        }
        XCTAssertEqual(cnc_open_pty(&master, &slave), 0)
        setenv("LINES", "12", 1)
        setenv("COLUMNS", "40", 1)
    }

    override func tearDown() {
        if slave >= 0 { close(slave) }
        if master >= 0 { close(master) }
        unsetenv("LINES"); unsetenv("COLUMNS")
    }

    /// Everything the backend wrote so far (waits briefly for it).
    func drain() -> [UInt8] {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            var p = pollfd(fd: master, events: Int16(POLLIN), revents: 0)
            guard poll(&p, 1, 100) > 0 else { break }
            let n = read(master, &buf, buf.count)
            guard n > 0 else { break }
            out += buf[0..<n]
        }
        return out
    }

    func contains(_ hay: [UInt8], _ needle: String) -> Bool {
        let n = Array(needle.utf8)
        guard n.count <= hay.count else { return false }
        for i in 0...(hay.count - n.count) where hay[i] == n[0] && Array(hay[i..<i + n.count]) == n { return true }
        return false
    }

    func testFramesKeysAndShutdownOnARealTerminal() throws {
        let backend = try NCursesBackend(options: NCursesOptions(environment: [:], installRestoreHandlers: false,
                                                                 terminalType: "xterm-256color", inputFD: slave, outputFD: slave))
        XCTAssertEqual(backend.size, Size(width: 40, height: 12))
        XCTAssertEqual(backend.colorDepth, .ansi256)
        _ = drain()

        var frame = CellBuffer(size: backend.size)
        frame.render(Box(title: "loss"), in: frame.bounds)
        frame.put("hello ⣿", x: 2, y: 2, style: Style(fg: .hex(0xFF0000)))
        backend.present(frame)
        let first = drain()
        XCTAssertTrue(contains(first, "hello"), "frame text reaches the terminal")
        XCTAssertTrue(contains(first, "⣿"), "braille is written as a wide character")
        XCTAssertTrue(contains(first, "╭─ loss"), "box drawing is written as Unicode")
        XCTAssertTrue(contains(first, "38;5;196"), "#FF0000 is shown as xterm-256 colour 196")

        frame.put("j", x: 2, y: 2, style: Style(fg: .hex(0xFF0000)))
        backend.present(frame)
        let second = drain()
        XCTAssertGreaterThan(second.count, 0)
        XCTAssertLessThan(second.count, 40, "one changed cell writes a few bytes: \(String(decoding: second, as: UTF8.self).debugDescription)")
        backend.present(frame)
        XCTAssertLessThan(drain().count, 8, "an unchanged frame writes (almost) nothing")

        _ = write(master, "q", 1)
        XCTAssertEqual(backend.readKey(timeoutMilliseconds: 500), .char("q"))
        _ = write(master, "\u{1B}OA", 3)
        XCTAssertEqual(backend.readKey(timeoutMilliseconds: 500), .up)
        _ = write(master, "\u{0C}", 1)
        XCTAssertEqual(backend.readKey(timeoutMilliseconds: 500), .ctrl("l"))
        XCTAssertNil(backend.readKey(timeoutMilliseconds: 10))

        backend.shutdown()
        let bye = drain()
        XCTAssertGreaterThan(bye.count, 0, "shutdown restores the terminal")
        backend.shutdown()
        backend.present(frame)
        XCTAssertEqual(drain().count, 0, "after shutdown nothing is written")
    }

    func testNoColorOnARealTerminalUsesAttributesOnly() throws {
        let backend = try NCursesBackend(options: NCursesOptions(environment: ["NO_COLOR": "1"], installRestoreHandlers: false,
                                                                 terminalType: "xterm-256color", inputFD: slave, outputFD: slave))
        defer { backend.shutdown() }
        XCTAssertEqual(backend.colorDepth, .none)
        _ = drain()
        let palette = Theme.builtinDefault.palette(depth: backend.colorDepth)
        var frame = CellBuffer(size: backend.size)
        frame.put("pending", x: 0, y: 0, style: palette[.pending])
        frame.put("x", x: 0, y: 1, style: Style(fg: .hex(0x00FF00)))
        backend.present(frame)
        let out = drain()
        XCTAssertTrue(contains(out, "pending"))
        // ncurses only ever resets to the default pair ("\e[39;49m"); nothing sets a colour.
        let text = String(decoding: out, as: UTF8.self).replacingOccurrences(of: "\u{1B}[39;49m", with: "")
        for colour in ["38;5;", "\u{1B}[3", "\u{1B}[9", "\u{1B}[4"] {
            XCTAssertFalse(text.contains(colour), "no colour escapes: \(text.debugDescription)")
        }
        XCTAssertTrue(text.contains("7mpending"), "pending is reverse video: \(text.debugDescription)")
    }

    func testStartingWithoutATerminalIsAnError() {
        let devnull = open("/dev/null", O_RDWR)
        defer { close(devnull) }
        XCTAssertThrowsError(try NCursesBackend(options: NCursesOptions(installRestoreHandlers: false, inputFD: devnull,
                                                                        outputFD: devnull))) { e in
            XCTAssertTrue("\(e)".contains("--headless"), "\(e)")
        }
    }
}
