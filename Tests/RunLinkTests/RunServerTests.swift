import Foundation
import LoRAKit
import XCTest
@testable import RunLink

/// The run server over real Unix sockets in a private registry folder: hello, attach, commands and acks, many viewers,
/// read-only viewers, and clients that misbehave (garbage, huge lines, half messages, never reading).
final class RunServerTests: XCTestCase {
    var folder = ""
    var servers: [RunServer] = []
    var engines: [TrainingEngine] = []
    var sessions: [TestSession] = []

    override func setUpWithError() throws {
        folder = NSTemporaryDirectory() + "lt-reg-\(getpid())-\(UInt32.random(in: 0..<UInt32.max))"
    }

    override func tearDown() {
        for e in engines { e.send(.stop(save: false)) }
        for s in sessions {
            s.gated = false
            for _ in 0..<4 { s.release() }
        }
        for s in servers { s.shutdown(drainSeconds: 0) }
        for e in engines { _ = e.wait(seconds: 5) }
        try? FileManager.default.removeItem(atPath: folder)
    }

    func makeRun(steps: Int = 1_000_000, gated: Bool = false, queueLimit: Int? = nil) throws
        -> (TestSession, TrainingEngine, RunServer, RunRegistry) {
        let registry = try RunRegistry(folder: folder)
        let session = TestSession(totalSteps: steps)
        session.gated = gated
        var eo = EngineOptions()
        eo.saveAtEnd = false
        eo.evalAtEnd = false
        let engine = TrainingEngine(session: session, options: eo)
        let info = RunInfo(id: registry.newID(), pid: getpid(), kind: "loratop", mode: "headless", model: "m", data: "d",
                           output: folder, started: Date().timeIntervalSince1970, host: "h")
        var so = RunServer.Options()
        if let q = queueLimit { so.queueLimit = q }
        let server = RunServer(engine: engine, info: info, registry: registry, options: so)
        try server.start()
        servers.append(server)
        engines.append(engine)
        sessions.append(session)
        return (session, engine, server, registry)
    }

    func raw(_ server: RunServer) throws -> RawPeer { RawPeer(fd: try UnixSocket.connect(path: try XCTUnwrap(server.socketPath))) }

