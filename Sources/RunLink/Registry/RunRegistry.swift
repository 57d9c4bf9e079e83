import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// One run in the registry: its facts, its last known progress, and where its socket is.
public struct RegistryEntry: Codable, Sendable, Equatable {
    /// The run's facts.
    public var run: RunInfo
    /// Its progress as last written by the run (live runs answer with fresher figures on their socket).
    public var progress: RunProgress
    /// The socket's path.
    public var socket: String
    /// When the run ended (seconds since 1970), nil while it lives.
    public var ended: Double?

    /// Whether the entry says the run is still going.
    public var isLive: Bool { ended == nil }

    enum CodingKeys: String, CodingKey { case run, progress, socket, ended }

    /// Every field given.
    public init(run: RunInfo, progress: RunProgress, socket: String, ended: Double?) {
        self.run = run
        self.progress = progress
        self.socket = socket
        self.ended = ended
    }

    /// Writes `ended` as null while the run lives (readers see the key either way).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(run, forKey: .run)
        try c.encode(progress, forKey: .progress)
        try c.encode(socket, forKey: .socket)
        if let ended { try c.encode(ended, forKey: .ended) } else { try c.encodeNil(forKey: .ended) }
    }
}

/// The per-user folder of running and recently ended runs: `$XDG_RUNTIME_DIR/loratop/` when XDG_RUNTIME_DIR is set,
/// else `/tmp/loratop-<uid>/`. The folder is 0700 and must belong to the user; each run has `<id>.sock` (0600) and
/// `<id>.json`. Entries of runs that died without cleaning up are found (pid gone, socket refuses) and marked "lost".
public struct RunRegistry: Sendable {
    /// The folder.
    public let folder: String
    /// How long ended runs are listed.
    public static let keepEndedSeconds: Double = 7 * 24 * 3600
    /// At most this many ended runs are kept.
    public static let keepEndedCount = 20

