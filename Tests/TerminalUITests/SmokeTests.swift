import XCTest
@testable import TerminalUI

final class TerminalUISmokeTests: XCTestCase {
    func testModuleLoads() { XCTAssertTrue(true) }
}
