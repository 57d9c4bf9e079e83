import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The pipe from a detached run back to the terminal that launched it, while it loads: `note TEXT` lines (shown as
/// they come), then `ready ID SOCKET` or `error TEXT`. The launcher passes its write end as the descriptor named by
/// LORATOP_READY_FD; the run closes it once ready, so nothing of the terminal's stays with the run.
final class ReadyChannel {
    private var fd: Int32

    /// The channel named by LORATOP_READY_FD, if this process has one.
    static func fromEnvironment() -> ReadyChannel? {
        guard let v = ProcessInfo.processInfo.environment["LORATOP_READY_FD"], let fd = Int32(v), fd > 2,
              fcntl(fd, F_GETFD) >= 0 else { return nil }
        unsetenv("LORATOP_READY_FD")
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        return ReadyChannel(fd: fd)
    }

    private init(fd: Int32) { self.fd = fd }

    deinit { finish() }

    private func send(_ line: String) {
        guard fd >= 0 else { return }
        let flat = line.replacingOccurrences(of: "\n", with: " ")
        if !Output.write(flat + "\n", to: fd) { finish() }
    }

    /// A progress note for the launcher's terminal.
    func note(_ text: String) { send("note " + text) }

    /// Loading failed: the launcher prints this and exits non-zero.
    func fail(_ text: String) {
        send("error " + text)
        finish()
    }

    /// Serving: the launcher attaches to `socket`.
    func ready(id: String, socket: String) {
        send("ready \(id) \(socket)")
        finish()
    }

    private func finish() {
        if fd >= 0 { close(fd) }
        fd = -1
    }
}
