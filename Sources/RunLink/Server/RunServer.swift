import Dispatch
import Foundation
import LoRAKit
#if canImport(Glibc)
import Glibc
#endif

/// Serves one training engine over a Unix stream socket with the run protocol (docs/PROTOCOL.md): a hello to every
/// connection, the full state and then every event to attached viewers, commands with acks. Everything runs on one
/// serial queue of its own: the engine only hands events over (`async`), so no viewer can ever slow a step; each
/// viewer has a bounded queue, and one that falls behind is dropped back to a fresh state instead of being waited for.
public final class RunServer: @unchecked Sendable {
    /// Limits and names.
    public struct Options: Sendable {
        /// Bytes queued for one viewer before it is resynchronised (its queue dropped, a fresh state sent later).
        public var queueLimit = 1 << 20
        /// A viewer whose queue has made no progress for this long while it is behind is disconnected.
        public var stallSeconds: Double = 60
        /// At most this many connections at once; more are refused with an `overloaded` error.
        public var maxConnections = 256
        /// Only this uid may connect.
        public var allowedUID: uid_t = getuid()
        /// Server software for the hello.
        public var server = "loratop"
        /// Defaults.
        public init() {}
    }

    /// The run served.
    public let info: RunInfo
    private let engine: TrainingEngine
    private let registry: RunRegistry?
    private let options: Options
    private let memoryProvider: @Sendable () -> MemoryState?
    private let queue = DispatchQueue(label: "loratop.server")
    private let encoder = WireCoding.encoder()
    private let decoder = WireCoding.decoder()

    // Touched only on `queue`.
    private var listenFD: Int32 = -1
    private var listenSource: DispatchSourceRead?
    private var timer: DispatchSourceTimer?
    private var connections: [Int: ViewerConnection] = [:]
    private var nextNumber = 1
    private var memory: MemoryState?
    private var lastRegistryWrite = DispatchTime(uptimeNanoseconds: 0)
    private var stopped = false
    private var viewerCountHandler: (@Sendable (Int) -> Void)?
    private var readBuffer = [UInt8](repeating: 0, count: 65536)
    private var lastViewerCount = 0
    /// The last numbered events the server queue has seen, oldest first. The engine numbers an event before it
    /// publishes the snapshot that reflects it, so a viewer attaching in between gets a state that is one or two
    /// events behind what was already broadcast; those are replayed to it from here.
    private var recentEvents: [(seq: UInt64, event: EngineEvent)] = []
    private static let recentEventLimit = 256

    /// The socket path, when listening.
    public private(set) var socketPath: String?

    /// A server for `engine`; `registry` (nil: no socket, in-process viewers only) lists it; `memory` is called on
    /// the server's queue about once a second.
    public init(engine: TrainingEngine, info: RunInfo, registry: RunRegistry?, options: Options = Options(),
                memory: @escaping @Sendable () -> MemoryState? = { nil }) {
        self.engine = engine
        self.info = info
        self.registry = registry
        self.options = options
        self.memoryProvider = memory
        engine.observe(sequenced: { [weak self] seq, event in
            guard let self else { return }
            self.queue.async { self.broadcast(seq: seq, event: event) }
        })
    }

    /// Called (on the server's queue) whenever the number of attached viewers that may send commands changes.
    public func onViewerCountChange(_ handler: @escaping @Sendable (Int) -> Void) {
        queue.sync { viewerCountHandler = handler }
    }

    /// Binds the socket in the registry's folder and writes the run's entry.
    public func start() throws {
        try queue.sync {
            if let registry {
                let path = registry.socketPath(id: info.id)
                let fd = try UnixSocket.listen(path: path)
                listenFD = fd
                socketPath = path
                let src = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
                src.setEventHandler { [unowned self] in acceptAll() }
                src.setCancelHandler { close(fd) }
                src.resume()
                listenSource = src
                writeEntry(ended: false)
            }
            let t = DispatchSource.makeTimerSource(queue: queue)
            t.schedule(deadline: .now() + 1, repeating: 1)
            t.setEventHandler { [unowned self] in tick() }
            t.resume()
            timer = t
        }
    }

    /// A viewer inside this process: returns the client end of a connected pair (a descriptor to hand to `RunClient`).
    public func connectInProcess() throws -> Int32 {
        let (mine, theirs) = try UnixSocket.pair()
        queue.sync { add(fd: mine) }
        return theirs
    }

    /// Attached viewers that may send commands, now.
    public var interactiveViewerCount: Int { queue.sync { connections.values.filter { $0.attached && !$0.readOnly }.count } }

    /// Sends what is queued (up to `drainSeconds`), closes every connection, removes the socket and marks the registry
    /// entry ended with the run's final progress.
    public func shutdown(drainSeconds: Double = 1) {
        queue.sync {
            guard !stopped else { return }
            stopped = true
            listenSource?.cancel()
            listenSource = nil
            timer?.cancel()
            timer = nil
            if let p = socketPath { unlink(p) }
            let deadline = DispatchTime.now() + drainSeconds
            for c in connections.values {
                while !c.outgoing.isEmpty && DispatchTime.now() < deadline {
                    guard c.flush() else { break }
                    if c.outgoing.isEmpty { break }
                    var p = pollfd(fd: c.fd, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&p, 1, 50)
                }
                c.cancel()
            }
            connections.removeAll()
            writeEntry(ended: true)
        }
    }

