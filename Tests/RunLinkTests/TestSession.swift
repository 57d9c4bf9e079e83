import Dispatch
import Foundation
import LoRAKit

/// A TrainingSession with no model for the server tests: losses fall as 1/step; steps can be held at a gate so a
/// test decides exactly when the engine reaches a step boundary (no timing).
final class TestSession: TrainingSession, @unchecked Sendable {
    var settings = TrainingSettings()
    var step = 0
    var totalSteps: Int
    var epoch: Double { Double(step) / 10 }
    var trainableParameters = 1234
    var baseParameters = 100_000
    /// When set, every step waits for one `release()` first.
    var gated = false
    private let gate = DispatchSemaphore(value: 0)
    /// Signalled when a gated step is waiting.
    let waiting = DispatchSemaphore(value: 0)

    init(totalSteps: Int) { self.totalSteps = totalSteps }

    /// Lets one gated step finish.
    func release() { gate.signal() }

    func trainStep() throws -> StepRecord {
        if gated {
            waiting.signal()
            gate.wait()
        }
        step += 1
        return StepRecord(step: step, loss: 1 / Float(step), learningRate: settings.learningRate, gradNorm: 1,
                          tokens: 512, seconds: 0.001, epoch: epoch)
    }

    func evaluate() throws -> EvalRecord? { EvalRecord(step: step, loss: 2 / Float(step + 1), seconds: 0) }
    func sample() throws -> [SampleRecord] { [] }

    func apply(_ command: Command) throws -> ChangeEvent {
        switch command {
        case .setRank(let r):
            defer { settings.rank = r; trainableParameters = 154 * r }
            return ChangeEvent(step: step, kind: "rank", from: "\(settings.rank)", to: "\(r)")
        case .setAlpha(let a):
            defer { settings.alpha = a }
            return ChangeEvent(step: step, kind: "alpha", from: formatNumber(settings.alpha), to: formatNumber(a))
        case .setLearningRate(let lr):
            defer { settings.learningRate = lr }
            return ChangeEvent(step: step, kind: "lr", from: formatNumber(settings.learningRate), to: formatNumber(lr))
        default:
            throw LinkError("\(command.label): not supported by the test session")
        }
    }

    func saveCheckpoint(history: TrainingHistory) throws -> String { "/tmp/test-checkpoint-\(step)" }
    func restart() throws { step = 0 }
}

/// A raw protocol peer for tests: writes lines, reads lines with a timeout.
final class RawPeer {
    let fd: Int32
    private var framer = LineFramer(limit: 64 << 20)
    private var lines: [[UInt8]] = []
    private(set) var closed = false

    init(fd: Int32) { self.fd = fd }
    deinit { close(fd) }

    func send(_ text: String) { _ = UnixSocket.writeAll(fd, Array(text.utf8)) }

    /// The next line within `timeout` seconds, or nil (timeout or closed; `closed` tells which).
    func line(timeout: Double = 5) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while lines.isEmpty && !closed {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return nil }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, Int32(left * 1000) + 1) <= 0 { continue }
            var buf = [UInt8](repeating: 0, count: 65536)
            let n = buf.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { closed = true; break }
            for out in framer.feed(buf[0..<n]) { if case .line(let l) = out { lines.append(l) } }
        }
        return lines.isEmpty ? nil : String(decoding: lines.removeFirst(), as: UTF8.self)
    }

    /// Reads lines until one whose type is `type` (returns it), or nil.
    func next(type: String, timeout: Double = 5) -> String? {
        let deadline = Date().addingTimeInterval(timeout)
        while let l = line(timeout: max(0.01, deadline.timeIntervalSinceNow)) {
            if WireCoding.type(of: Array(l.utf8)) == type { return l }
        }
        return nil
    }

    /// Waits until the server has closed the connection.
    func waitClosed(timeout: Double = 5) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while !closed && Date() < deadline { _ = line(timeout: 0.2) }
        return closed
    }
}

@testable import RunLink
