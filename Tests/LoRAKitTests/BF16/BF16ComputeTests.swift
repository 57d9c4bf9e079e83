import Foundation
import XCTest
@testable import LoRAKit
import CKernels

/// bf16 rounding, and oneDNN's bf16 products against an fp64 reference of the same rounded operands. These run on any
/// CPU oneDNN runs on (natively with AVX512_BF16 or AMX, emulated otherwise): the products are forced to bf16.
///
/// Bound: each product of two bf16 values is exact in fp32 (8 + 8 significant bits), so the only error is the fp32
/// accumulation of k terms: |c − c_ref| ≤ k·u·Σ|aᵢ·bᵢ| with u = 2⁻²⁴, for any order of summation (Higham, §3.1).
final class BF16ProductTests: XCTestCase {
    override func tearDown() {
        Compute.activate(.fp32)
        Parallel.setThreads(2)
    }

    func testRoundingIsToNearestEven() {
        XCTAssertEqual(BFloat16.bits(1), 0x3F80)
        XCTAssertEqual(BFloat16.bits(-2), 0xC000)
        // 1 + 2⁻⁸ is halfway between 1 and 1 + 2⁻⁷: ties to the even mantissa (1); 1 + 3·2⁻⁸ ties up to 1 + 2⁻⁶
        XCTAssertEqual(BFloat16.float(BFloat16.bits(1 + 1.0 / 256)), 1)
        XCTAssertEqual(BFloat16.float(BFloat16.bits(1 + 3.0 / 256)), 1 + 4.0 / 256)
        XCTAssertEqual(BFloat16.float(BFloat16.bits(1 + 1.5 / 256)), 1 + 2.0 / 256)
        XCTAssertEqual(BFloat16.bits(.infinity), 0x7F80)
        XCTAssertEqual(BFloat16.bits(-.infinity), 0xFF80)
        XCTAssertTrue(BFloat16.float(BFloat16.bits(.nan)).isNaN)
        XCTAssertTrue(BFloat16.float(BFloat16.bits(Float(bitPattern: 0x7F80_0001))).isNaN, "a NaN whose payload is low bits only")
        XCTAssertEqual(BFloat16.float(BFloat16.bits(.greatestFiniteMagnitude)), .infinity, "rounds past the largest bf16")
    }

