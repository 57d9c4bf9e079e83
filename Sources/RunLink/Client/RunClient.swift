import Foundation
import LoRAKit
#if canImport(Glibc)
import Glibc
#endif

/// A connection to a run server: over its Unix socket, a socket pair inside the run's process, or the pipes of
/// `ssh HOST loratop attach --stdio`. It reads the hello, then (once attached) follows the state and events on a
/// thread of its own into a `SnapshotMirror` that the UI reads without waiting.
public final class RunClient: @unchecked Sendable {
    private let readFD: Int32
    private let writeFD: Int32
    private let ownsFDs: Bool
    private var framer = LineFramer(limit: 64 << 20)  // a state message of a very long run can pass 1 MiB
    private var buffered: [[UInt8]] = []
    private let decoder = WireCoding.decoder()
    private let encoder = WireCoding.encoder()
    private let writeLock = NSLock()

    private let lock = NSLock()
    private var mirror = SnapshotMirror()
    private var acks: [String: AckMessage] = [:]
    private var closedReason: String?
    private var nextID = 1
    private var reader: Thread?

    /// The server's hello (after `readHello`).
    public private(set) var hello: HelloMessage?

    /// A client on two descriptors (the same one twice for a socket). `owns` closes them on `close()`.
    public init(readFD: Int32, writeFD: Int32, owns: Bool = true) {
        self.readFD = readFD
        self.writeFD = writeFD
        self.ownsFDs = owns
    }

    deinit { close() }

    /// Connects to a run's socket and reads its hello.
    public static func connect(path: String, timeout: Double = 5) throws -> RunClient {
        let fd = try UnixSocket.connect(path: path)
        let c = RunClient(readFD: fd, writeFD: fd)
        _ = try c.readHello(timeout: timeout)
        return c
    }

    // MARK: - Synchronous part (before attach)

