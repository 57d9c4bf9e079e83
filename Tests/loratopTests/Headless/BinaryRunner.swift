import Foundation
import XCTest

/// Runs the built `loratop` binary as a child process, feeding stdin and reading stdout lines as they come.
final class BinaryRunner: @unchecked Sendable {
    /// The repository root (for sample-data and themes).
    static let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    /// The built executable next to the test bundle.
    static func binary() throws -> URL {
        for start in [Bundle.main.bundleURL, Bundle(for: BinaryRunner.self).bundleURL,
                      URL(fileURLWithPath: CommandLine.arguments.first ?? ".")] {
            var dir = start
            for _ in 0..<3 {
                let candidate = dir.appendingPathComponent("loratop")
                if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
                dir = dir.deletingLastPathComponent()
            }
        }
        throw XCTSkip("the loratop executable is not built next to the tests; run `swift build` first")
    }

    let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let stderrPipe = Pipe()
    private let lock = NSLock()
    private var lines: [String] = []
    private var rawLines: [String] = []
    private var partial = Data()
    private var errText = Data()

    /// Runs `loratop ARGUMENTS`; with `wrapper` (e.g. ["/usr/bin/nohup"]) runs `WRAPPER loratop ARGUMENTS`.
    init(_ arguments: [String], environment: [String: String] = [:], wrapper: [String] = []) throws {
        if let w = wrapper.first {
            process.executableURL = URL(fileURLWithPath: w)
            process.arguments = Array(wrapper.dropFirst()) + [try BinaryRunner.binary().path] + arguments
        } else {
            process.executableURL = try BinaryRunner.binary()
            process.arguments = arguments
        }
        process.currentDirectoryURL = BinaryRunner.repoRoot
        var env = ProcessInfo.processInfo.environment
        for (k, v) in TestRuntime.environment { env[k] = v }
        for (k, v) in environment { env[k] = v }
        process.environment = env
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        stdoutPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock()
            self.partial.append(d)
            while let nl = self.partial.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: self.partial[self.partial.startIndex..<nl], as: UTF8.self)
                self.rawLines.append(line)
                self.lines.append(BinaryRunner.unstamped(line))
                self.partial.removeSubrange(self.partial.startIndex...nl)
            }
            self.lock.unlock()
        }
        stderrPipe.fileHandleForReading.readabilityHandler = { [weak self] h in
            let d = h.availableData
            guard let self, !d.isEmpty else { return }
            self.lock.lock()
            self.errText.append(d)
            self.lock.unlock()
        }
        try process.run()
    }

    /// Lines printed so far, without the time of day headless lines start with ("01:02:03  step 1/5 …" as "step 1/5 …").
    var output: [String] {
        lock.lock()
        defer { lock.unlock() }
        return lines
    }

    /// Lines printed so far, as printed.
    var rawOutput: [String] {
        lock.lock()
        defer { lock.unlock() }
        return rawLines
    }

    /// `line` without a leading "HH:MM:SS  " stamp.
    static func unstamped(_ line: String) -> String {
        let b = Array(line.utf8.prefix(10))
        let digits = [0, 1, 3, 4, 6, 7].allSatisfy { $0 < b.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[$0]) }
        guard b.count == 10, digits, b[2] == UInt8(ascii: ":"), b[5] == UInt8(ascii: ":"), b[8] == 32, b[9] == 32 else { return line }
        return String(line.dropFirst(10))
    }

    /// What the process wrote to stderr so far.
    var errors: String {
        lock.lock()
        defer { lock.unlock() }
        return String(decoding: errText, as: UTF8.self)
    }

    /// Waits until a printed line satisfies `match` (returns it), or fails after `timeout` seconds.
    @discardableResult
    func waitForLine(timeout: Double = 120, _ match: (String) -> Bool) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let l = output.first(where: match) { return l }
            if !process.isRunning, output.first(where: match) == nil {
                throw Failure("process ended before the expected line; stderr: \(errors)")
            }
            usleep(20_000)
        }
        throw Failure("timed out waiting for a line; last lines: \(output.suffix(5)); stderr: \(errors)")
    }

    /// Writes a line to the child's stdin.
    func send(_ line: String) {
        stdinPipe.fileHandleForWriting.write(Data((line + "\n").utf8))
    }

    /// Closes stdin.
    func closeInput() { try? stdinPipe.fileHandleForWriting.close() }

    /// Waits for the exit and returns the status (a signal death counts as 128 + n).
    func waitForExit(timeout: Double = 120) throws -> Int32 {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            process.terminate()
            throw Failure("process did not exit within \(timeout) s")
        }
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }
}
