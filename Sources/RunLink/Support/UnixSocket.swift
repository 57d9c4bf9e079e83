import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A socket or pipe problem, in a sentence that names the path and says what to try.
public struct LinkError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let message: String
    /// What to try, when there is something.
    public let hint: String?

    /// An error with a message and an optional hint.
    public init(_ message: String, hint: String? = nil) {
        self.message = message
        self.hint = hint
    }

    public var description: String { message + (hint.map { " (hint: \($0))" } ?? "") }
}

/// Small wrappers over the POSIX calls for Unix stream sockets: bind/listen, connect, peer credentials.
public enum UnixSocket {
    /// Linux's limit for a socket path, terminating NUL excluded (`sun_path[108]`).
    public static let maxPathBytes = 107

    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    private static func withAddress<T>(_ path: String, _ body: (UnsafePointer<sockaddr>, socklen_t) -> T) throws -> T {
        let bytes = Array(path.utf8)
        guard bytes.count <= maxPathBytes else {
            throw LinkError("socket path \(path) is \(bytes.count) bytes; Linux allows at most \(maxPathBytes)",
                            hint: "set XDG_RUNTIME_DIR to a shorter folder")
        }
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
    }

    /// A listening socket at `path` (mode 0600), non-blocking and close-on-exec. An existing file there is replaced
    /// only when nothing answers on it (a stale socket of a dead run).
    public static func listen(path: String, backlog: Int32 = 64) throws -> Int32 {
        if FileManager.default.fileExists(atPath: path) {
            if let fd = try? connect(path: path) {
                close(fd)
                throw LinkError("another run already serves \(path)")
            }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { throw LinkError("cannot create a socket: \(errnoText())") }
        // Created 0600 from the start: no window in which another user could connect.
        let old = umask(0o177)
        let rc = try withAddress(path) { bind(fd, $0, $1) }
        let bindErr = errno
        umask(old)
        guard rc == 0 else {
            close(fd)
            throw LinkError("cannot bind \(path): \(errnoText(bindErr))")
        }
        guard Glibc.listen(fd, backlog) == 0 else {
            let e = errno
            close(fd)
            unlink(path)
            throw LinkError("cannot listen on \(path): \(errnoText(e))")
        }
        return fd
    }

    /// A connected, blocking, close-on-exec socket to `path`.
    public static func connect(path: String) throws -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw LinkError("cannot create a socket: \(errnoText())") }
        var rc: Int32 = -1
        repeat {
            rc = try withAddress(path) { Glibc.connect(fd, $0, $1) }
        } while rc != 0 && errno == EINTR
        guard rc == 0 else {
            let e = errno
            close(fd)
            throw LinkError("cannot connect to \(path): \(errnoText(e))")
        }
        return fd
    }

    /// A connected pair (for a viewer inside the run's own process), both close-on-exec.
    public static func pair() throws -> (Int32, Int32) {
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw LinkError("cannot create a socket pair: \(errnoText())")
        }
        return (fds[0], fds[1])
    }

    /// The peer's pid and uid (SO_PEERCRED), or nil when the kernel does not say.
    public static func peerCredentials(_ fd: Int32) -> (pid: Int32, uid: uid_t)? {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } (glibc shows it only with _GNU_SOURCE).
        var cred: (Int32, UInt32, UInt32) = (0, 0, 0)
        var len = socklen_t(MemoryLayout<(Int32, UInt32, UInt32)>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0, len == 12 else { return nil }
        return (cred.0, uid_t(cred.1))
    }

    /// Accepts a connection as a non-blocking, close-on-exec descriptor; -1 with errno when there is none.
    public static func accept(_ listenFD: Int32) -> Int32 {
        let fd = Glibc.accept(listenFD, nil, nil)
        guard fd >= 0 else { return -1 }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        setNonBlocking(fd)
        return fd
    }

    /// Sets O_NONBLOCK.
    public static func setNonBlocking(_ fd: Int32) {
        let flags = fcntl(fd, F_GETFL)
        if flags >= 0 { _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK) }
    }

    /// Writes all of `bytes` to a blocking descriptor; false when the peer is gone (EPIPE, EIO, …). Never raises SIGPIPE
    /// (MSG_NOSIGNAL on sockets; the process ignores SIGPIPE for pipes).
    @discardableResult
    public static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { raw -> Int in
                let p = raw.baseAddress! + off
                let r = send(fd, p, raw.count - off, Int32(MSG_NOSIGNAL))
                if r < 0 && errno == ENOTSOCK { return write(fd, p, raw.count - off) }
                return r
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 1000)
                    continue
                }
                return false
            }
            if n == 0 { return false }
            off += n
        }
        return true
    }
}