    func testVectorConversionMatchesScalarAndWidensExactly() {
        var rng = SeededRNG(seed: 3)
        var x = (0..<1037).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next())) }
        x += [0, -0, .nan, .infinity, -.infinity, 1 + 1.0 / 256, .leastNonzeroMagnitude]
        var bits = [UInt16](repeating: 0, count: x.count)
        x.withUnsafeBufferPointer { xs in bits.withUnsafeMutableBufferPointer { b in
            BFloat16.convert(xs.baseAddress!, to: b.baseAddress!, count: xs.count)
        } }
        for i in x.indices {
            let want = BFloat16.bits(x[i])
            if x[i].isNaN { XCTAssertTrue(BFloat16.float(bits[i]).isNaN, "index \(i)") } else { XCTAssertEqual(bits[i], want, "index \(i): \(x[i])") }
        }
        var back = [Float](repeating: 0, count: x.count)
        bits.withUnsafeBufferPointer { b in back.withUnsafeMutableBufferPointer { o in
            BFloat16.widen(b.baseAddress!, to: o.baseAddress!, count: b.count)
        } }
        for i in x.indices where !x[i].isNaN { XCTAssertEqual(back[i].bitPattern, UInt32(bits[i]) << 16) }
    }

    /// C = A·op(B) (+ C) with A (m, k), op(B) (k, n), each with a row stride wider than the matrix, against fp64.
    private func checkProduct(m: Int, n: Int, k: Int, transB: Bool, accumulate: Bool, threads: Int,
                              file: StaticString = #filePath, line: UInt = #line) {
        Parallel.setThreads(threads)
        var rng = SeededRNG(seed: UInt64(m * 7 + n * 13 + k))
        let lda = k + 3, ldb = (transB ? k : n) + 5, ldc = n + 2
        let bRows = transB ? n : k
        let a = (0..<(m * lda)).map { _ in BFloat16.bits(rng.uniform(-2, 2)) }
        let b = (0..<(bRows * ldb)).map { _ in BFloat16.bits(rng.uniform(-1, 1) * 0.1) }
        let c0 = (0..<(m * ldc)).map { _ in rng.uniform(-1, 1) }
        var c = c0
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            LinearBF16.product(m: m, n: n, k: k, a: ap.baseAddress!, lda: lda, b: bp.baseAddress!, ldb: ldb, transB: transB,
                               c: cp.baseAddress!, ldc: ldc, accumulate: accumulate)
        } } }
        var worst = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0, mag = 0.0
                for t in 0..<k {
                    let av = Double(BFloat16.float(a[i * lda + t]))
                    let bv = Double(BFloat16.float(transB ? b[j * ldb + t] : b[t * ldb + j]))
                    s += av * bv
                    mag += abs(av * bv)
                }
                if accumulate { s += Double(c0[i * ldc + j]); mag += abs(Double(c0[i * ldc + j])) }
                let bound = Double(k + 1) * 0x1p-24 * mag + 1e-30
                let err = abs(Double(c[i * ldc + j]) - s)
                worst = max(worst, err / bound)
            }
            // the padding between rows of C is never written
            for j in n..<ldc { XCTAssertEqual(c[i * ldc + j], c0[i * ldc + j], "row \(i) padding", file: file, line: line) }
        }
        XCTAssertLessThanOrEqual(worst, 1, "\(m)×\(n)×\(k) transB \(transB) accumulate \(accumulate): error / bound", file: file, line: line)
    }

    func testProductsMatchAnFP64ReferenceOfTheRoundedOperands() throws {
        try XCTSkipUnless(OneDNN.available, "oneDNN could not make a CPU engine")
        for threads in [1, 2] {
            for transB in [true, false] {
                for accumulate in [false, true] {
                    checkProduct(m: 67, n: 192, k: 576, transB: transB, accumulate: accumulate, threads: threads)
                }
            }
            checkProduct(m: 1, n: 300, k: 64, transB: true, accumulate: false, threads: threads)   // one decoding row
            checkProduct(m: 256, n: 40, k: 130, transB: false, accumulate: true, threads: threads)
        }
        print("bf16 products: oneDNN \(OneDNN.isaName), kernel \(OneDNN.lastImplementation), native bf16 \(OneDNN.hasNativeBF16)")
    }

    /// Products whose row count varies (the LM head's chunks of unmasked rows) reuse a bounded set of primitives: one
    /// per multiple of 16 rows, one taking any other row count at execution; the cache evicts past its limit.
    func testVaryingRowCountsNeedFewPrimitives() throws {
        try XCTSkipUnless(OneDNN.available, "oneDNN could not make a CPU engine")
        Parallel.setThreads(1)
        let before = OneDNN.cachedCount
        let k = 64, n = 48
        var rng = SeededRNG(seed: 2)
        let a = (0..<(200 * k)).map { _ in BFloat16.bits(rng.uniform(-1, 1)) }
        let b = (0..<(n * k)).map { _ in BFloat16.bits(rng.uniform(-1, 1)) }
        for m in 1...200 {
            var c = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                LinearBF16.product(m: m, n: n, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: k, transB: true,
                                   c: cp.baseAddress!, ldc: n, accumulate: false)
            } } }
            // the last row against a direct dot product of the same bf16 values
            var ref = 0.0
            for t in 0..<k { ref += Double(BFloat16.float(a[(m - 1) * k + t])) * Double(BFloat16.float(b[(n - 1) * k + t])) }
            XCTAssertEqual(Double(c[m * n - 1]), ref, accuracy: 1e-4, "m \(m)")
        }
        let added = OneDNN.cachedCount - before
        XCTAssertLessThanOrEqual(added, 12 + 1, "200 row counts: 12 multiples of 16 and one for the others")
        XCTAssertLessThanOrEqual(OneDNN.cachedCount, OneDNN.cacheLimit)
    }

    /// `Linear` in bf16 on fp32, bf16 and NF4 storage: the activation and each weight rounded to bf16, products as above.
    func testLinearForwardAndBackwardInBF16() throws {
        try XCTSkipUnless(OneDNN.available, "oneDNN could not make a CPU engine")
        let N = 70, I = 96, O = 200
        var rng = SeededRNG(seed: 9)
        let w = (0..<(O * I)).map { _ in rng.uniform(-0.2, 0.2) }
        let x = (0..<(N * I)).map { _ in rng.uniform(-1, 1) }
        let g = (0..<(N * O)).map { _ in rng.uniform(-1, 1) }
        let dense = DenseMatrix(rows: O, cols: I, values: w)
        let storages: [FrozenMatrix] = [dense, BF16Matrix(dense),
                                        try Quantizer.quantize(dense, kind: .nf4, blockSize: 64, doubleQuant: true, name: "w")]
        Compute.activate(.bf16)
        for s in storages {
            let wr = s.dequantizedArray().map(BFloat16.round)
            let xr = x.map(BFloat16.round), gr = g.map(BFloat16.round)
            var out = [Float](repeating: 0, count: N * O), dx = [Float](repeating: 0.5, count: N * I)
            let scratch = ScratchBuffer()
            out.withUnsafeMutableBufferPointer { op in x.withUnsafeBufferPointer { xp in
                Linear.forward(out: op.baseAddress!, x: xp.baseAddress!, weight: s, bias: nil, N: N, scratch: scratch)
            } }
            dx.withUnsafeMutableBufferPointer { dp in g.withUnsafeBufferPointer { gp in
                Linear.backward(dx: dp.baseAddress!, dout: gp.baseAddress!, weight: s, N: N, scratch: scratch, beta: 1)
            } }
            var worst = 0.0
            for n in 0..<N {
                for o in 0..<O {
                    var ref = 0.0, mag = 0.0
                    for i in 0..<I { let p = Double(xr[n * I + i]) * Double(wr[o * I + i]); ref += p; mag += abs(p) }
                    worst = max(worst, abs(Double(out[n * O + o]) - ref) / (Double(I) * 0x1p-24 * mag + 1e-30))
                }
                for i in 0..<I {
                    var ref = 0.5, mag = 0.5
                    for o in 0..<O { let p = Double(gr[n * O + o]) * Double(wr[o * I + i]); ref += p; mag += abs(p) }
                    worst = max(worst, abs(Double(dx[n * I + i]) - ref) / (Double(O + 1) * 0x1p-24 * mag + 1e-30))
                }
            }
            XCTAssertLessThanOrEqual(worst, 1, "\(s.storageName): error / bound")
        }
    }

    func testBF16StorageHalvesTheBytesAndReadsBackTheRoundedWeights() {
        var rng = SeededRNG(seed: 4)
        let w = (0..<(33 * 17)).map { _ in rng.uniform(-3, 3) }
        let m = BF16Matrix(DenseMatrix(rows: 33, cols: 17, values: w))
        XCTAssertEqual(m.storageBytes, 33 * 17 * 2)
        XCTAssertEqual(m.storageName, "bf16")
        XCTAssertEqual(m.dequantizedArray(), w.map(BFloat16.round))
        // from a quantized source, tile by tile: the rounded dequantized values
        let q = try? Quantizer.quantize(DenseMatrix(rows: 33, cols: 17, values: w), kind: .int8, blockSize: 64, doubleQuant: false, name: "w")
        if let q { XCTAssertEqual(BF16Matrix(q).dequantizedArray(), q.dequantizedArray().map(BFloat16.round)) }
    }
}