    // MARK: - Connections (server queue)

    private func acceptAll() {
        while true {
            let fd = UnixSocket.accept(listenFD)
            if fd < 0 {
                if errno == EINTR { continue }
                return  // EAGAIN: no more; EMFILE and friends: try again on the next wake-up
            }
            guard UnixSocket.peerCredentials(fd)?.uid == options.allowedUID else {
                let who = UnixSocket.peerCredentials(fd).map { "uid \($0.uid)" } ?? "an unknown user"
                let refusal = ErrorMessage(code: "refused", message: "run \(info.id) belongs to uid \(options.allowedUID); \(who) may not attach to it")
                if let bytes = try? WireCoding.line(refusal, encoder: encoder) { _ = UnixSocket.writeAll(fd, bytes) }
                close(fd)
                continue
            }
            guard connections.count < options.maxConnections else {
                let busy = ErrorMessage(code: "overloaded", message: "run \(info.id) already has \(connections.count) connections")
                if let bytes = try? WireCoding.line(busy, encoder: encoder) { _ = UnixSocket.writeAll(fd, bytes) }
                close(fd)
                continue
            }
            add(fd: fd)
        }
    }

    private func add(fd: Int32) {
        let number = nextNumber
        nextNumber += 1
        let c = ViewerConnection(fd: fd, number: number, queue: queue,
                                 onReadable: { [unowned self] in read($0) }, onWritable: { [unowned self] in writable($0) })
        connections[number] = c
        let hello = HelloMessage(protocol: runProtocolVersion, server: options.server, run: info,
                                 progress: RunProgress(engine.latest))
        send(hello, to: c)
    }

    private func drop(_ c: ViewerConnection) {
        guard !c.closed else { return }
        c.cancel()
        connections[c.number] = nil
        viewersChanged()
    }

