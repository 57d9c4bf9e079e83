import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reading the files a person names (models, shards, adapters, tokenizers, datasets, configs) without ever blocking:
/// `open` with O_NONBLOCK, so a FIFO or a device given by mistake is refused at once with what it is, instead of
/// waiting forever for a writer.
public enum RegularFile {
    /// What a non-regular file is, for messages: "a folder", "a FIFO (named pipe)", ...
    public static func kind(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a folder"
        case S_IFIFO: return "a FIFO (named pipe)"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
    }

    /// Opens `path` for reading without blocking and checks it is a regular file; the descriptor (close it), or nil
    /// when there is no such file. Throws a `FileError` naming the path for anything else.
    public static func open(_ path: String) throws -> Int32? {
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw FileError(path: path, message: "cannot open: \(String(cString: strerror(errno)))", hint: "check the path and its permissions")
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw FileError(path: path, message: "cannot stat: \(why)")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw FileError(path: path, message: "expected a regular file, found \(kind(st.st_mode))", hint: "give the path of the file itself")
        }
        return fd
    }

    /// The whole content of the regular file `path`, or nil when there is no such file (see `open`).
    public static func contents(_ path: String) throws -> Data? {
        guard let fd = try open(path) else { return nil }
        defer { close(fd) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw FileError(path: path, message: "cannot read: \(String(cString: strerror(errno)))") }
            if n == 0 { return data }
            data.append(contentsOf: chunk[0..<n])
        }
    }
}