    func testRegistryFolderIsPrivateAndSocketIs0600() throws {
        let (_, _, server, registry) = try makeRun()
        var st = stat()
        XCTAssertEqual(stat(registry.folder, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o700)
        XCTAssertEqual(stat(try XCTUnwrap(server.socketPath), &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        chmod(registry.folder, 0o755)
        XCTAssertThrowsError(try RunRegistry(folder: registry.folder)) { e in
            XCTAssertTrue("\(e)".contains("open to other users") && "\(e)".contains("chmod 700"), "\(e)")
        }
        chmod(registry.folder, 0o700)
    }

    func testHelloAttachStateThenEventsAndAcks() throws {
        let (session, engine, server, _) = try makeRun(gated: true)
        engine.start()
        let peer = try raw(server)
        let hello = try XCTUnwrap(peer.next(type: "hello"))
        XCTAssertTrue(hello.contains("\"protocol\":1"), hello)
        peer.send("{\"type\":\"attach\",\"read_only\":false}\n")
        XCTAssertNotNil(peer.next(type: "state"))
        session.waiting.wait()
        session.release()
        let step = try XCTUnwrap(peer.next(type: "step"))
        XCTAssertTrue(step.contains("\"step\":1"), step)
        peer.send("{\"type\":\"command\",\"id\":\"a1\",\"line\":\"lr 1e-4\"}\n")
        let ack = try XCTUnwrap(peer.next(type: "ack"))
        XCTAssertTrue(ack.contains("\"ok\":true") && ack.contains("\"id\":\"a1\"") && ack.contains("lr 0.0001"), ack)
        peer.send("{\"type\":\"command\",\"id\":\"a2\",\"line\":\"rank banana\"}\n")
        let bad = try XCTUnwrap(peer.next(type: "ack"))
        XCTAssertTrue(bad.contains("\"ok\":false") && bad.contains("expected a number"), bad)
        peer.send("{\"type\":\"ping\",\"id\":\"p\"}\n")
        XCTAssertNotNil(peer.next(type: "pong"))
        peer.send("{\"type\":\"from-the-future\",\"x\":1}\n")  // ignored
        peer.send("{\"type\":\"ping\",\"id\":\"q\"}\n")
        XCTAssertNotNil(peer.next(type: "pong"), "an unknown type does not close the connection")
    }

    /// Two viewers: one sends rank 16; both see it pending, then applied at the same step.
    func testEveryViewerSeesPendingThenAppliedWhoeverSentIt() throws {
        let (session, engine, server, _) = try makeRun(gated: true)
        engine.start()
        session.waiting.wait()  // the engine is inside step 1
        let sender = try raw(server), watcher = try raw(server)
        for p in [sender, watcher] {
            XCTAssertNotNil(p.next(type: "hello"))
            p.send("{\"type\":\"attach\",\"read_only\":false}\n")
            XCTAssertNotNil(p.next(type: "state"))
        }
        sender.send("{\"type\":\"command\",\"id\":\"1\",\"line\":\"rank 16\"}\n")
        for p in [sender, watcher] {
            let pending = try XCTUnwrap(p.next(type: "pending"))
            XCTAssertTrue(pending.contains("rank 16"), pending)
        }
        session.release()
        for p in [sender, watcher] {
            let change = try XCTUnwrap(p.next(type: "change"))
            XCTAssertTrue(change.contains("\"step\":1") && change.contains("\"to\":\"16\""), change)
            let settings = try XCTUnwrap(p.next(type: "settings"))
            XCTAssertTrue(settings.contains("\"rank\":16"), settings)
            let cleared = try XCTUnwrap(p.next(type: "pending"))
            XCTAssertTrue(cleared.contains("\"pending\":[]"), cleared)
        }
    }

    func testReadOnlyViewerCannotSend() throws {
        let (_, engine, server, _) = try makeRun()
        let p = try raw(server)
        XCTAssertNotNil(p.next(type: "hello"))
        p.send("{\"type\":\"attach\",\"read_only\":true}\n")
        XCTAssertNotNil(p.next(type: "state"))
        p.send("{\"type\":\"command\",\"id\":\"x\",\"line\":\"pause\"}\n")
        let ack = try XCTUnwrap(p.next(type: "ack"))
        XCTAssertTrue(ack.contains("\"ok\":false") && ack.contains("read-only"), ack)
        XCTAssertEqual(engine.latest.pending, [])
    }

    func testBadClientsAreClosedAndTheRunGoesOn() throws {
        let (session, engine, server, _) = try makeRun(steps: 200, gated: true)
        engine.start()
        // Garbage bytes.
        let garbage = try raw(server)
        XCTAssertNotNil(garbage.next(type: "hello"))
        garbage.send("\u{01}\u{02}not json at all\n")
        let e1 = try XCTUnwrap(garbage.next(type: "error"))
        XCTAssertTrue(e1.contains("malformed"), e1)
        XCTAssertTrue(garbage.waitClosed())
        // A 2 MiB line.
        let huge = try raw(server)
        XCTAssertNotNil(huge.next(type: "hello"))
        huge.send("{\"type\":\"ping\",\"id\":\"" + String(repeating: "x", count: 2 << 20) + "\"}\n")
        let e2 = try XCTUnwrap(huge.next(type: "error"))
        XCTAssertTrue(e2.contains("too_large"), e2)
        XCTAssertTrue(huge.waitClosed())
        // A well-formed line of the wrong shape.
        let shape = try raw(server)
        XCTAssertNotNil(shape.next(type: "hello"))
        shape.send("{\"type\":\"command\",\"id\":5}\n")
        XCTAssertNotNil(shape.next(type: "error"))
        XCTAssertTrue(shape.waitClosed())
        // Half a message, then silence: nothing happens to anyone.
        let half = try raw(server)
        XCTAssertNotNil(half.next(type: "hello"))
        half.send("{\"type\":\"attach\",\"read_")
        // A viewer that attaches and never reads, with a tiny socket buffer so it falls behind at once.
        let lazy = try raw(server)
        var small: Int32 = 4096
        setsockopt(lazy.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        lazy.send("{\"type\":\"attach\",\"read_only\":true}\n")
        // The run is unaffected: all 200 steps happen, in order.
        for _ in 0..<200 {
            session.waiting.wait()
            session.release()
        }
        XCTAssertTrue(engine.wait(seconds: 10))
        XCTAssertEqual(engine.latest.step, 200)
        XCTAssertEqual(engine.latest.trainLoss.map(\.step), Array(1...200))
        // A good viewer still gets a state.
        let good = try raw(server)
        XCTAssertNotNil(good.next(type: "hello"))
        good.send("{\"type\":\"attach\",\"read_only\":true}\n")
        XCTAssertNotNil(good.next(type: "state"))
    }

    /// A viewer far behind is resynchronised: its backlog is dropped and it gets a fresh state when it reads again.
    func testSlowViewerIsResynchronisedNotWaitedFor() throws {
        // 20,000 steps of events (about 4 MB) overflow any socket buffer plus the 16 KiB queue.
        let (_, engine, server, _) = try makeRun(steps: 20_000, queueLimit: 16 << 10)
        let slow = try raw(server)
        var small: Int32 = 4096
        setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        XCTAssertNotNil(slow.next(type: "hello"))
        slow.send("{\"type\":\"attach\",\"read_only\":true}\n")
        engine.start()
        XCTAssertTrue(engine.wait(seconds: 30), "the engine never waits for a viewer")
        // Now read everything: the last state message seen (and events after it) ends at the final step.
        var states = 0
        var lastStep = 0
        while let line = slow.line(timeout: 2) {
            let type = WireCoding.type(of: Array(line.utf8))
            if type == "state" {
                states += 1
                let m = try WireCoding.decoder().decode(StateMessage.self, from: Data(line.utf8))
                lastStep = m.step
            } else if type == "step" {
                let m = try WireCoding.decoder().decode(EventMessage.self, from: Data(line.utf8))
                lastStep = m.record?.step ?? lastStep
            }
            if lastStep == 20_000 { break }
        }
        XCTAssertGreaterThanOrEqual(states, 2, "the slow viewer was resynchronised with a fresh state")
        XCTAssertEqual(lastStep, 20_000)
    }

    func testStaleEntriesOfDeadRunsAreMarkedLostAndCleaned() throws {
        let registry = try RunRegistry(folder: folder)
        // A run that died without cleaning up: its pid is gone, its socket file stays.
        let info = RunInfo(id: "dead01", pid: 999_999_9, kind: "loratop", mode: "headless", model: "m", data: "d",
                           output: "/tmp/x", started: 1, host: "h")
        let sock = registry.socketPath(id: "dead01")
        FileManager.default.createFile(atPath: sock, contents: Data())
        try registry.write(RegistryEntry(run: info, progress: RunProgress(status: "running", step: 3, totalSteps: 9, loss: 1,
                                                                           tokensPerSecond: 1, eta: nil), socket: sock, ended: nil))
        let entries = registry.entries()
        let e = try XCTUnwrap(entries.first { $0.run.id == "dead01" })
        XCTAssertEqual(e.progress.status, "lost")
        XCTAssertNotNil(e.ended)
        XCTAssertFalse(FileManager.default.fileExists(atPath: sock))
        XCTAssertThrowsError(try registry.find(nil))  // no live run
    }

    func testClientMirrorsALiveRunAndStopsIt() throws {
        let (_, engine, server, registry) = try makeRun(steps: 50)
        let client = try RunClient.connect(path: try XCTUnwrap(server.socketPath))
        try client.attach(readOnly: false)
        engine.start()
        XCTAssertTrue(engine.wait(seconds: 10))
        let deadline = Date().addingTimeInterval(5)
        while client.latest.snapshot.status != .finished && Date() < deadline { usleep(2000) }
        XCTAssertEqual(client.latest.snapshot.trainLoss, engine.latest.trainLoss)
        XCTAssertEqual(client.latest.snapshot.status, .finished)
        server.shutdown()
        let entry = try XCTUnwrap(registry.entry(id: server.info.id))
        XCTAssertEqual(entry.progress.status, "finished")
        XCTAssertNotNil(entry.ended)
        let closedBy = Date().addingTimeInterval(5)
        while client.closeReason == nil && Date() < closedBy { usleep(2000) }
        XCTAssertNotNil(client.closeReason)
        client.close()
    }
}
