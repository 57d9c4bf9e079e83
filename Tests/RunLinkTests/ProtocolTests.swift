import Foundation
import LoRAKit
import XCTest
@testable import RunLink

/// Framing, decimation and the snapshot mapping: the pieces every server and viewer share.
final class ProtocolTests: XCTestCase {
    func testFramerSplitsLinesAcrossChunksAndRefusesOversizedOnes() {
        var f = LineFramer(limit: 10)
        XCTAssertEqual(f.feed(Array("ab".utf8)), [])
        XCTAssertEqual(f.feed(Array("c\nde\r\nf".utf8)), [.line(Array("abc".utf8)), .line(Array("de".utf8))])
        XCTAssertEqual(f.bufferedCount, 1)
        XCTAssertEqual(f.feed(Array("0123456789x".utf8)), [.tooLong])
        // A line of exactly the limit passes.
        var g = LineFramer(limit: 4)
        XCTAssertEqual(g.feed(Array("abcd\n".utf8)), [.line(Array("abcd".utf8))])
        XCTAssertEqual(g.feed(Array("abcde\n".utf8)), [.tooLong])
    }

    /// What the server makes of a viewer's line, and what a viewer makes of the run's.
    func testLinesAreReadIntoRequestsAndMessagesOrRefusedWithAReason() throws {
        func read(_ text: String) throws -> ViewerRequest { try ViewerRequest.read(Array(text.utf8)) }
        XCTAssertEqual(try read(" \t"), .blank)
        XCTAssertEqual(try read(#"{"type":"hello","protocol":3}"#), .hello(protocol: 3))
        XCTAssertEqual(try read(#"{"type":"attach","read_only":true}"#),
                       .attach(AttachMessage(readOnly: true, points: nil, client: nil)))
        XCTAssertEqual(try read(#"{"type":"command","id":"7","line":"rank 8"}"#), .command(CommandMessage(id: "7", line: "rank 8")))
        XCTAssertEqual(try read(#"{"type":"ping","id":"p"}"#), .ping(id: "p"))
        XCTAssertEqual(try read(#"{"type":"detach"}"#), .detach)
        XCTAssertEqual(try read(#"{"type":"resize","cols":80}"#), .unknown, "a newer client's types are ignored")
        for bad in ["not json", "[1,2]", #"{"kind":"attach"}"#] {
            XCTAssertThrowsError(try read(bad)) { XCTAssertEqual(($0 as? ProtocolRefusal)?.code, "malformed", bad) }
        }
        // Fields that do not fit: refused, the type named with its control bytes escaped.
        XCTAssertThrowsError(try read("{\"type\":\"ping\",\"id\":5}")) { e in
            XCTAssertTrue((e as? ProtocolRefusal)?.message.hasPrefix("a \"ping\" message could not be read") == true, "\(e)")
        }
        XCTAssertEqual(try read("{\"type\":\"x\\u001b[2J\"}"), .unknown)

        XCTAssertEqual(RunMessage.read(Array(#"{"type":"ack","id":"1","ok":false,"error":"no"}"#.utf8)),
                       .ack(AckMessage(id: "1", ok: false, command: nil, error: "no")))
        XCTAssertEqual(RunMessage.read(Array(#"{"type":"pong","id":"p"}"#.utf8)), .greeting)
        XCTAssertNil(RunMessage.read(Array(#"{"type":"state"}"#.utf8)), "a state without its fields is skipped")
        XCTAssertNil(RunMessage.read(Array("\u{1b}[2J".utf8)))
    }

    func testDecimationKeepsEnvelopeEndsAndLimit() {
        let points = (1...100_000).map { LossPoint(step: $0, value: Float(($0 * 7919) % 1000) / 100 + ($0 == 50_000 ? 99 : 0)) }
        let d = SnapshotCodec.decimate(points, limit: 2000)
        XCTAssertLessThanOrEqual(d.count, 2000)
        XCTAssertEqual(d.first?.step, 1)
        XCTAssertEqual(d.last?.step, 100_000)
        XCTAssertEqual(d.map(\.step), d.map(\.step).sorted(), "steps stay in order")
        XCTAssertEqual(d.map(\.value).max(), points.map(\.value).max(), "the spike survives")
        XCTAssertEqual(d.map(\.value).min(), points.map(\.value).min())
        XCTAssertEqual(SnapshotCodec.decimate(Array(points.prefix(10)), limit: 2000).count, 10)
    }

    func testEveryCommandLineParsesBackToItself() throws {
        let commands: [Command] = [.setRank(16), .setAlpha(32), .setAlpha(0.1), .setLearningRate(1e-4), .setLearningRate(3.3e-7),
                                   .setDropout(0.05), .setQuantization("nf4"), .pause, .resume, .saveCheckpoint, .evaluateNow,
                                   .sampleNow, .restart, .stop(save: true), .stop(save: false)]
        for c in commands { XCTAssertEqual(try Command.parse(c.line), c, c.line) }
    }

    /// The mirror fed a state and then events builds the same snapshot the engine has (what a viewer draws).
    func testMirrorFollowsEngineExactly() throws {
        let session = TestSession(totalSteps: 40)
        var opts = EngineOptions()
        opts.evalEvery = 10
        let engine = TrainingEngine(session: session, options: opts)
        let lock = NSLock()
        var events: [(UInt64, EngineEvent)] = []
        var atStep5: Snapshot?
        engine.observe(sequenced: { seq, e in
            lock.lock()
            events.append((seq, e))
            lock.unlock()
        })
        engine.observe { e in
            if case .step(let r) = e, r.step == 5 { atStep5 = engine.latest }
        }
        engine.send(.setRank(16))
        engine.start()
        engine.wait()
        let start = try XCTUnwrap(atStep5)
        var mirror = SnapshotMirror()
        let enc = WireCoding.encoder(), dec = WireCoding.decoder()
        // Through JSON, as a viewer gets it.
        mirror.apply(try dec.decode(StateMessage.self, from: enc.encode(SnapshotCodec.state(start, memory: nil))))
        for (seq, e) in events {
            mirror.apply(try dec.decode(EventMessage.self, from: enc.encode(SnapshotCodec.event(e, seq: seq))))
        }
        let want = engine.latest, got = mirror.snapshot
        XCTAssertEqual(got.step, want.step)
        XCTAssertEqual(got.trainLoss, want.trainLoss, "every step once, in order")
        XCTAssertEqual(got.evalLoss, want.evalLoss)
        XCTAssertEqual(got.learningRates, want.learningRates)
        XCTAssertEqual(got.changes, want.changes)
        XCTAssertEqual(got.settings, want.settings)
        XCTAssertEqual(got.status, want.status)
        XCTAssertEqual(got.trainableParameters, want.trainableParameters)
        XCTAssertEqual(got.tokensPerSecond, want.tokensPerSecond, accuracy: 1e-9)
        XCTAssertEqual(got.elapsed, want.elapsed, accuracy: 1e-9)
        XCTAssertEqual(got.lastCheckpoint, want.lastCheckpoint)
        XCTAssertEqual(got.unsavedProgress, want.unsavedProgress)
        XCTAssertEqual(got.pending, [])
    }

    /// A phase's progress crosses the wire in the state and in events, and an event without one ends the phase.
    func testPhaseProgressCrossesTheWireAndEnds() throws {
        let enc = WireCoding.encoder(), dec = WireCoding.decoder()
        var start = Snapshot()
        start.status = .evaluating
        start.progress = PhaseProgress(phase: "evaluating", done: 1, total: 12, seconds: 0.5)
        var mirror = SnapshotMirror()
        mirror.apply(try dec.decode(StateMessage.self, from: enc.encode(SnapshotCodec.state(start, memory: nil))))
        XCTAssertEqual(mirror.snapshot.progress, start.progress)
        let moved = PhaseProgress(phase: "evaluating", done: 7, total: 12, seconds: 3.25)
        let line = try enc.encode(SnapshotCodec.event(.progress(moved), seq: 1))
        XCTAssertTrue(String(decoding: line, as: UTF8.self).contains("\"type\":\"progress\""))
        XCTAssertTrue(mirror.apply(try dec.decode(EventMessage.self, from: line)))
        XCTAssertEqual(mirror.snapshot.progress, moved)
        XCTAssertTrue(mirror.apply(try dec.decode(EventMessage.self, from: enc.encode(SnapshotCodec.event(.progress(nil), seq: 2)))))
        XCTAssertNil(mirror.snapshot.progress)
    }

    func testNonFiniteNumbersCrossTheWire() throws {
        var m = EventMessage(type: "step", seq: 3)
        m.record = StepRecord(step: 3, loss: .nan, learningRate: 1e-4, gradNorm: .infinity, tokens: 1, seconds: 1, epoch: 0)
        let text = String(decoding: try WireCoding.encoder().encode(m), as: UTF8.self)
        XCTAssertTrue(text.contains("\"loss\":\"NaN\"") && text.contains("\"grad_norm\":\"Infinity\""), text)
        let back = try WireCoding.decoder().decode(EventMessage.self, from: Data(text.utf8))
        XCTAssertTrue(back.record?.loss.isNaN == true)
    }

    func testMemoryEventsOnlyForRealChanges() {
        let part = MemoryState.Part(name: "LoRA A/B", bytes: 100, kind: .adapters)
        let a = MemoryState(parts: [part], residentBytes: 500 << 20, peakResidentBytes: 500 << 20, methods: [])
        var b = a
        b.residentBytes = (500 << 20) + 4096
        XCTAssertFalse(RunServer.memoryChanged(from: a, to: b), "a page of drift is not news")
        b.residentBytes = 520 << 20
        XCTAssertTrue(RunServer.memoryChanged(from: a, to: b))
        var c = a
        c.parts[0].bytes = 200
        XCTAssertTrue(RunServer.memoryChanged(from: a, to: c), "the accounting changed (a rank change)")
        XCTAssertTrue(RunServer.memoryChanged(from: nil, to: a))
        XCTAssertFalse(RunServer.memoryChanged(from: nil, to: nil))
    }
}
