import Foundation
import XCTest

/// An output folder or metrics file that cannot be written is reported when the run starts, before the model is
/// opened, in a sentence naming the path and why (a read-only filesystem printed a raw NSCocoaErrorDomain dump after
/// the model had loaded), and the command fails.
final class OutputPathErrorTests: XCTestCase {
    private var scratch = ""
    private var mounted: String?

    override func setUpWithError() throws {
        scratch = NSTemporaryDirectory() + "loratop-outpath-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    }

    override func tearDown() {
        if let m = mounted { _ = Self.tool("/bin/umount", [m]) }
        try? FileManager.default.removeItem(atPath: scratch)
    }

    private static func tool(_ path: String, _ args: [String]) -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return -1 }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// `train` on a model that does not exist: had it been opened first, the error would name it instead.
    private func train(_ extra: [String]) throws -> (code: Int32, errors: String) {
        let r = try BinaryRunner(["train", "--model", "/nonexistent/model.gguf", "--headless",
                                  "--data", "sample-data/tags-train.jsonl"] + extra)
        r.closeInput()
        let code = try r.waitForExit()
        return (code, r.errors)
    }

    private func assertRefusedEarly(_ r: (code: Int32, errors: String), _ expected: String,
                                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(r.code, 1, r.errors, file: file, line: line)
        XCTAssertTrue(r.errors.contains(expected), "expected \(expected) in: \(r.errors)", file: file, line: line)
        XCTAssertFalse(r.errors.contains("NSCocoaErrorDomain") || r.errors.contains("Error Domain"), r.errors, file: file, line: line)
        XCTAssertFalse(r.errors.contains("model.gguf"), "checked before the model: \(r.errors)", file: file, line: line)
    }

    func testAnOutputFolderThroughAFileOrWhereNobodyMayCreateIsRefusedInASentence() throws {
        let blocker = scratch + "/notes.txt"
        try "x".write(toFile: blocker, atomically: true, encoding: .utf8)
        assertRefusedEarly(try train(["--output", blocker + "/run"]),
                           "\(blocker)/run: cannot create the output folder: \(blocker) is a file, not a folder (hint: choose another --output)")
        // sysfs refuses new folders to everyone, root included (EPERM for root, EACCES for others)
        let sys = try train(["--output", "/sys/loratop-run"])
        let reason = getuid() == 0 ? "Operation not permitted" : "Permission denied"
        assertRefusedEarly(sys, "/sys/loratop-run: cannot create the output folder: \(reason) (in /sys) (hint: choose another --output)")
    }

    func testExportChecksItsOutBeforeTheModelLoads() throws {
        let blocker = scratch + "/notes.txt"
        try "x".write(toFile: blocker, atomically: true, encoding: .utf8)
        for (format, out) in [("peft", blocker + "/peft"), ("gguf-adapter", blocker + "/a.gguf"), ("merged-gguf", scratch)] {
            let r = try BinaryRunner(["export", "--model", "/nonexistent/model.gguf", "--adapter", scratch, "--format", format, "--out", out])
            r.closeInput()
            let code = try r.waitForExit()
            let expected = format == "merged-gguf" ? "\(scratch): is a folder; expected a file to write"
                : "cannot create the output folder: \(blocker) is a file, not a folder (hint: choose a writable --out path)"
            assertRefusedEarly((code, r.errors), expected)
        }
    }

    func testAMetricsFileThatCannotBeWrittenIsRefusedAndAnOldOneIsLeftWhole() throws {
        let fifo = scratch + "/pipe"
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertRefusedEarly(try train(["--output", scratch + "/run", "--metrics", fifo]),
                           "\(fifo): is a FIFO (named pipe); expected a file to write (hint: choose another --metrics)")
        assertRefusedEarly(try train(["--output", scratch + "/run", "--metrics", scratch + "/missing/m.jsonl"]),
                           "\(scratch)/missing/m.jsonl: cannot be created: \(scratch)/missing: No such file or directory")
        // A run that cannot start does not truncate the metrics of the one before it.
        let old = scratch + "/run/metrics.jsonl"
        try "{\"type\":\"step\"}\n".write(toFile: old, atomically: true, encoding: .utf8)
        let r = try train(["--output", scratch + "/run"])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.errors.contains("model.gguf"), r.errors)
        XCTAssertEqual(try String(contentsOfFile: old, encoding: .utf8), "{\"type\":\"step\"}\n")
    }

    func testAReadOnlyFilesystemIsNamedAsSuch() throws {
        let mnt = scratch + "/ro"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        guard Self.tool("/bin/mount", ["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", mnt]) == 0 else {
            throw XCTSkip("cannot mount a read-only tmpfs here (needs root with CAP_SYS_ADMIN)")
        }
        mounted = mnt
        assertRefusedEarly(try train(["--output", mnt + "/run"]), "\(mnt)/run: cannot create the output folder: Read-only file system (in \(mnt))")
        assertRefusedEarly(try train(["--output", mnt]), "\(mnt): the output folder is not writable: Read-only file system")
        assertRefusedEarly(try train(["--output", scratch + "/run", "--metrics", mnt + "/m.jsonl"]),
                           "\(mnt)/m.jsonl: cannot be created: \(mnt) is not writable: Read-only file system")
    }
}