    private func read(_ c: ViewerConnection) {
        guard !c.closed else { return }
        while !c.closed {
            let n = readBuffer.withUnsafeMutableBytes { recv(c.fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { drop(c); return }
            if n < 0 {
                if errno == EINTR { continue }
                if errno != EAGAIN { drop(c) }
                return
            }
            if c.closeAfterFlush { continue }  // refused or detaching: what it still sends is not read
            for out in c.framer.feed(readBuffer[0..<n]) {
                switch out {
                case .line(let line): handle(line, from: c)
                case .tooLong:
                    refuse(c, code: "too_large", "a message was longer than 1 MiB; closing this connection")
                    return
                }
                if c.closed { return }
            }
        }
    }

    private func writable(_ c: ViewerConnection) {
        guard !c.closed else { return }
        guard c.flush() else { drop(c); return }
        if c.outgoing.isEmpty {
            if c.closeAfterFlush { drop(c); return }
            if c.resyncPending {
                c.resyncPending = false
                sendState(to: c)
            }
        }
    }

    private func refuse(_ c: ViewerConnection, code: String, _ message: String) {
        c.dropQueued()
        if let bytes = try? WireCoding.line(ErrorMessage(code: code, message: message), encoder: encoder) {
            _ = c.enqueue(bytes, limit: Int.max)
        }
        c.closeAfterFlush = true
        if c.outgoing.isEmpty { drop(c) } else { c.flush() }
    }

    private func handle(_ line: [UInt8], from c: ViewerConnection) {
        let request: ViewerRequest
        do {
            request = try ViewerRequest.read(line, decoder: decoder)
        } catch let r as ProtocolRefusal {
            refuse(c, code: r.code, r.message)
            return
        } catch {
            refuse(c, code: "malformed", "\(error)")
            return
        }
        switch request {
        case .blank, .unknown:
            break  // unknown types are ignored (a newer client may send more)
        case .hello(let version):
            if let v = version, v != runProtocolVersion {
                refuse(c, code: "version", "this run speaks protocol \(runProtocolVersion), the client \(v)")
            }
        case .attach(let a):
            c.attached = true
            c.readOnly = a.readOnly
            c.points = min(100_000, max(10, a.points ?? SnapshotCodec.defaultPoints))
            sendState(to: c)
            viewersChanged()
        case .command(let m):
            var ack = AckMessage(id: m.id, ok: false)
            if c.readOnly {
                ack.error = "this viewer attached read-only and cannot send commands"
            } else {
                do {
                    let command = try Command.parse(m.line.trimmingCharacters(in: .whitespaces))
                    engine.send(command)
                    ack.ok = true
                    ack.command = command.line
                } catch {
                    ack.error = "\(error)"
                }
            }
            send(ack, to: c)
        case .ping(let id):
            send(PingMessage(type: "pong", id: id), to: c)
        case .detach:
            c.closeAfterFlush = true
            if c.outgoing.isEmpty { drop(c) }
        }
    }

    private func send<T: Encodable>(_ message: T, to c: ViewerConnection) {
        guard let bytes = try? WireCoding.line(message, encoder: encoder) else { return }
        enqueue(bytes, to: c)
    }

    private func enqueue(_ bytes: [UInt8], to c: ViewerConnection) {
        guard !c.closed, !c.resyncPending else { return }
        if !c.enqueue(bytes, limit: options.queueLimit) {
            // Too far behind: forget its backlog; it starts over from a fresh state when its queue has drained.
            c.dropQueued()
            c.resyncPending = true
            if c.outgoing.isEmpty { c.resyncPending = false; sendState(to: c) }
        }
    }

    private func sendState(to c: ViewerConnection) {
        let snap = engine.latest
        memory = memoryProvider()  // fresh for a new viewer (the figures are only followed while someone watches)
        c.skipThrough = snap.eventSequence
        let state = SnapshotCodec.state(snap, memory: memory, points: c.points)
        guard let bytes = try? WireCoding.line(state, encoder: encoder) else { return }
        if !c.enqueue(bytes, limit: Int.max) { return }
        // Events already broadcast (to others, or before this viewer attached) that the snapshot does not reflect yet.
        for e in recentEvents where e.seq > snap.eventSequence {
            guard let line = try? WireCoding.line(SnapshotCodec.event(e.event, seq: e.seq), encoder: encoder) else { continue }
            _ = c.enqueue(line, limit: Int.max)
            c.skipThrough = e.seq
        }
    }

    private func viewersChanged() {
        let n = connections.values.filter { $0.attached && !$0.readOnly }.count
        guard n != lastViewerCount else { return }
        lastViewerCount = n
        viewerCountHandler?(n)
    }

    // MARK: - Events (server queue)

    private func broadcast(seq: UInt64, event: EngineEvent) {
        guard !stopped else { return }
        if case .status = event { writeEntry(ended: false) }
        if seq != 0 {
            recentEvents.append((seq, event))
            if recentEvents.count > 2 * RunServer.recentEventLimit { recentEvents.removeFirst(RunServer.recentEventLimit) }
        }
        guard connections.values.contains(where: \.attached) else { return }
        let message = SnapshotCodec.event(event, seq: seq)
        guard let bytes = try? WireCoding.line(message, encoder: encoder) else { return }
        var restart = false
        if case .change(let c) = event, c.kind == "restart" { restart = true }
        for c in connections.values where c.attached && !c.closed {
            if seq != 0 && seq <= c.skipThrough { continue }
            if restart {
                // A new run: every viewer starts over from the new state (the engine published it before this event).
                c.dropQueued()
                sendState(to: c)
            } else {
                enqueue(bytes, to: c)
            }
        }
    }

    private func tick() {
        guard !stopped else { return }
        let watched = connections.values.contains(where: \.attached)
        let m = watched ? memoryProvider() : memory
        if watched, RunServer.memoryChanged(from: memory, to: m) {
            memory = m
            var e = EventMessage(type: "memory", seq: 0)
            e.memory = m
            if let bytes = try? WireCoding.line(e, encoder: encoder) {
                for c in connections.values where c.attached { enqueue(bytes, to: c) }
            }
        }
        let now = DispatchTime.now()
        for c in connections.values where !c.outgoing.isEmpty || c.resyncPending {
            let stalled = Double(now.uptimeNanoseconds - c.lastProgress.uptimeNanoseconds) / 1e9
            if stalled > options.stallSeconds { drop(c) }
        }
        if Double(now.uptimeNanoseconds - lastRegistryWrite.uptimeNanoseconds) / 1e9 >= 10 { writeEntry(ended: false) }
    }

    /// Whether new memory figures are worth an event: the accounting changed, or the resident set moved by more than
    /// 1 MiB and 1% (it drifts by pages every second; viewers need not hear of each page).
    static func memoryChanged(from old: MemoryState?, to new: MemoryState?) -> Bool {
        guard let old, let new else { return (old == nil) != (new == nil) }
        if old.parts != new.parts || old.methods != new.methods { return true }
        func moved(_ a: Int?, _ b: Int?) -> Bool {
            guard let a, let b else { return (a == nil) != (b == nil) }
            let d = abs(a - b)
            return d > 1 << 20 && Double(d) > 0.01 * Double(max(a, b))
        }
        return moved(old.residentBytes, new.residentBytes) || moved(old.peakResidentBytes, new.peakResidentBytes)
    }

    private func writeEntry(ended: Bool) {
        guard let registry else { return }
        lastRegistryWrite = DispatchTime.now()
        let entry = RegistryEntry(run: info, progress: RunProgress(engine.latest), socket: socketPath ?? "",
                                  ended: ended ? Date().timeIntervalSince1970 : nil)
        try? registry.write(entry)
    }
}

