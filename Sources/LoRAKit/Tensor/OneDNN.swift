import CDNNL
import Foundation

/// bf16 matrix products through oneDNN's matmul primitive: bf16 operands, fp32 accumulation, fp32 output.
///
/// One primitive per shape (m, n, k, strides, transposition, accumulate), created on first use and reused. oneDNN runs
/// single-threaded inside each call (its OpenMP team is set to 1 on the calling thread): the engine's own workers split
/// the work, as `Parallel.gemm` does for OpenBLAS, so there is one pool of threads and nothing spins between calls.
/// Each primitive takes its scratchpad from the caller (user scratchpad mode), so primitives run concurrently.
public enum OneDNN {
    /// The library's engine and what it was built with; nil when oneDNN could not make a CPU engine.
    final class Runtime: @unchecked Sendable {
        let engine: dnnl_engine_t
        init?() {
            var e: dnnl_engine_t?
            guard dnnl_engine_create(&e, dnnl_cpu, 0) == dnnl_success, let e else { return nil }
            engine = e
            // primitives are cached here, bounded; oneDNN's own cache (1024 entries) would keep evicted ones alive
            dnnl_set_primitive_cache_capacity(0)
        }
    }

    nonisolated(unsafe) static let runtime: Runtime? = Runtime()

    /// libgomp's `omp_set_num_threads`, looked up in the process (oneDNN links libgomp; Debian ships no libgomp.so
    /// to link against without gcc's own folder).
    nonisolated(unsafe) private static let setOMPThreads: (@convention(c) (Int32) -> Void)? = {
        guard let sym = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "omp_set_num_threads") else { return nil }
        return unsafeBitCast(sym, to: (@convention(c) (Int32) -> Void).self)
    }()

    /// oneDNN's OpenMP team on the calling thread: one thread (the engine's workers split the work).
    static func singleThreaded() { setOMPThreads?(1) }

    /// The instruction set oneDNN's kernels use on this CPU (honours `ONEDNN_MAX_CPU_ISA`).
    public static var isa: dnnl_cpu_isa_t { dnnl_get_effective_cpu_isa() }

    /// A readable name for `isa`: "avx512_core_bf16", "avx2", ...
    public static var isaName: String {
        switch isa {
        case dnnl_cpu_isa_sse41: return "sse41"
        case dnnl_cpu_isa_avx: return "avx"
        case dnnl_cpu_isa_avx2: return "avx2"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx512_mic: return "avx512_mic"
        case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        default: return "isa 0x" + String(isa.rawValue, radix: 16)
        }
    }

    /// Whether the CPU does bf16 arithmetic natively (AVX512_BF16 or AMX), so bf16 products beat fp32 ones. Without
    /// it oneDNN still computes bf16 products, by emulation, slower than OpenBLAS's fp32.
    public static var hasNativeBF16: Bool {
        runtime != nil && (isa.rawValue & dnnl_cpu_isa_avx512_core_bf16.rawValue) == dnnl_cpu_isa_avx512_core_bf16.rawValue
    }

    /// Whether bf16 products can run at all (oneDNN made a CPU engine).
    public static var available: Bool { runtime != nil }

    /// A primitive's shape; `m` is `runtimeRows` for one that takes its row count at execution.
    struct Shape: Hashable {
        var m, n, k, lda, ldb, ldc: Int
        var transB: Bool
        var accumulate: Bool
    }

    /// A created primitive and the scratchpad bytes it needs; destroyed when the cache and every caller let go.
    final class Primitive: @unchecked Sendable {
        let primitive: dnnl_primitive_t
        let src, weights, dst: dnnl_memory_desc_t
        let scratchpad: dnnl_memory_desc_t
        let scratchpadBytes: Int
        let implementation: String
        init(primitive: dnnl_primitive_t, src: dnnl_memory_desc_t, weights: dnnl_memory_desc_t, dst: dnnl_memory_desc_t,
             scratchpad: dnnl_memory_desc_t, scratchpadBytes: Int, implementation: String) {
            self.primitive = primitive
            self.src = src
            self.weights = weights
            self.dst = dst
            self.scratchpad = scratchpad
            self.scratchpadBytes = scratchpadBytes
            self.implementation = implementation
        }
        deinit { dnnl_primitive_destroy(primitive) }
        /// Last use (the cache's clock), for evicting the least recently used.
        var used = 0
    }

    /// Most primitives kept (each holds JIT-compiled code). The engine's shapes are a few dozen per model: row counts
    /// that are multiples of 16 (the shards' rows) get their own primitive; any other row count (the LM head's chunks
    /// of unmasked rows, which vary from batch to batch) shares one that takes the rows at execution time.
    static let cacheLimit = 192
    /// `Shape.m` of a primitive whose row count is given at execution (oneDNN's runtime dimension).
    static let runtimeRows = -1
    nonisolated(unsafe) private static var clock = 0

    /// Primitives in the cache now (tests).
    static var cachedCount: Int {
        lock.lock()
        defer { lock.unlock() }
        return primitives.count
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var primitives: [Shape: Primitive] = [:]
    /// Shapes oneDNN could not build a primitive for (no bf16 kernel on this CPU): not asked again.
    nonisolated(unsafe) private static var refused: Set<Shape> = []

    /// The kernel oneDNN chose for the most recently created primitive (e.g. "brg:avx512_core_bf16").
    nonisolated(unsafe) public private(set) static var lastImplementation = ""

    /// Per-thread scratchpad, grown as needed.
    final class Scratchpad {
        var pointer: UnsafeMutableRawPointer?
        var bytes = 0
        deinit { pointer?.deallocate() }
        func reserve(_ n: Int) -> UnsafeMutableRawPointer? {
            guard n > 0 else { return nil }
            if n > bytes {
                pointer?.deallocate()
                pointer = .allocate(byteCount: n, alignment: 64)
                bytes = n
            }
            return pointer
        }
    }

    private static let scratchKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { p in if let p { Unmanaged<Scratchpad>.fromOpaque(p).release() } }
        return key
    }()

    private static var threadScratchpad: Scratchpad {
        if let p = pthread_getspecific(scratchKey) { return Unmanaged<Scratchpad>.fromOpaque(p).takeUnretainedValue() }
        let s = Scratchpad()
        pthread_setspecific(scratchKey, Unmanaged.passRetained(s).toOpaque())
        return s
    }

    static func primitive(_ s: Shape) -> Primitive? {
        lock.lock()
        defer { lock.unlock() }
        clock += 1
        if let p = primitives[s] { p.used = clock; return p }
        if refused.contains(s) { return nil }
        guard let p = create(s) else {
            refused.insert(s)
            return nil
        }
        if primitives.count >= cacheLimit, let old = primitives.min(by: { $0.value.used < $1.value.used }) {
            primitives[old.key] = nil  // a caller still executing it holds its own reference
        }
        p.used = clock
        primitives[s] = p
        lastImplementation = p.implementation
        return p
    }

    private static func create(_ s: Shape) -> Primitive? {
        guard let engine = runtime?.engine else { return nil }
        singleThreaded()
        var src = dnnl_memory_desc_t(), wei = dnnl_memory_desc_t(), dst = dnnl_memory_desc_t()
        let rows = s.m == runtimeRows ? dnnl_dim_t(Int64.min) : dnnl_dim_t(s.m)  // DNNL_RUNTIME_DIM_VAL
        var sd: [dnnl_dim_t] = [rows, dnnl_dim_t(s.k)], ss: [dnnl_dim_t] = [dnnl_dim_t(s.lda), 1]
        var wd: [dnnl_dim_t] = [dnnl_dim_t(s.k), dnnl_dim_t(s.n)]
        // op(B) (k, n): B stored (n, k) row-major when transposed (element (i, j) at j·ldb + i), else (k, n)
        var ws: [dnnl_dim_t] = s.transB ? [1, dnnl_dim_t(s.ldb)] : [dnnl_dim_t(s.ldb), 1]
        var dd: [dnnl_dim_t] = [rows, dnnl_dim_t(s.n)], ds: [dnnl_dim_t] = [dnnl_dim_t(s.ldc), 1]
        guard dnnl_memory_desc_init_by_strides(&src, 2, &sd, dnnl_bf16, &ss) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&wei, 2, &wd, dnnl_bf16, &ws) == dnnl_success,
              dnnl_memory_desc_init_by_strides(&dst, 2, &dd, dnnl_f32, &ds) == dnnl_success else { return nil }
        var desc = dnnl_matmul_desc_t()
        guard dnnl_matmul_desc_init(&desc, &src, &wei, nil, &dst) == dnnl_success else { return nil }
        var attr: dnnl_primitive_attr_t?
        guard dnnl_primitive_attr_create(&attr) == dnnl_success, let attr else { return nil }
        defer { dnnl_primitive_attr_destroy(attr) }
        dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user)
        if s.accumulate {
            var ops: dnnl_post_ops_t?
            guard dnnl_post_ops_create(&ops) == dnnl_success, let ops else { return nil }
            defer { dnnl_post_ops_destroy(ops) }
            dnnl_post_ops_append_sum(ops, 1)
            dnnl_primitive_attr_set_post_ops(attr, ops)
        }
        var pd: dnnl_primitive_desc_t?
        guard dnnl_primitive_desc_create(&pd, &desc, attr, engine, nil) == dnnl_success, let pd else { return nil }
        defer { dnnl_primitive_desc_destroy(pd) }
        var impl: UnsafePointer<CChar>?
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl)
        var scratch = dnnl_memory_desc_t()
        if let md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0) { scratch = md.pointee }
        var prim: dnnl_primitive_t?
        guard dnnl_primitive_create(&prim, pd) == dnnl_success, let prim else { return nil }
        return Primitive(primitive: prim, src: src, weights: wei, dst: dst, scratchpad: scratch,
                         scratchpadBytes: dnnl_memory_desc_get_size(&scratch),
                         implementation: impl.map { String(cString: $0) } ?? "?")
    }

    /// C (m, n) = A (m, k) · op(B) (+ C when `accumulate`), fp32 C, bf16 A and B (bits), row-major with row strides
    /// lda / ldb / ldc; op(B) = Bᵀ for B stored (n, k) when `transB`, else B stored (k, n). Single-threaded.
    /// Returns false when oneDNN cannot run the product (the caller then falls back to fp32).
    @discardableResult
    public static func matmul(
        m: Int, n: Int, k: Int, a: UnsafePointer<UInt16>, lda: Int, b: UnsafePointer<UInt16>, ldb: Int, transB: Bool,
        c: UnsafeMutablePointer<Float>, ldc: Int, accumulate: Bool
    ) -> Bool {
        guard m > 0, n > 0 else { return true }
        guard k > 0 else {
            if !accumulate { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            return true
        }
        let shapeRows = m % 16 == 0 ? m : runtimeRows
        guard let engine = runtime?.engine,
              let p = primitive(Shape(m: shapeRows, n: n, k: k, lda: lda, ldb: ldb, ldc: ldc, transB: transB,
                                      accumulate: accumulate))
        else { return false }
        singleThreaded()
        var src = p.src, wei = p.weights, dst = p.dst, spd = p.scratchpad
        if shapeRows == runtimeRows {
            // the memory objects carry the actual rows
            var sd: [dnnl_dim_t] = [dnnl_dim_t(m), dnnl_dim_t(k)], ss: [dnnl_dim_t] = [dnnl_dim_t(lda), 1]
            var dd: [dnnl_dim_t] = [dnnl_dim_t(m), dnnl_dim_t(n)], ds: [dnnl_dim_t] = [dnnl_dim_t(ldc), 1]
            guard dnnl_memory_desc_init_by_strides(&src, 2, &sd, dnnl_bf16, &ss) == dnnl_success,
                  dnnl_memory_desc_init_by_strides(&dst, 2, &dd, dnnl_f32, &ds) == dnnl_success else { return false }
        }
        var am: dnnl_memory_t?, bm: dnnl_memory_t?, cm: dnnl_memory_t?, sm: dnnl_memory_t?
        defer {
            for x in [am, bm, cm, sm] { if let x { dnnl_memory_destroy(x) } }
        }
        guard dnnl_memory_create(&am, &src, engine, UnsafeMutableRawPointer(mutating: a)) == dnnl_success,
              dnnl_memory_create(&bm, &wei, engine, UnsafeMutableRawPointer(mutating: b)) == dnnl_success,
              dnnl_memory_create(&cm, &dst, engine, UnsafeMutableRawPointer(c)) == dnnl_success else { return false }
        var args = [dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: am), dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: bm),
                    dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: cm)]
        if p.scratchpadBytes > 0 {
            guard dnnl_memory_create(&sm, &spd, engine, threadScratchpad.reserve(p.scratchpadBytes)) == dnnl_success
            else { return false }
            args.append(dnnl_exec_arg_t(arg: DNNL_ARG_SCRATCHPAD, memory: sm))
        }
        let stream = threadStream(engine)
        guard let stream, dnnl_primitive_execute(p.primitive, stream, Int32(args.count), &args) == dnnl_success else {
            return false
        }
        return dnnl_stream_wait(stream) == dnnl_success
    }

    private static let streamKey: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { p in if let p { dnnl_stream_destroy(OpaquePointer(p)) } }
        return key
    }()

    /// The calling thread's stream (created on first use, destroyed with the thread).
    private static func threadStream(_ engine: dnnl_engine_t) -> dnnl_stream_t? {
        if let p = pthread_getspecific(streamKey) { return OpaquePointer(p) }
        var s: dnnl_stream_t?
        guard dnnl_stream_create(&s, engine, dnnl_stream_default_flags.rawValue) == dnnl_success, let s else { return nil }
        pthread_setspecific(streamKey, UnsafeRawPointer(s))
        return s
    }
}