    /// The folder for this user and environment (not created).
    public static func defaultFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let x = environment["XDG_RUNTIME_DIR"], !x.isEmpty { return x + "/loratop" }
        return "/tmp/loratop-\(getuid())"
    }

    /// A registry in `folder`; checks (and creates, 0700) the folder. Throws when it is not a private folder of ours.
    public init(folder: String = RunRegistry.defaultFolder()) throws {
        self.folder = folder
        try RunRegistry.ensurePrivateFolder(folder)
    }

    static func ensurePrivateFolder(_ path: String) throws {
        var st = stat()
        if lstat(path, &st) != 0 {
            guard errno == ENOENT else { throw LinkError("cannot read \(path): \(UnixSocket.errnoText())") }
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw LinkError("cannot create the runs folder \(path): \(UnixSocket.errnoText())",
                                hint: "set XDG_RUNTIME_DIR to a folder you own")
            }
            guard lstat(path, &st) == 0 else { throw LinkError("cannot read \(path): \(UnixSocket.errnoText())") }
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR else {
            throw LinkError("\(path) should be the folder of your runs but is not a folder (or is a symbolic link)",
                            hint: "remove it, or set XDG_RUNTIME_DIR to a folder you own")
        }
        guard st.st_uid == getuid() else {
            throw LinkError("\(path) belongs to uid \(st.st_uid), not to you (uid \(getuid())); refusing to use it",
                            hint: "set XDG_RUNTIME_DIR to a folder you own")
        }
        guard st.st_mode & 0o077 == 0 else {
            throw LinkError("\(path) is open to other users (mode \(String(st.st_mode & 0o777, radix: 8)))",
                            hint: "chmod 700 \(path)")
        }
    }

    /// The socket path of a run id.
    public func socketPath(id: String) -> String { folder + "/" + id + ".sock" }

    private func entryPath(id: String) -> String { folder + "/" + id + ".json" }

    /// A fresh id: six lowercase letters and digits, not used by any entry in the folder.
    public func newID() -> String {
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
        while true {
            let id = String((0..<6).map { _ in alphabet[Int.random(in: 0..<alphabet.count)] })
            if !FileManager.default.fileExists(atPath: entryPath(id: id)) { return id }
        }
    }

    /// Writes (atomically: temp file, fsync, rename) the entry of a run.
    public func write(_ entry: RegistryEntry) throws {
        let enc = JSONEncoder()
        enc.keyEncodingStrategy = .convertToSnakeCase
        enc.outputFormatting = [.sortedKeys]
        enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let data = try enc.encode(entry)
        let final = entryPath(id: entry.run.id)
        let tmp = folder + "/." + entry.run.id + ".json.partial-\(getpid())"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw LinkError("cannot write \(tmp): \(UnixSocket.errnoText())") }
        let ok = UnixSocket.writeAll(fd, Array(data)) && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, final) == 0 else {
            let e = errno
            unlink(tmp)
            throw LinkError("cannot write \(final): \(UnixSocket.errnoText(e))")
        }
    }

    /// The entry of `id`, if there is a readable one.
    public func entry(id: String) -> RegistryEntry? {
        guard let data = FileManager.default.contents(atPath: entryPath(id: id)) else { return nil }
        let dec = JSONDecoder()
        dec.keyDecodingStrategy = .convertFromSnakeCase
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try? dec.decode(RegistryEntry.self, from: data)
    }

    /// Removes a run's socket and entry (a run that ended on purpose keeps its entry with `ended` set instead).
    public func remove(id: String) {
        unlink(socketPath(id: id))
        unlink(entryPath(id: id))
    }

    /// Whether a process with this pid exists (EPERM counts: it exists, it is just not ours).
    public static func processExists(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }

    /// Every entry, newest first. Live entries whose process is gone, or whose socket refuses connections, are marked
    /// lost (their socket removed) and then listed as ended; ended entries past the keep limits are deleted.
    public func entries() -> [RegistryEntry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        var out: [RegistryEntry] = []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let id = String(name.dropLast(5))
            guard var e = entry(id: id) else { continue }
            if e.isLive && !RunRegistry.answers(socket: e.socket, pid: e.run.pid) {
                unlink(e.socket)
                e.progress.status = "lost"
                e.ended = Date().timeIntervalSince1970
                try? write(e)
            }
            out.append(e)
        }
        out.sort { $0.run.started > $1.run.started }
        let now = Date().timeIntervalSince1970
        var endedSeen = 0
        var kept: [RegistryEntry] = []
        for e in out {
            if let ended = e.ended {
                endedSeen += 1
                if endedSeen > RunRegistry.keepEndedCount || now - ended > RunRegistry.keepEndedSeconds {
                    remove(id: e.run.id)
                    continue
                }
            }
            kept.append(e)
        }
        // Leftovers of interrupted entry writes.
        for name in names where name.hasPrefix(".") && name.contains(".json.partial-") {
            if let pid = Int32(name.split(separator: "-").last ?? ""), !RunRegistry.processExists(pid) {
                unlink(folder + "/" + name)
            }
        }
        return kept
    }

    /// Whether a live run answers: its process exists and its socket accepts a connection.
    static func answers(socket path: String, pid: Int32) -> Bool {
        guard processExists(pid) else { return false }
        guard let fd = try? UnixSocket.connect(path: path) else { return false }
        close(fd)
        return true
    }

    /// Finds a run by id, id prefix or output folder; nil picks the newest live run. The error says what exists.
    public func find(_ key: String?) throws -> RegistryEntry {
        let all = entries()
        guard let key, !key.isEmpty else {
            guard let newest = all.first(where: \.isLive) else {
                throw LinkError("no live run to attach to", hint: all.isEmpty ? "start one with `loratop train`"
                                    : "`loratop ls` lists the runs that ended; `loratop train --resume FOLDER` continues one")
            }
            return newest
        }
        if let exact = all.first(where: { $0.run.id == key }) { return exact }
        let folder = URL(fileURLWithPath: key).standardizedFileURL.path
        if let byFolder = all.first(where: { $0.run.output == folder && $0.isLive }) ?? all.first(where: { $0.run.output == folder }) {
            return byFolder
        }
        let prefixed = all.filter { $0.run.id.hasPrefix(key) }
        if prefixed.count == 1 { return prefixed[0] }
        if prefixed.count > 1 {
            throw LinkError("`\(key)` matches \(prefixed.count) runs: \(prefixed.map(\.run.id).joined(separator: ", "))",
                            hint: "give more of the id")
        }
        throw LinkError("no run with id or folder `\(key)`", hint: "`loratop ls` lists your runs")
    }
}
