import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One client of a run server: its socket, what it has sent us (framed into lines), and what waits to go out.
/// Touched only on the server's queue.
final class ViewerConnection {
    let fd: Int32
    let number: Int
    var framer = LineFramer()
    /// Messages waiting to be written; the first may be partly written (`offset` bytes of it).
    var outgoing: [[UInt8]] = []
    var offset = 0
    var queuedBytes = 0
    /// Attached viewers receive the state and every event; others only get answers (hello, acks, pongs).
    var attached = false
    var readOnly = false
    var points = SnapshotCodec.defaultPoints
    /// Events numbered up to this were in the state this viewer got.
    var skipThrough: UInt64 = 0
    /// It fell too far behind: its queued events were dropped and it gets a fresh state once the queue drains.
    var resyncPending = false
    /// When its queue last made progress (for dropping a viewer that never reads).
    var lastProgress = DispatchTime.now()
    var closed = false
    var closeAfterFlush = false
    private let readSource: DispatchSourceRead
    private let writeSource: DispatchSourceWrite
    private var writing = false

    init(fd: Int32, number: Int, queue: DispatchQueue, onReadable: @escaping (ViewerConnection) -> Void,
         onWritable: @escaping (ViewerConnection) -> Void) {
        self.fd = fd
        self.number = number
        UnixSocket.setNonBlocking(fd)
        readSource = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        writeSource = DispatchSource.makeWriteSource(fileDescriptor: fd, queue: queue)
        readSource.setEventHandler { [unowned self] in onReadable(self) }
        writeSource.setEventHandler { [unowned self] in onWritable(self) }
        // The descriptor is closed once, after both sources are cancelled.
        let group = DispatchGroup()
        group.enter()
        group.enter()
        readSource.setCancelHandler { group.leave() }
        writeSource.setCancelHandler { group.leave() }
        group.notify(queue: queue) { close(fd) }
        readSource.resume()
    }

    /// Queues a message and writes what the socket takes now. Returns false when the queue would pass `limit` bytes
    /// (the message is not queued then).
    func enqueue(_ bytes: [UInt8], limit: Int) -> Bool {
        guard !closed else { return true }
        if queuedBytes + bytes.count > limit && !outgoing.isEmpty { return false }
        outgoing.append(bytes)
        queuedBytes += bytes.count
        flush()
        return true
    }

    /// Drops every queued message not yet begun (a viewer too far behind starts over from a fresh state).
    func dropQueued() {
        guard !outgoing.isEmpty else { return }
        let keepFirst = offset > 0
        let first = outgoing[0]
        outgoing = keepFirst ? [first] : []
        queuedBytes = keepFirst ? first.count - offset : 0
        if !keepFirst { offset = 0 }
    }

    /// Writes as much as the socket takes without blocking; arms the write source when it is full.
    /// Returns false when the peer is gone.
    @discardableResult
    func flush() -> Bool {
        while let first = outgoing.first {
            let n = first.withUnsafeBytes { raw in
                send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN {
                    if !writing { writing = true; writeSource.resume() }
                    return true
                }
                return false
            }
            lastProgress = DispatchTime.now()
            offset += n
            queuedBytes -= n
            if offset == first.count {
                outgoing.removeFirst()
                offset = 0
            }
        }
        if writing { writing = false; writeSource.suspend() }
        return true
    }

    /// Stops both sources; the descriptor closes when they are done.
    func cancel() {
        guard !closed else { return }
        closed = true
        outgoing.removeAll()
        queuedBytes = 0
        readSource.cancel()
        if !writing { writeSource.resume() }
        writeSource.cancel()
    }
}
