import Dispatch

/// Deterministic data parallelism over index ranges with `DispatchQueue.concurrentPerform`.
/// The split of work depends only on the range size and `Parallel.threads`, never on timing, so every
/// element is computed by the same code in the same order whatever the scheduling: results are bit-reproducible.
public enum Parallel {
    /// Worker count for elementwise kernels and attention (set together with the OpenBLAS threads).
    nonisolated(unsafe) public static var threads: Int = 1

    /// Sets both OpenBLAS threads and the worker count used by LoRAKit kernels.
    public static func setThreads(_ n: Int) {
        threads = max(1, n)
        BLAS.setThreads(threads)
    }

    /// Runs `body` over `0..<n` split into contiguous chunks of at least `minChunk` items.
    @inlinable
    public static func forRanges(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard n > 0 else { return }
        let chunks = min(threads, max(1, n / max(1, minChunk)))
        if chunks <= 1 { body(0..<n); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks, hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for each independent work item `i` in `0..<n` on the workers, with OpenBLAS held to
    /// one thread meanwhile (each item may call sgemm; OpenBLAS must not fan out from inside a worker).
    public static func forEachItem(_ n: Int, _ body: (Int) -> Void) {
        guard n > 0 else { return }
        let workers = min(threads, n)
        if workers <= 1 { for i in 0..<n { body(i) }; return }
        let saved = BLAS.threads
        BLAS.setThreads(1)
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            var i = w
            while i < n { body(i); i += workers }
        }
        BLAS.setThreads(saved)
    }
}
