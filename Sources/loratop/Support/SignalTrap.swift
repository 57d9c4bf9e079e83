import Dispatch
import Foundation

/// Turns SIGINT, SIGTERM and SIGHUP into a graceful stop: the first signal calls `onStop` (the engine finishes the step,
/// saves a checkpoint and ends); a second SIGINT/SIGTERM exits at once after `emergency` (restore the terminal).
/// The exit code follows the shell convention 128 + signal number.
final class SignalTrap: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []
    private let queue = DispatchQueue(label: "loratop.signals")
    private let lock = NSLock()
    private var received: Int32?

    /// The first signal received, if any.
    var signal: Int32? {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// The conventional exit code for the signal received (128 + n), or nil.
    var exitCode: Int32? { signal.map { 128 + $0 } }

    init(onStop: @escaping @Sendable (Int32) -> Void, emergency: @escaping @Sendable () -> Void) {
        for sig in [SIGINT, SIGTERM, SIGHUP] {
            Foundation.signal(sig, SIG_IGN)
            let src = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            src.setEventHandler { [weak self] in
                guard let self else { return }
                self.lock.lock()
                let first = self.received == nil
                if first { self.received = sig }
                self.lock.unlock()
                if first {
                    onStop(sig)
                } else if sig != SIGHUP {
                    emergency()
                    _exit(128 + sig)
                }
            }
            src.resume()
            sources.append(src)
        }
    }
}
