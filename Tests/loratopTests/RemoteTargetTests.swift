import XCTest
@testable import loratop

/// Which attach targets are remote, and how they become an ssh command.
final class RemoteTargetTests: XCTestCase {
    func testHostColonIDAndSSHURLs() throws {
        XCTAssertEqual(RemoteTarget("gpu-box:k3f9")?.host, "gpu-box")
        XCTAssertEqual(RemoteTarget("gpu-box:k3f9")?.id, "k3f9")
        XCTAssertNil(RemoteTarget("gpu-box:")?.id, "no id: the remote's newest live run")
        let url = try XCTUnwrap(RemoteTarget("ssh://me@gpu-box:2222/k3f9"))
        XCTAssertEqual(url.host, "me@gpu-box")
        XCTAssertEqual(url.port, 2222)
        XCTAssertEqual(url.id, "k3f9")
        XCTAssertNil(RemoteTarget("ssh://gpu-box")?.id)
        XCTAssertNil(RemoteTarget("k3f9"), "an id is local")
        XCTAssertNil(RemoteTarget("runs/a:b"), "a path with a colon is local")
        XCTAssertNil(RemoteTarget(NSTemporaryDirectory()), "an existing folder is local")
        XCTAssertNil(RemoteTarget(nil))
    }

    func testShellQuoting() {
        XCTAssertEqual(shellQuoted("attach"), "attach")
        XCTAssertEqual(shellQuoted("it's"), "'it'\\''s'")
        XCTAssertEqual(shellQuoted(""), "''")
    }
}
