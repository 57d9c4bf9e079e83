import LoRAKit
import XCTest
@testable import loratop

final class AppReducerTests: XCTestCase {
    func testHelpIsGeneratedFromTheKeyTableAndListsEveryKey() {
        let help = KeyMap.helpLines().joined(separator: "\n")
        for key in KeyMap.allKeys {
            XCTAssertTrue(help.contains(key.label), "key \(key.label) is bound but missing from help")
        }
        for b in KeyMap.bindings { XCTAssertTrue(help.contains(b.help)) }
    }

    func testEveryBoundKeyDispatchesSomething() {
        for key in KeyMap.allKeys { XCTAssertNotNil(KeyMap.action(for: key), key.label) }
        XCTAssertNil(KeyMap.action(for: .char("x")))
    }

    func testRankKeysDoubleAndHalveFromThePendingValue() {
        var st = AppState()
        st.snapshot.settings.rank = 8
        XCTAssertEqual(reduce(&st, .key(.char("R"))), [.send(.setRank(16))])
        st.snapshot.pending = [.setRank(16)]
        XCTAssertEqual(reduce(&st, .key(.char("R"))), [.send(.setRank(32))])
        st.snapshot.pending = []
        st.snapshot.settings.rank = 1
        XCTAssertEqual(reduce(&st, .key(.char("r"))), [])
        st.snapshot.settings.rank = 256
        XCTAssertEqual(reduce(&st, .key(.char("R"))), [])
    }

    func testLearningRateAlphaDropoutAndQuantKeys() {
        var st = AppState()
        st.snapshot.settings.learningRate = 2e-4
        st.snapshot.settings.alpha = 16
        XCTAssertEqual(reduce(&st, .key(.char("L"))), [.send(.setLearningRate(4e-4))])
        XCTAssertEqual(reduce(&st, .key(.char("l"))), [.send(.setLearningRate(1e-4))])
        XCTAssertEqual(reduce(&st, .key(.char("A"))), [.send(.setAlpha(32))])
        XCTAssertEqual(reduce(&st, .key(.char("p"))), [], "dropout is already 0")
        XCTAssertEqual(reduce(&st, .key(.char("P"))), [.send(.setDropout(0.05))])
        st.snapshot.settings.quantization = "nf4+dq"
        XCTAssertEqual(reduce(&st, .key(.char("b"))), [.send(.setQuantization("source"))])
    }

    func testQuitAsksWhenProgressIsUnsaved() {
        var st = AppState()
        st.snapshot.status = .running
        st.snapshot.unsavedProgress = true
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [])
        XCTAssertTrue(st.confirmQuit)
        XCTAssertEqual(reduce(&st, .key(.escape)), [])
        XCTAssertFalse(st.confirmQuit)
        _ = reduce(&st, .key(.char("q")))
        XCTAssertEqual(reduce(&st, .key(.char("y"))), [.quit(save: true)])
        st.quitting = nil  // once quitting, keys are ignored; start over
        st.snapshot.unsavedProgress = false
        _ = reduce(&st, .key(.char("q")))
        XCTAssertTrue(st.confirmQuit, "a live run asks even when everything is saved")
        XCTAssertEqual(reduce(&st, .key(.char("n"))), [.quit(save: false)])
    }

    func testReadOnlyAndDisconnectedViewersSendNothing() {
        var st = AppState()
        st.snapshot.status = .running
        st.canSend = false
        XCTAssertEqual(reduce(&st, .key(.char("R"))), [])
        XCTAssertTrue(st.viewerNote?.contains("read-only") == true)
        XCTAssertEqual(reduce(&st, .key(.char("q"))), [.detach], "a read-only viewer just leaves")
        var gone = AppState()
        gone.snapshot.status = .running
        _ = reduce(&gone, .disconnected("the run closed the connection"))
        XCTAssertEqual(reduce(&gone, .key(.char(" "))), [])
        XCTAssertEqual(reduce(&gone, .key(.char("q"))), [.detach])
    }

    func testPauseTogglesAndViewKeysChangeOnlyTheView() {
        var st = AppState()
        st.snapshot.status = .running
        XCTAssertEqual(reduce(&st, .key(.char(" "))), [.send(.pause)])
        st.snapshot.pending = [.pause]
        XCTAssertEqual(reduce(&st, .key(.char(" "))), [.send(.resume)])
        XCTAssertEqual(reduce(&st, .key(.char("y"))), [])
        XCTAssertTrue(st.chart.logY)
        let w = st.chart.smoothing
        _ = reduce(&st, .key(.char("]")))
        XCTAssertGreaterThan(st.chart.smoothing, w)
        _ = reduce(&st, .key(.char("?")))
        XCTAssertTrue(st.showHelp)
        _ = reduce(&st, .key(.escape))
        XCTAssertFalse(st.showHelp)
        XCTAssertEqual(reduce(&st, .key(.ctrl("l"))), [.redrawAll])
    }
}