    /// Reads one line, waiting up to `timeout` seconds; nil at end of stream.
    private func readLine(timeout: Double) throws -> [UInt8]? {
        let deadline = Date().addingTimeInterval(timeout)
        while buffered.isEmpty {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw LinkError("the run did not answer within \(Int(timeout.rounded(.up))) s") }
            var p = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
            let r = poll(&p, 1, Int32(min(left, 1) * 1000))
            if r < 0 && errno != EINTR { throw LinkError("reading from the run failed: \(UnixSocket.errnoText())") }
            if r <= 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 65536)
            let n = chunk.withUnsafeMutableBytes { Glibc.read(readFD, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw LinkError("reading from the run failed: \(UnixSocket.errnoText())")
            }
            if n == 0 { return nil }
            for out in framer.feed(chunk[0..<n]) {
                switch out {
                case .line(let l): buffered.append(l)
                case .tooLong: throw LinkError("the run sent a message longer than the client accepts")
                }
            }
        }
        return buffered.removeFirst()
    }

    /// Reads the server's hello; refuses another protocol version and relays a refusal (another user's run).
    @discardableResult
    public func readHello(timeout: Double = 5) throws -> HelloMessage {
        // A remote shell may print a banner before `attach --stdio` starts: skip up to 64 KiB of lines that are not
        // JSON objects (a protocol line always starts with `{`).
        var skipped = 0
        var first = try readLine(timeout: timeout)
        while let l = first, l.first != UInt8(ascii: "{"), skipped + l.count < 1 << 16 {
            skipped += l.count + 1
            first = try readLine(timeout: timeout)
        }
        guard let line = first else {
            throw LinkError("the run closed the connection before saying hello")
        }
        if WireCoding.type(of: line, decoder: decoder) == "error", let e = try? decoder.decode(ErrorMessage.self, from: Data(line)) {
            throw LinkError("the run refused the connection: \(e.message)")
        }
        guard let h = try? decoder.decode(HelloMessage.self, from: Data(line)) else {
            throw LinkError("the other end is not a loratop run (its first line is not a hello)",
                            hint: "is the remote loratop a current version?")
        }
        guard h.protocol == runProtocolVersion else {
            throw LinkError("the run speaks protocol version \(h.protocol), this loratop speaks \(runProtocolVersion)",
                            hint: "use the same loratop version on both ends")
        }
        hello = h
        return h
    }

    /// Sends one command line and waits for its ack (no attach needed: what `loratop send` does).
    public func request(_ line: String, timeout: Double = 10) throws -> AckMessage {
        let id = "c\(nextID)"
        nextID += 1
        try write(CommandMessage(id: id, line: line))
        let deadline = Date().addingTimeInterval(timeout)
        while let reply = try readLine(timeout: max(0.001, deadline.timeIntervalSinceNow)) {
            guard WireCoding.type(of: reply, decoder: decoder) == "ack",
                  let ack = try? decoder.decode(AckMessage.self, from: Data(reply)), ack.id == id else { continue }
            return ack
        }
        throw LinkError("the run closed the connection before answering")
    }

    private func write<T: Encodable>(_ message: T) throws {
        let bytes = try WireCoding.line(message, encoder: encoder)
        writeLock.lock()
        defer { writeLock.unlock() }
        guard UnixSocket.writeAll(writeFD, bytes) else { throw LinkError("the run is gone (the connection closed)") }
    }

    // MARK: - Attached

    /// Asks for the full state and every event from now on, followed on a background thread.
    public func attach(readOnly: Bool, points: Int? = nil, client: String = "loratop") throws {
        try write(AttachMessage(readOnly: readOnly, points: points, client: client))
        let t = Thread { [weak self] in self?.follow() }
        t.name = "loratop.link"
        reader = t
        t.start()
    }

    private func follow() {
        let pending = buffered
        buffered.removeAll()
        for line in pending { take(line) }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(readFD, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) {
                if errno == EAGAIN {
                    var p = pollfd(fd: readFD, events: Int16(POLLIN), revents: 0)
                    _ = poll(&p, 1, 1000)
                }
                continue
            }
            if n <= 0 {
                end(n == 0 ? "the run closed the connection" : "reading from the run failed: \(UnixSocket.errnoText())")
                return
            }
            for out in framer.feed(chunk[0..<n]) {
                switch out {
                case .line(let l): take(l)
                case .tooLong:
                    end("the run sent a message longer than the client accepts")
                    return
                }
            }
            lock.lock()
            let done = closedReason != nil
            lock.unlock()
            if done { return }
        }
    }

    private func take(_ line: [UInt8]) {
        guard let message = RunMessage.read(line, decoder: decoder) else { return }
        lock.lock()
        defer { lock.unlock() }
        switch message {
        case .state(let s): mirror.apply(s)
        case .ack(let a):
            if !a.ok { mirror.note("refused: " + (a.error ?? "command refused")) }
            acks[a.id] = a
        case .error(let e): mirror.note("the run closed this connection: \(e.message)")
        case .greeting: break
        case .event(let e): mirror.apply(e)
        }
    }

    private func end(_ reason: String) {
        lock.lock()
        if closedReason == nil { closedReason = reason }
        lock.unlock()
    }

    /// The run as last heard: snapshot and memory figures. O(1); never waits for the network.
    public var latest: (snapshot: Snapshot, memory: MemoryState?) {
        lock.lock()
        defer { lock.unlock() }
        return (mirror.snapshot, mirror.memory)
    }

    /// The commands the run cannot do, by kind, with its reasons (from its last state message).
    public var unsupported: [String: String] {
        lock.lock()
        defer { lock.unlock() }
        return mirror.unsupported
    }

    /// Whether a state message has arrived since attaching.
    public var hasState: Bool {
        lock.lock()
        defer { lock.unlock() }
        return mirror.hasState
    }

    /// Why the connection ended, once it has.
    public var closeReason: String? {
        lock.lock()
        defer { lock.unlock() }
        return closedReason
    }

    /// Sends a command without waiting; a refusal shows up as a message in the snapshot. Returns its id.
    @discardableResult
    public func send(_ command: Command) -> String {
        lock.lock()
        let id = "c\(nextID)"
        nextID += 1
        lock.unlock()
        do {
            try write(CommandMessage(id: id, line: command.line))
        } catch {
            lock.lock()
            mirror.note("\(command.label): not sent, \(error)")
            lock.unlock()
        }
        return id
    }

    /// Waits up to `timeout` for the ack of a command sent with `send` while attached.
    public func waitForAck(_ id: String, timeout: Double) -> AckMessage? {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            lock.lock()
            let ack = acks[id]
            let closed = closedReason != nil
            lock.unlock()
            if ack != nil || closed || Date() > deadline { return ack }
            usleep(2000)
        }
    }

    /// Says goodbye (best effort) and closes the connection; the run goes on.
    public func close() {
        lock.lock()
        let already = closedReason == "closed by this viewer"
        if closedReason == nil { closedReason = "closed by this viewer" }
        lock.unlock()
        guard !already, ownsFDs else { return }
        shutdown(writeFD, Int32(SHUT_RDWR))
        if readFD != writeFD { shutdown(readFD, Int32(SHUT_RDWR)) }
        // The reader thread (if any) wakes with end of stream and exits; the descriptors close after it.
        if let r = reader, !r.isFinished, Thread.current !== r {
            var waited = 0
            while !r.isFinished && waited < 200 { usleep(5000); waited += 1 }
        }
        Glibc.close(writeFD)
        if readFD != writeFD { Glibc.close(readFD) }
    }
}
