import CPosix
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The one owner of signal disposition in a loratop process. `install()` runs first thing in `main`, before any
/// thread exists: it ignores SIGPIPE (a write to a gone peer is an EPIPE error, handled where it happens), notes an
/// inherited "ignore SIGHUP" (nohup) and keeps it, and blocks SIGINT, SIGTERM, SIGHUP and SIGTSTP in every thread so
/// that one thread of its own receives them with `sigwaitinfo` and hands them to the current handler. Nothing else in
/// the process installs handlers for these (curses only restores the terminal on faults).
final class ProcessSignals: @unchecked Sendable {
    /// The process's owner.
    static let shared = ProcessSignals()

    /// The signals it waits for.
    private(set) var waited: [Int32] = []
    /// Whether SIGHUP was ignored when the process started (nohup): it stays ignored.
    private(set) var hangupIgnored = false
    private let lock = NSLock()
    private var handler: (@Sendable (Int32) -> Void)?
    private var installed = false

    private init() {}

    /// Takes ownership of the signals; call once, before any thread starts. Later calls do nothing.
    static func install() {
        let s = shared
        s.lock.lock()
        defer { s.lock.unlock() }
        guard !s.installed else { return }
        s.installed = true
        signal(SIGPIPE, SIG_IGN)
        s.hangupIgnored = cposix_signal_ignored(SIGHUP) == 1
        s.waited = [SIGINT, SIGTERM, SIGTSTP] + (s.hangupIgnored ? [] : [SIGHUP])
        var set = sigset_t()
        sigemptyset(&set)
        for sig in s.waited { sigaddset(&set, sig) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let waitedSet = set
        let thread = Thread {
            var set = waitedSet
            while true {
                var info = siginfo_t()
                let sig = sigwaitinfo(&set, &info)
                if sig < 0 { continue }  // EINTR
                shared.deliver(sig)
            }
        }
        thread.name = "loratop.signals"
        thread.start()
    }

    /// Sets what happens on a signal (called on the signal thread); replaces the previous handler. nil restores the
    /// defaults: SIGINT/SIGTERM/SIGHUP exit with 128 + n, SIGTSTP stops the process where job control exists.
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

    /// What the signal would do with no handler: exit 128 + n, or stop on SIGTSTP (only where a shell can resume us).
    static func defaultAction(_ sig: Int32) {
        if sig == SIGTSTP {
            if jobControlAvailable { kill(getpid(), SIGSTOP) }
            return
        }
        _exit(128 + sig)
    }

    /// Whether a shell with job control could resume this process after a stop: our process group's parent is in the
    /// same session but another group (an interactive shell). Under `ssh -tt host cmd` there is none, and a stop would
    /// freeze the run with nobody to continue it.
    static var jobControlAvailable: Bool {
        let parent = getppid()
        return getpgid(parent) != getpgrp() && getsid(parent) == getsid(0)
    }

    /// Spawn attributes for a child: an empty signal mask and default dispositions (our blocked set and ignored
    /// SIGPIPE are ours, not the child's; an inherited SIGHUP ignore is passed on, as nohup means it).
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
