#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file so that a crash never leaves a half file where a good one stood:
/// a temp file in the same folder, fsync, rename over the target, fsync of the folder.
public enum AtomicFile {
    /// An open temp file that `write(to:_:)` hands to its body.
    public final class Sink {
        let fd: Int32
        let path: String
        /// Bytes written so far.
        public private(set) var offset: Int = 0

        init(fd: Int32, path: String) {
            self.fd = fd
            self.path = path
        }

        /// Appends raw bytes.
        public func write(_ buffer: UnsafeRawBufferPointer) throws {
            guard var p = buffer.baseAddress else { return }
            var left = buffer.count
            while left > 0 {
                let n = posixWrite(fd, p, min(left, 1 << 30))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw FormatError(file: path, field: "write", message: String(cString: strerror(errno)),
                                      hint: "check free disk space and permissions")
                }
                p += n
                left -= n
                offset += n
            }
        }

        /// Appends bytes.
        public func write(_ bytes: [UInt8]) throws {
            try bytes.withUnsafeBytes { try write($0) }
        }

        /// Appends `count` zero bytes.
        public func pad(_ count: Int) throws {
            if count > 0 { try write([UInt8](repeating: 0, count: count)) }
        }
    }

    /// Creates `path` atomically from what `body` writes into the sink.
    public static func write(to path: String, _ body: (Sink) throws -> Void) throws {
        let dir = folder(of: path)
        var template = Array("\(dir)/.\(fileName(of: path)).tmp-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw FormatError(file: path, field: "write", message: "cannot create a temp file in \(dir): \(String(cString: strerror(errno)))",
                              hint: "check that the folder exists and is writable")
        }
        let tmp = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        var done = false
        defer {
            if !done { unlink(tmp) }
        }
        let sink = Sink(fd: fd, path: path)
        do {
            try body(sink)
            fchmod(fd, 0o644)
            guard fsync(fd) == 0 else {
                throw FormatError(file: path, field: "fsync", message: String(cString: strerror(errno)))
            }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(tmp, path) == 0 else {
            throw FormatError(file: path, field: "rename", message: String(cString: strerror(errno)),
                              hint: "check that the target folder is writable")
        }
        done = true
        syncFolder(dir)
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(to: path) { try $0.write(bytes) }
    }

    /// Moves `source` over `target` atomically (same filesystem: rename; otherwise copy to a temp file first).
    public static func move(_ source: String, to target: String) throws {
        if rename(source, target) == 0 {
            syncFolder(folder(of: target))
            return
        }
        let src = try MappedFile(path: source)
        try write(to: target) { sink in
            if let base = src.base { try sink.write(UnsafeRawBufferPointer(start: base, count: src.size)) }
        }
        unlink(source)
    }

    static func folder(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let d = String(path[..<slash])
        return d.isEmpty ? "/" : d
    }

    static func fileName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    static func syncFolder(_ dir: String) {
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 {
            fsync(dfd)
            close(dfd)
        }
    }
}

/// The C `write` (the Sink's own `write` methods shadow it inside the class).
private func posixWrite(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int {
    write(fd, p, n)
}
