import Foundation
import RunLink

/// A runtime folder of the test process's own (XDG_RUNTIME_DIR for every loratop the tests start), so tests see only
/// their runs, and teardown can end every run they started by pid.
enum TestRuntime {
    /// The XDG_RUNTIME_DIR given to children (0700).
    static let folder: String = {
        let f = NSTemporaryDirectory() + "lt-xdg-\(getpid())"
        mkdir(f, 0o700)
        chmod(f, 0o700)
        return f
    }()

    /// The registry inside it.
    static var registry: RunRegistry? { try? RunRegistry(folder: folder + "/loratop") }

    /// The environment entries a child needs.
    static var environment: [String: String] { ["XDG_RUNTIME_DIR": folder] }

    /// Pids of runs registered as live.
    static func livePIDs() -> [pid_t] {
        guard let r = registry else { return [] }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: r.folder)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.compactMap {
            r.entry(id: String($0.dropLast(5)))
        }.filter(\.isLive).map(\.run.pid)
    }

    /// Ends every run the tests started that is still registered as live: SIGTERM, then SIGKILL after 5 s.
    static func endLiveRuns() {
        let pids = livePIDs().filter { kill($0, 0) == 0 }
        for p in pids { kill(p, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        while pids.contains(where: { kill($0, 0) == 0 }) && Date() < deadline { usleep(20_000) }
        for p in pids where kill(p, 0) == 0 { kill(p, SIGKILL) }
    }

    /// The newest registry entry, waiting up to `timeout` for one to appear.
    static func newestEntry(timeout: Double = 30, where ok: (RegistryEntry) -> Bool = { _ in true }) -> RegistryEntry? {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let e = registry?.entries().first(where: ok) { return e }
            usleep(50_000)
        }
        return nil
    }
}
