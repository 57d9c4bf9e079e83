#if canImport(Glibc)
import Glibc
#endif
import Dispatch

/// Optional per-phase timers for the training step (off by default; `loratop bench --profile` turns them on).
/// With one thread it reads the calling thread's CPU clock, so other processes on a busy machine do not
/// inflate the numbers; with more threads it reads wall time.
public enum Profiler {
    /// Whether phases are timed.
    nonisolated(unsafe) public static var enabled = false
    nonisolated(unsafe) static var totals: [String: Double] = [:]
    nonisolated(unsafe) static var order: [String] = []

    static func now() -> Double {
        #if canImport(Glibc)
        if Parallel.threads == 1 {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
        }
        #endif
        return Double(DispatchTime.now().uptimeNanoseconds) * 1e-9
    }

    /// Runs `body`, adding its duration to phase `name` when enabled.
    @inline(__always)
    public static func measure<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        // inside sharded work only the first shard's thread records (the others run the same phases at the same time)
        guard enabled, (Parallel.shardIndex ?? 0) == 0 else { return try body() }
        let t = now()
        let r = try body()
        let d = now() - t
        if totals[name] == nil { order.append(name) }
        totals[name, default: 0] += d
        return r
    }

    /// Seconds per phase, in first-seen order.
    public static func report() -> [(phase: String, seconds: Double)] { order.map { ($0, totals[$0] ?? 0) } }

    /// Clears the totals.
    public static func reset() { totals = [:]; order = [] }
}