/// What `--compute` resolves to, and a whole tiny model in bf16 against fp32.
final class BF16ModelTests: XCTestCase {
    override func tearDown() { Compute.activate(.fp32) }

    func testRequestsResolveByTheCPU() {
        XCTAssertEqual(Compute.resolve(.fp32), Compute.Choice(precision: .fp32, note: nil))
        XCTAssertEqual(Compute.resolve(.auto).precision, OneDNN.hasNativeBF16 ? .bf16 : .fp32)
        XCTAssertNil(Compute.resolve(.auto).note)
        let bf16 = Compute.resolve(.bf16)
        if OneDNN.hasNativeBF16 {
            XCTAssertEqual(bf16, Compute.Choice(precision: .bf16, note: nil))
        } else {
            XCTAssertEqual(bf16.precision, .fp32, "never the slow emulated path unasked")
            XCTAssertTrue(bf16.note?.contains("using fp32") ?? false, bf16.note ?? "no note")
        }
        XCTAssertEqual(Compute.resolve(.bf16, allowEmulated: true).precision, OneDNN.available ? .bf16 : .fp32)
        XCTAssertEqual(ComputePrecision(parsing: " BF16 "), .bf16)
        XCTAssertEqual(ComputePrecision(parsing: "float32"), .fp32)
        XCTAssertNil(ComputePrecision(parsing: "fp16"))
    }

