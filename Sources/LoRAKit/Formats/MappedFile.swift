#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A whole file mapped read-only (`MAP_PRIVATE`); the mapping lives as long as any reference to this object,
/// so tensor views keep it alive.
public final class MappedFile: @unchecked Sendable {
    /// The path the file was opened from (for messages).
    public let path: String
    /// The first byte (nil for an empty file).
    public let base: UnsafeRawPointer?
    /// The file size in bytes.
    public let size: Int
    /// Whether `base` is an owned heap copy (in-memory files) rather than a mapping.
    private let ownsHeapCopy: Bool

    /// Maps `path`; throws a FormatError naming the file when it cannot be opened or mapped.
    public init(path: String) throws {
        self.path = path
        ownsHeapCopy = false
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // a FIFO given by mistake must not block here
        guard fd >= 0 else {
            throw FormatError(file: path, field: "file", message: "cannot open: \(String(cString: strerror(errno)))",
                              hint: "check the path and its permissions")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw FormatError(file: path, field: "file", message: "cannot stat: \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw FormatError(file: path, field: "file", message: "expected a regular file, found \(RegularFile.kind(st.st_mode))",
                              hint: "give the path of the model file itself")
        }
        size = Int(st.st_size)
        if size == 0 {
            base = nil
            return
        }
        let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
        guard let p, p != MAP_FAILED else {
            throw FormatError(file: path, field: "file", message: "cannot map \(size) bytes: \(String(cString: strerror(errno)))")
        }
        base = UnsafeRawPointer(p)
    }

    /// An in-memory "file" holding a copy of `bytes` (parsing buffers without touching the disk); `name` is used in messages.
    public init(bytes: [UInt8], name: String) {
        path = name
        size = bytes.count
        ownsHeapCopy = true
        if bytes.isEmpty {
            base = nil
        } else {
            let p = UnsafeMutableRawPointer.allocate(byteCount: bytes.count, alignment: 64)
            bytes.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
            base = UnsafeRawPointer(p)
        }
    }

    deinit {
        guard let base else { return }
        if ownsHeapCopy {
            UnsafeMutableRawPointer(mutating: base).deallocate()
        } else {
            munmap(UnsafeMutableRawPointer(mutating: base), size)
        }
    }

    /// Drops the mapping's resident pages (they are read again from the file, through the page cache, when next
    /// touched). Called after a base has been converted, so the file's pages stop counting in the resident set.
    public func releaseResidentPages() {
        guard let base, !ownsHeapCopy, size > 0 else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base), size, Int32(MADV_DONTNEED))
    }

    /// The bytes `range` (must lie inside the file) as a fresh array.
    public func bytes(_ range: Range<Int>) -> [UInt8] {
        guard let base, range.lowerBound >= 0, range.upperBound <= size else { return [] }
        return Array(UnsafeRawBufferPointer(start: base + range.lowerBound, count: range.count))
    }
}

/// A bounds-checked little-endian cursor over a mapped file; every read that would pass the end throws.
struct ByteCursor {
    let file: MappedFile
    var offset: Int
    /// What is being read (for messages), e.g. "metadata key 3".
    var context: String = "header"

    init(_ file: MappedFile, offset: Int = 0) {
        self.file = file
        self.offset = offset
    }

    var remaining: Int { file.size - offset }

    func truncated(_ need: Int) -> FormatError {
        FormatError(file: file.path, field: context,
                    message: "expected \(need) more bytes at offset \(offset), found \(max(remaining, 0)) before end of file",
                    hint: "the file is truncated or corrupt; download it again")
    }

    mutating func need(_ n: Int) throws {
        if n < 0 || n > remaining { throw truncated(n) }
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let n = MemoryLayout<T>.size
        try need(n)
        guard let base = file.base else { throw truncated(n) }
        let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
        offset += n
        return T(littleEndian: v)
    }

    mutating func readFloat() throws -> Float { Float(bitPattern: try read(UInt32.self)) }
    mutating func readDouble() throws -> Double { Double(bitPattern: try read(UInt64.self)) }

    /// A u64 count or length that must fit in what is left of the file when each item takes `minBytes`.
    mutating func readCount(_ what: String, minBytes: Int) throws -> Int {
        let raw = try read(UInt64.self)
        let limit = UInt64(max(remaining, 0) / max(minBytes, 1))
        guard raw <= limit else {
            throw FormatError(file: file.path, field: context,
                              message: "\(what) \(raw) cannot fit in the \(max(remaining, 0)) bytes left in the file",
                              hint: "the header is corrupt")
        }
        return Int(raw)
    }

    mutating func readString(_ what: String) throws -> String {
        let n = try readCount("\(what) length", minBytes: 1)
        guard let base = file.base else { return "" }
        let s = String(decoding: UnsafeRawBufferPointer(start: base + offset, count: n), as: UTF8.self)
        offset += n
        return s
    }
}
