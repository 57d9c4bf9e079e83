import CPosix
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one owner of signal disposition in a loratop process. `install()` runs first thing in `main`: it ignores
/// SIGPIPE (a write to a gone peer is an EPIPE error, handled where it happens), notes an inherited "ignore SIGHUP"
/// (nohup) and keeps it, and catches SIGINT, SIGTERM, SIGHUP and SIGTSTP with one tiny handler that writes the signal
/// number to a pipe; a thread of its own reads the pipe and calls the current handler. (Blocking the signals and
/// waiting for them would not do: libraries such as OpenBLAS start threads before `main`, with nothing blocked, and
/// the kernel may pick one of them.) Nothing else in the process installs handlers for these signals; curses only
/// restores the terminal on faults.
final class ProcessSignals: @unchecked Sendable {
    /// The process's owner.
    static let shared = ProcessSignals()

    /// Whether SIGHUP was ignored when the process started (nohup): it stays ignored.
    private(set) var hangupIgnored = false
    private let lock = NSLock()
    private var handler: (@Sendable (Int32) -> Void)?
    private var installed = false

    private init() {}

    /// Takes ownership of the signals; call once, first thing. Later calls do nothing.
    static func install() {
        let s = shared
        s.lock.lock()
        defer { s.lock.unlock() }
        guard !s.installed else { return }
        s.installed = true
        signal(SIGPIPE, SIG_IGN)
        s.hangupIgnored = cposix_signal_ignored(SIGHUP) == 1
        let caught = [SIGINT, SIGTERM, SIGTSTP] + (s.hangupIgnored ? [] : [SIGHUP])
        let fd = caught.withUnsafeBufferPointer { cposix_signal_pipe($0.baseAddress, Int32($0.count)) }
        guard fd >= 0 else { return }  // no pipe: the signals keep their default actions
        let thread = Thread {
            var b: UInt8 = 0
            while true {
                let n = read(fd, &b, 1)
                if n == 1 { shared.deliver(Int32(b)) } else if n < 0 && errno == EINTR { continue } else { return }
            }
        }
        thread.name = "loratop.signals"
        thread.start()
    }

    /// Sets what happens on a signal (called on the signal thread); replaces the previous handler. nil restores the
    /// defaults: SIGINT/SIGTERM/SIGHUP end the process, SIGTSTP stops it where job control exists.
    func handle(_ h: (@Sendable (Int32) -> Void)?) {
        lock.lock()
        handler = h
        lock.unlock()
    }

    private func deliver(_ sig: Int32) {
        lock.lock()
        let h = handler
        lock.unlock()
        if let h { h(sig) } else { ProcessSignals.defaultAction(sig) }
    }

    /// What the signal would do with no handler: end the process by it (the shell sees 128 + n), or stop on SIGTSTP
    /// (only where a shell can resume us).
    static func defaultAction(_ sig: Int32) {
        if sig == SIGTSTP {
            if jobControlAvailable { kill(getpid(), SIGSTOP) }
            return
        }
        signal(sig, SIG_DFL)
        kill(getpid(), sig)
    }

    /// Whether a shell with job control could resume this process after a stop: our process group's parent is in the
    /// same session but another group (an interactive shell). Under `ssh -tt host cmd` there is none, and a stop would
    /// freeze the run with nobody to continue it.
    static var jobControlAvailable: Bool {
        let parent = getppid()
        return getpgid(parent) != getpgrp() && getsid(parent) == getsid(0)
    }

    /// Spawn attributes for a child: an empty signal mask and default dispositions (our ignored SIGPIPE is ours, not
    /// the child's; an inherited SIGHUP ignore is passed on, as nohup means it).
    static func childAttributes(_ attr: inout posix_spawnattr_t, newSession: Bool) {
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attr, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for sig in [SIGINT, SIGTERM, SIGTSTP, SIGPIPE, SIGQUIT] { sigaddset(&defaults, sig) }
        if !shared.hangupIgnored { sigaddset(&defaults, SIGHUP) }
        posix_spawnattr_setsigdefault(&attr, &defaults)
        var flags = Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        if newSession { flags |= Int16(0x80) }  // POSIX_SPAWN_SETSID (glibc 2.26+): a session with no terminal
        posix_spawnattr_setflags(&attr, flags)
    }
}