    /// The tiny preset (2 layers, C 64, random init as `preset:tiny` runs have), r 4 with B away from zero so every
    /// gradient path carries signal: the loss and every LoRA gradient in bf16 within 1e-2 of fp32, relative in norm
    /// (‖g_bf16 − g_fp32‖ / ‖g_fp32‖ per tensor; the largest element difference over the tensor's largest element,
    /// about 1% here, is printed). Rounding the weights to bf16 alone (fp32 arithmetic) is printed beside it: most of the
    /// difference is that rounding, which bf16 storage and PyTorch's autocast share. (The committed tiny-llama fixture,
    /// initialised at std 0.2, is far more sensitive: rounding its weights alone moves its gradients by ~3%.)
    func testTinyModelLossAndGradientsInBF16AreCloseToFP32() throws {
        try XCTSkipUnless(OneDNN.available, "oneDNN could not make a CPU engine")
        let c = try XCTUnwrap(TrainingRun.presetConfig("tiny"))
        var rng = SeededRNG(seed: 11)
        let B = 2, T = 64
        var inputs: [Int32] = [], targets: [Int32] = []
        for _ in 0..<B {
            let ids = (0...T).map { _ in Int32(rng.next() % UInt64(c.vocab)) }
            inputs += ids[0..<T]
            targets += ids[1...T]
        }
        let batch = Batch(batch: B, seqLen: T, inputs: inputs, targets: targets)
        func run(_ p: ComputePrecision, roundedWeights: Bool) throws -> (loss: Double, grads: [[Float]]) {
            Compute.activate(p)
            let model = try LlamaModel(random: c, seed: 3) { _, m in roundedWeights ? BF16Matrix(m) : m }
            let t = try Trainer(model: model, lora: try LoRAConfig(rank: 4, alpha: 8), optimizer: OptimizerConfig(), seed: 1)
            var r = SeededRNG(seed: 5)
            for ad in t.model.adapters {
                for i in 0..<ad.adapter.b.count { ad.adapter.b.value.pointer[i] = r.uniform(-0.05, 0.05) }
            }
            let g = TrainingGraph(model: t.model, B: B, T: T)
            for p in t.parameters { p.grad.zero() }
            try g.forward(batch, dropoutSeed: nil)
            let loss = g.backward(batch, gradScale: 1 / Float(batch.trainedTokens))
            return (loss, t.parameters.map { $0.grad.array })
        }
        func worst(_ a: [[Float]], _ b: [[Float]]) -> Float { zip(a, b).map { relMaxDiff($0, $1) }.max() ?? 0 }
        func worstNorm(_ a: [[Float]], _ b: [[Float]]) -> Double {
            zip(a, b).map { x, y in
                var d = 0.0, n = 0.0
                for i in x.indices { d += Double(x[i] - y[i]) * Double(x[i] - y[i]); n += Double(y[i]) * Double(y[i]) }
                return (d / max(n, 1e-300)).squareRoot()
            }.max() ?? 0
        }
        let f = try run(.fp32, roundedWeights: false), b = try run(.bf16, roundedWeights: true)
        let rounded = try run(.fp32, roundedWeights: true)
        XCTAssertEqual(b.loss, f.loss, accuracy: 1e-2 * abs(f.loss))
        for g in f.grads { XCTAssertGreaterThan(g.map(abs).max() ?? 0, 0) }
        XCTAssertEqual(f.grads.count, 2 * 7 * c.layers)
        let w = worstNorm(b.grads, f.grads)
        XCTAssertLessThan(w, 1e-2, "largest relative gradient difference (in norm) over the LoRA tensors")
        print("tiny model bf16 vs fp32: loss \(b.loss) vs \(f.loss); worst gradient difference in norm \(w), "
              + "elementwise \(worst(b.grads, f.grads)) (weights rounded to bf16 alone: \(worstNorm(rounded.grads, f.grads)) / "
              + "\(worst(rounded.grads, f.grads)))")
    }
}

/// The whole SmolLM2 sample in bf16 (base held in bf16, as a run holds it) against transformers on the same weights:
/// fp32, and `torch.autocast("cpu", dtype=torch.bfloat16)` (Fixtures/bf16/make_bf16_fixture.py). Autocast also runs
/// attention and the MLP's activation in bf16 where loratop keeps them in fp32, so the two bf16 results differ from
/// fp32 by similar amounts, not identically.
final class BF16SmolLM2Tests: XCTestCase {
    override func tearDown() { Compute.activate(.fp32) }

