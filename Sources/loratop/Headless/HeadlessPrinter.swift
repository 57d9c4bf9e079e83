import Foundation
import LoRAKit

/// Turns engine events into one progress line per step (and a line per eval, change and checkpoint) on stdout, each
/// under the time of day, each event once. It is a consumer of the same engine and events as the TUI and the JSONL
/// log; it never drives training.
final class HeadlessPrinter: @unchecked Sendable {
    private let totalSteps: Int
    private let fds: [Int32]
    private let now: () -> Double
    private let errors: Int32
    private var elapsed = 0.0
    /// Seconds of the last (up to 20) steps: the ETA is the steps left at their mean, as the dashboard counts it.
    private var recentSeconds: [Double] = []
    /// The engine also notes each change as a message for the status line; the change line says it already.
    private var changeNotes: [String] = []
    /// The engine notes each save for the status line too; the checkpoint line says it already.
    private var lastCheckpoint: String?

    /// A printer of progress lines to `fds` (stdout, and the run's log). A write that fails (the terminal hung up, the
    /// pipe closed, the disk is full) turns that output off for good; training is not affected. `now` gives the wall
    /// time (seconds since 1970) the lines are stamped with. Warnings, errors and a failure also go to `errors`.
    init(totalSteps: Int, fds: [Int32] = [STDOUT_FILENO], errors: Int32 = STDERR_FILENO,
         now: @escaping () -> Double = { Date().timeIntervalSince1970 }) {
        self.totalSteps = totalSteps
        self.fds = fds
        self.errors = errors
        self.now = now
    }

    func handle(_ event: EngineEvent) {
        switch event {
        case .step(let s):
            elapsed += s.seconds
            recentSeconds.append(s.seconds)
            if recentSeconds.count > 20 { recentSeconds.removeFirst(recentSeconds.count - 20) }
            let eta = Double(max(0, totalSteps - s.step)) * recentSeconds.reduce(0, +) / Double(recentSeconds.count)
            let width = String(totalSteps).count
            let step = String(s.step).leftPadded(to: width)
            print("step \(step)/\(totalSteps)  loss \(fixed(s.loss, 4))  lr \(sci(s.learningRate))  gnorm \(fixed(s.gradNorm, 3))"
                  + "  \(fixed(Float(s.tokensPerSecond), 1)) tok/s  \(fixed(Float(s.seconds), 2)) s/step"
                  + "  elapsed \(clock(elapsed))  eta \(clock(eta))")
        case .eval(let e):
            var line = "eval at step \(e.step): loss \(fixed(e.loss, 4))"
            if let em = e.exactMatch { line += "  exact match \(fixed(Float(em * 100), 1))%" }
            print(line)
        case .change(let c):
            changeNotes.append(c.note)
            print("change at step \(c.step): " + c.text)
        case .samples(let samples):
            for s in samples {
                print("sample at step \(s.step): \(s.prompt.oneLine(80))")
                if let b = s.base { print("  base:    \(b.oneLine(100))") }
                print("  adapted: \(s.adapted.oneLine(100))")
            }
        case .checkpoint(let path):
            lastCheckpoint = path
            print("checkpoint: \(path)")
        case .message(let note):
            let m = note.text
            if m == "saved \(lastCheckpoint ?? "")" { return }  // the checkpoint line says it
            if let i = changeNotes.firstIndex(of: m) {
                changeNotes.remove(at: i)
                return
            }
            print("note: \(m)")
            // trouble also goes where only stderr is watched (stdout piped to a file)
            if note.level != .info { Output.write("loratop: \(m)\n", to: errors) }
        case .inspection(let x):
            print("inspect at step \(x.step): \(x.advice.summary)")
        case .pending, .settings, .progress:
            return
        case .status(let s):
            switch s {
            case .paused: print("paused (send `resume` to continue)")
            case .finished: print("finished: \(totalSteps) steps in \(clock(elapsed))")
            case .stopped: print("stopped")
            case .failed(let why): Output.write("error: \(why)\n", to: errors)
            default: break
            }
        }
    }

    private func print(_ line: String) {
        let stamped = Fmt.timeOfDay(now()) + "  " + line + "\n"
        for fd in fds { Output.write(stamped, to: fd) }
    }
}

func fixed(_ v: Float, _ digits: Int) -> String {
    v.isFinite ? String(format: "%.\(digits)f", Double(v)) : (v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf"))
}

func sci(_ v: Float) -> String { v.isFinite ? String(format: "%.2e", Double(v)) : "\(v)" }

/// "1:02:03" or "2:03".
func clock(_ seconds: Double) -> String {
    guard seconds.isFinite, seconds >= 0 else { return "--:--" }
    let s = Int(seconds.rounded())
    let h = s / 3600, m = (s % 3600) / 60, sec = s % 60
    return h > 0 ? String(format: "%d:%02d:%02d", h, m, sec) : String(format: "%d:%02d", m, sec)
}

extension String {
    /// The string padded on the left with `pad` to `width` characters.
    func leftPadded(to width: Int, with pad: Character = " ") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }

    /// The text on one line, cut to `limit` characters with "…".
    func oneLine(_ limit: Int) -> String {
        let flat = self.replacingOccurrences(of: "\n", with: " ⏎ ")
        return flat.count <= limit ? flat : String(flat.prefix(max(0, limit - 1))) + "…"
    }
}
