import LoRAKit
import TerminalUI
import XCTest
@testable import loratop

/// Reducer cases the app loop added (signals, suspend, help scrolling, memory), key mapping and theme folders.
final class AppLoopTests: XCTestCase {
    func testSignalStopsWithASaveOnceAndIgnoresKeysWhileStopping() {
        var st = AppState()
        st.snapshot.status = .running
        st.snapshot.unsavedProgress = true
        st.showHelp = true
        XCTAssertEqual(reduce(&st, .signal(SIGINT)), [.quit(save: true)])
        XCTAssertEqual(st.quitting, true)
        XCTAssertEqual(st.stopSignal, SIGINT)
        XCTAssertFalse(st.showHelp)
        XCTAssertEqual(reduce(&st, .signal(SIGTERM)), [], "a second signal does not stop twice")
        XCTAssertEqual(st.stopSignal, SIGINT)
        XCTAssertEqual(reduce(&st, .key(.char("R"))), [], "no commands while stopping")
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        XCTAssertEqual(reduce(&st, .key(.ctrl("l"))), [.redrawAll])
    }

    func testQuitChoicesSetWhetherToSave() {
        var st = AppState()
        st.snapshot.status = .running
        st.snapshot.unsavedProgress = true
        _ = reduce(&st, .key(.char("q")))
        XCTAssertEqual(reduce(&st, .key(.char("n"))), [.quit(save: false)])
        XCTAssertEqual(st.quitting, false)
        var st2 = AppState()
        st2.snapshot.status = .finished
        st2.snapshot.unsavedProgress = true
        XCTAssertEqual(reduce(&st2, .key(.char("q"))), [.detach], "a finished run is left without asking")
        var st3 = AppState()
        st3.snapshot.status = .running
        _ = reduce(&st3, .key(.char("q")))
        XCTAssertTrue(st3.confirmQuit, "a live run always asks: stop and save / stop / detach / cancel")
        XCTAssertEqual(reduce(&st3, .key(.char("d"))), [.detach])
        XCTAssertNil(st3.quitting, "detaching stops nothing")
        XCTAssertEqual(reduce(&st3, .key(.char("d"))), [.detach], "d detaches without asking")
    }

    func testCtrlZSuspendsEvenFromHelp() {
        var st = AppState()
        XCTAssertEqual(reduce(&st, .key(.ctrl("z"))), [.suspend])
        st.showHelp = true
        XCTAssertEqual(reduce(&st, .key(.ctrl("z"))), [.suspend])
        XCTAssertTrue(st.showHelp)
        XCTAssertTrue(KeyMap.helpLines().contains { $0.contains("Ctrl-Z") && $0.contains("suspend") })
    }

    func testArrowsScrollTheHelpWhileItIsOpenAndSamplesOtherwise() {
        var st = AppState()
        _ = reduce(&st, .key(.char("?")))
        _ = reduce(&st, .key(.down))
        _ = reduce(&st, .key(.pageDown))
        XCTAssertEqual(st.helpScroll, 11)
        XCTAssertEqual(st.scroll, 0)
        for _ in 0..<KeyMap.helpLines().count / 10 + 2 { _ = reduce(&st, .key(.pageDown)) }
        XCTAssertEqual(st.helpScroll, KeyMap.helpLines().count - 1, "scrolling stops at the last line")
        _ = reduce(&st, .key(.up))
        XCTAssertEqual(st.helpScroll, KeyMap.helpLines().count - 2)
        _ = reduce(&st, .key(.escape))
        XCTAssertFalse(st.showHelp)
        _ = reduce(&st, .key(.down))
        XCTAssertEqual(st.scroll, 1)
        _ = reduce(&st, .key(.char("?")))
        XCTAssertEqual(st.helpScroll, 0, "help opens at the top")
    }

    func testMemoryAndSnapshotEventsReplaceTheirValues() {
        var st = AppState()
        let m = MemoryFigures(parts: [.init(name: "base nf4", bytes: 10, kind: .baseWeights)], residentBytes: 20)
        XCTAssertEqual(reduce(&st, .memory(m)), [])
        XCTAssertEqual(st.memory, m)
        var s = Snapshot()
        s.version = 9
        s.step = 3
        XCTAssertEqual(reduce(&st, .snapshot(s)), [])
        XCTAssertEqual(st.snapshot.version, 9)
        XCTAssertEqual(reduce(&st, .resize(width: 80, height: 24)), [.redrawAll])
        XCTAssertEqual(st.width, 80)
    }

    func testThemeKeyCyclesThroughTheLibrarysNames() {
        var st = AppState()
        st.themeNames = ["default", "gruvbox", "nord"]
        XCTAssertEqual(reduce(&st, .key(.char("t"))), [.redrawAll])
        XCTAssertEqual(st.themeName, "gruvbox")
        _ = reduce(&st, .key(.char("t")))
        _ = reduce(&st, .key(.char("t")))
        XCTAssertEqual(st.themeName, "default")
    }

    func testTerminalKeysMapToAppKeys() {
        XCTAssertEqual(AppKey(Key.char("R")), .char("R"))
        XCTAssertEqual(AppKey(Key.ctrl("l")), .ctrl("l"))
        XCTAssertEqual(AppKey(Key.function(1)), .f1)
        XCTAssertEqual(AppKey(Key.escape), .escape)
        XCTAssertEqual(AppKey(Key.pageDown), .pageDown)
        XCTAssertNil(AppKey(Key.function(2)))
        XCTAssertEqual(AppKey(Key.left), .left)
        XCTAssertNil(AppKey(Key.home))
        XCTAssertNil(AppKey(Key.resize))
        for key in KeyMap.allKeys {
            let terminal: Key
            switch key {
            case .char(let c): terminal = .char(c)
            case .ctrl(let c): terminal = .ctrl(c)
            case .up: terminal = .up
            case .down: terminal = .down
            case .left: terminal = .left
            case .right: terminal = .right
            case .pageUp: terminal = .pageUp
            case .pageDown: terminal = .pageDown
            case .f1: terminal = .function(1)
            case .escape: terminal = .escape
            case .enter: terminal = .enter
            }
            XCTAssertEqual(AppKey(terminal), key, "every bound key can arrive from the terminal")
        }
    }

    func testThemeFoldersAreFoundAboveASwiftPMBuild() {
        let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let exe = repo.appendingPathComponent(".build/release/loratop").path
        let found = AppOptions.defaultThemeFolders(executable: exe, currentDirectory: "/")
        XCTAssertEqual(found, [repo.appendingPathComponent("themes").standardizedFileURL.path])
        let library = ThemeLibrary(searchPaths: found.map { URL(fileURLWithPath: $0) })
        XCTAssertTrue(Set(["default", "gruvbox", "light", "nord", "high-contrast"]).isSubset(of: Set(library.names)))
        XCTAssertEqual(AppOptions.defaultThemeFolders(executable: "/nonexistent/bin/loratop", currentDirectory: "/nonexistent"), [])
    }
}