    func testLogitsInBF16AgainstTransformersAutocast() throws {
        try XCTSkipUnless(OneDNN.available, "oneDNN could not make a CPU engine")
        let path = try TestModels.smollm2Path()
        Compute.activate(.bf16)
        let model = try LlamaModel(source: try loadWeights(path: path)) { name, m in
            try TrainingRun.store(m, name: name, kind: .none, blockSize: 64, doubleQuant: false, bf16: true)
        }
        let fx = try TestModels.json("bf16/autocast_logits.json")
        let prompts = try XCTUnwrap(fx["prompts"] as? [[String: Any]])
        var vsFP32: Float = 0, vsAutocast: Float = 0, autocastVsFP32: Float = 0
        var agree = 0, positions = 0, closeCalls = 0
        for p in prompts {
            let ids = try XCTUnwrap(p["ids"] as? [Int]).map(Int32.init)
            let subsetIDs = try XCTUnwrap(p["subset_ids"] as? [[Int]])
            let fp32 = try XCTUnwrap(p["subset_fp32"] as? [[Double]]), bf16 = try XCTUnwrap(p["subset_bf16"] as? [[Double]])
            let argmaxFP32 = try XCTUnwrap(p["argmax_fp32"] as? [Int])
            let logits = try KVCache(model: model, capacity: ids.count).append(ids)
            let V = model.config.vocab
            for t in 0..<ids.count {
                let row = Array(logits[(t * V)..<((t + 1) * V)])
                for (k, id) in subsetIDs[t].enumerated() {
                    vsFP32 = max(vsFP32, abs(row[id] - Float(fp32[t][k])))
                    vsAutocast = max(vsAutocast, abs(row[id] - Float(bf16[t][k])))
                    autocastVsFP32 = max(autocastVsFP32, Float(abs(bf16[t][k] - fp32[t][k])))
                }
                positions += 1
                if Sampler.argmax(row) == argmaxFP32[t] {
                    agree += 1
                } else {
                    // a disagreement is allowed only where fp32's top two are within bf16's noise (the subset holds
                    // fp32's top 16, best first)
                    let gap = fp32[t][0] - fp32[t][1]
                    XCTAssertLessThan(gap, 0.25, "position \(t) of \(ids): argmax differs with a fp32 margin of \(gap)")
                    closeCalls += 1
                }
            }
        }
        XCTAssertEqual(positions, 36)
        XCTAssertGreaterThanOrEqual(agree, positions - 2)
        XCTAssertLessThanOrEqual(vsFP32, 1.0, "max |Δlogit| of loratop bf16 against transformers fp32")
        XCTAssertLessThanOrEqual(vsAutocast, 1.0, "max |Δlogit| of loratop bf16 against transformers autocast bf16")
        print("SmolLM2 bf16: max |Δlogit| vs transformers fp32 \(vsFP32), vs autocast \(vsAutocast) (autocast vs fp32 "
              + "\(autocastVsFP32)); argmax agrees with fp32 at \(agree)/\(positions) (\(closeCalls) near-ties)")
    }
}

/// 4-bit storage dequantized straight to bf16 (byte-shuffle kernel and its portable twin) gives exactly the bits of
/// fp32 dequantization followed by rounding, for any row range, block size and odd element offsets.
final class BF16DequantizeTests: XCTestCase {
    override func tearDown() { loratop_dequant4_bf16_force_portable(0) }

    func testFourBitTilesMatchRoundedFP32Dequantization() throws {
        var rng = SeededRNG(seed: 21)
        for (rows, cols, block) in [(37, 96, 64), (9, 45, 32), (5, 333, 128), (64, 576, 64)] {
            let w = (0..<(rows * cols)).map { _ in rng.uniform(-1, 1) * (rng.uniform(0, 1) < 0.01 ? 20 : 1) }
            let dense = DenseMatrix(rows: rows, cols: cols, values: w)
            for kind in [QuantKind.nf4, .fp4] {
                for dq in [false, true] {
                    let q = try Quantizer.quantize(dense, kind: kind, blockSize: block, doubleQuant: dq, name: "w")
                    XCTAssertTrue(q is Blockwise4BitMatrix)
                    for portable in [false, true] {
                        loratop_dequant4_bf16_force_portable(portable ? 1 : 0)
                        for range in [0..<rows, 1..<rows, (rows / 2)..<(rows / 2 + 1), (rows - 1)..<rows] {
                            var f = [Float](repeating: 0, count: range.count * cols)
                            var b = [UInt16](repeating: 0, count: range.count * cols)
                            f.withUnsafeMutableBufferPointer { q.dequantize(rows: range, into: $0.baseAddress!) }
                            b.withUnsafeMutableBufferPointer { q.dequantizeBF16(rows: range, into: $0.baseAddress!) }
                            XCTAssertEqual(b, f.map(BFloat16.bits), "\(q.storageName) \(rows)×\(cols) block \(block) rows \(range) portable \(portable)")
                        }
                    }
                }
            }
        }
        loratop_dequant4_bf16_force_portable(0)
        print("4-bit → bf16 kernel level \(loratop_dequant4_bf16_level())")
    }
}
