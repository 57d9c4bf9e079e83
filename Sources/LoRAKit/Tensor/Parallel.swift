import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Deterministic data parallelism over index ranges with `DispatchQueue.concurrentPerform`.
/// The split of work depends only on the range size and `Parallel.threads`, never on timing, so every
/// element is computed by the same code in the same order whatever the scheduling: results are bit-reproducible.
///
/// OpenBLAS itself runs single-threaded: `gemm` splits a product into disjoint blocks of C, one per worker.
/// That keeps one pool of threads (OpenBLAS's spinning workers would otherwise fight the engine's own
/// workers for the cores between calls) and makes every sgemm safe to call from inside a parallel region.
public enum Parallel {
    /// Worker count for elementwise kernels and attention (set together with the OpenBLAS threads).
    nonisolated(unsafe) public static var threads: Int = 1

    /// Sets both OpenBLAS threads and the worker count used by LoRAKit kernels.
    public static func setThreads(_ n: Int) {
        threads = max(1, n)
        BLAS.setThreads(1)
    }

    /// Marks the threads running a `forEachShard` body (value: shard index + 1): everything they call runs serially.
    @usableFromInline static let shardKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Whether the calling thread is running one shard of a `forEachShard` (its kernels then run serially).
    @inlinable
    public static var inShard: Bool { pthread_getspecific(shardKey) != nil }

    /// The shard the calling thread is running, or nil outside `forEachShard`.
    public static var shardIndex: Int? {
        guard let p = pthread_getspecific(shardKey) else { return nil }
        return Int(bitPattern: p) - 1
    }

    /// Workers a kernel called from this thread may split over: `threads`, or 1 inside a shard.
    @inlinable
    public static var workers: Int { inShard ? 1 : threads }

    /// Runs `body(s)` for `s` in `0..<n`, one shard per worker, each on one thread from start to end: every
    /// `Parallel` kernel and sgemm the body calls runs serially on that thread. Coarse-grained data parallelism
    /// (each shard owns whole sequences) with no barrier until all shards are done.
    public static func forEachShard(_ n: Int, _ body: (Int) -> Void) {
        guard n > 1, !inShard else { for s in 0..<max(n, 0) { body(s) }; return }
        DispatchQueue.concurrentPerform(iterations: n) { s in
            pthread_setspecific(shardKey, UnsafeMutableRawPointer(bitPattern: s + 1))
            body(s)
            pthread_setspecific(shardKey, nil)
        }
    }

    /// Row-major `C = alpha·op(A)·op(B) + beta·C` (as `BLAS.gemm`) split over the workers: along the longer side of C
    /// (each block then reads only its share of the larger operand); each worker runs a single-threaded sgemm on its own block.
    public static func gemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        let w = workers
        let work = m * n * max(k, 1)
        if w <= 1 || work < 1 << 18 {
            BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c, ldc: ldc)
            return
        }
        if m >= 32 * w && (m > n || n < 32 * w) {
            // blocks of rows (multiples of 16 for the kernels' sake)
            let per = ((m + w - 1) / w + 15) / 16 * 16
            let parts = (m + per - 1) / per
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let i0 = p * per, i1 = min(m, i0 + per)
                guard i0 < i1 else { return }
                let ap = transA ? a + i0 : a + i0 * lda
                BLAS.gemm(transA: transA, transB: transB, m: i1 - i0, n: n, k: k, alpha: alpha, a: ap, lda: lda,
                          b: b, ldb: ldb, beta: beta, c: c + i0 * ldc, ldc: ldc)
            }
        } else if n >= 32 * w {
            let per = ((n + w - 1) / w + 15) / 16 * 16
            let parts = (n + per - 1) / per
            DispatchQueue.concurrentPerform(iterations: parts) { p in
                let j0 = p * per, j1 = min(n, j0 + per)
                guard j0 < j1 else { return }
                let bp = transB ? b + j0 * ldb : b + j0
                BLAS.gemm(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha, a: a, lda: lda,
                          b: bp, ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
            }
        } else {
            BLAS.gemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                      beta: beta, c: c, ldc: ldc)
        }
    }

    /// Runs `body` over `0..<n` split into contiguous chunks of at least `minChunk` items.
    @inlinable
    public static func forRanges(_ n: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard n > 0 else { return }
        let chunks = min(workers, max(1, n / max(1, minChunk)))
        if chunks <= 1 { body(0..<n); return }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let lo = n * c / chunks, hi = n * (c + 1) / chunks
            if lo < hi { body(lo..<hi) }
        }
    }

    /// Runs `body(i)` for each independent work item `i` in `0..<n` on the workers (items may call
    /// `BLAS.gemm`, which is single-threaded).
    public static func forEachItem(_ n: Int, _ body: (Int) -> Void) {
        guard n > 0 else { return }
        let count = min(workers, n)
        if count <= 1 { for i in 0..<n { body(i) }; return }
        DispatchQueue.concurrentPerform(iterations: count) { w in
            var i = w
            while i < n { body(i); i += count }
        }
    }
}
