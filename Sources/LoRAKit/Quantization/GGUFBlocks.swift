/// Dequantization of GGUF block formats to fp32, bit-exact with gguf-py's `gguf.quants.dequantize`
/// (and so with llama.cpp's reference `dequantize_row_*`): the same operations in the same order, no FMA.
///
/// Layouts (little-endian, per block):
///   Q8_0  (34 B / 32):  f16 d, i8 q[32]                      x = d·q
///   Q4_0  (18 B / 32):  f16 d, u8 qs[16]                     x = d·(n − 8)
///   Q4_1  (20 B / 32):  f16 d, f16 m, u8 qs[16]              x = d·n + m
///         (byte j holds element j in its low nibble, element j+16 in its high nibble)
///   Q5_0  (22 B / 32):  f16 d, u32 qh, u8 qs[16]             x = d·(n + 16·h − 16)
///   Q5_1  (24 B / 32):  f16 d, f16 m, u32 qh, u8 qs[16]      x = d·(n + 16·h) + m
///         (nibbles as Q4; bit j of qh is element j's fifth bit, bit j+16 element j+16's)
///   Q2_K  (84 B / 256): u8 scales[16], u8 qs[64], f16 d, f16 dmin         x = (d·sc)·n − dmin·m  (2-bit n; sc, m nibbles)
///   Q3_K (110 B / 256): u8 hmask[32], u8 qs[64], u8 scales[12], f16 d     x = (d·sc)·(n − 4·(1 − h))  (6-bit sc − 32)
///         (both: 16 sub-blocks of 16; value e's 2 bits are bits 2·((e mod 128) / 32) of qs[32·(e / 128) + e mod 32],
///         Q3_K's high bit is bit e / 32 of hmask[e mod 32])
///   Q4_K (144 B / 256): f16 d, f16 dmin, u8 scales[12], u8 qs[128]        x = (d·sc)·n − dmin·m
///   Q5_K (176 B / 256): f16 d, f16 dmin, u8 scales[12], u8 qh[32], u8 qs[128]
///   Q6_K (210 B / 256): u8 ql[128], u8 qh[64], i8 scales[16], f16 d      x = (d·sc)·(q − 32)
public enum GGUFBlocks {
    /// fp16 bits to fp32 (exact).
    @inline(__always)
    public static func half(_ p: UnsafeRawPointer, _ offset: Int = 0) -> Float {
        Float(Float16(bitPattern: p.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Dequantizes `count` values (a whole number of blocks) of `type` from `src` into `dst`.
    /// Returns false for a type loratop cannot dequantize.
    @discardableResult
    public static func dequantize(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) -> Bool {
        let blocks = count / type.blockValues
        switch type {
        case .f32: UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: count * 4)
        case .f16: f16(src, dst, count)
        case .bf16: bf16(src, dst, count)
        case .q8_0: q8_0(src, dst, blocks)
        case .q4_0: q4_0(src, dst, blocks)
        case .q4_1: q4_1(src, dst, blocks)
        case .q5_0: q5(src, dst, blocks, withMin: false)
        case .q5_1: q5(src, dst, blocks, withMin: true)
        case .q2_K: q2_K(src, dst, blocks)
        case .q3_K: q3_K(src, dst, blocks)
        case .q4_K: q4_K(src, dst, blocks)
        case .q5_K: q5_K(src, dst, blocks)
        case .q6_K: q6_K(src, dst, blocks)
        default: return false
        }
        return true
    }

    static func f16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n { dst[i] = half(src, 2 * i) }
    }

    static func bf16(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        for i in 0..<n {
            dst[i] = Float(bitPattern: UInt32(src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16)
        }
    }

    @inline(__always)
    static func store(_ v: SIMD16<Float>, _ dst: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(dst).storeBytes(of: v, as: SIMD16<Float>.self)
    }

    @inline(__always)
    static func nibbles(_ p: UnsafeRawPointer) -> (lo: SIMD16<Float>, hi: SIMD16<Float>) {
        let b = p.loadUnaligned(as: SIMD16<UInt8>.self)
        let lo = SIMD16<Int32>(truncatingIfNeeded: b & 0x0F)
        let hi = SIMD16<Int32>(truncatingIfNeeded: b &>> 4)
        return (SIMD16<Float>(lo), SIMD16<Float>(hi))
    }

    static func q8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 34
            let d = half(p)
            let q0 = p.loadUnaligned(fromByteOffset: 2, as: SIMD16<Int8>.self)
            let q1 = p.loadUnaligned(fromByteOffset: 18, as: SIMD16<Int8>.self)
            let o = dst + b * 32
            store(SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q0)) * d, o)
            store(SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q1)) * d, o + 16)
        }
    }

    static func q4_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 18
            let d = half(p)
            let (lo, hi) = nibbles(p + 2)
            let o = dst + b * 32
            store((lo - 8) * d, o)
            store((hi - 8) * d, o + 16)
        }
    }

    static func q4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 20
            let d = half(p)
            let m = half(p, 2)
            let (lo, hi) = nibbles(p + 4)
            let o = dst + b * 32
            // Two roundings (multiply, then add), as numpy and ggml's reference code do.
            let dv = SIMD16<Float>(repeating: d)
            let mv = SIMD16<Float>(repeating: m)
            store(lo * dv + mv, o)
            store(hi * dv + mv, o + 16)
        }
    }

    /// Element j's and j+16's fifth bits (j < 16) from a block's qh, as 0 or 16.
    @inline(__always)
    static func fifthBits(_ qh: UInt32) -> (lo: SIMD16<Float>, hi: SIMD16<Float>) {
        let shifts = SIMD16<UInt32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
        let lo = (SIMD16<UInt32>(repeating: qh) &>> shifts) & 1
        let hi = (SIMD16<UInt32>(repeating: qh >> 16) &>> shifts) & 1
        return (SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: lo &<< 4)), SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: hi &<< 4)))
    }

    static func q5(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int, withMin: Bool) {
        let size = withMin ? 24 : 22, qhAt = withMin ? 4 : 2
        for b in 0..<blocks {
            let p = src + b * size
            let d = SIMD16<Float>(repeating: half(p))
            let (lo, hi) = nibbles(p + qhAt + 4)
            let (hlo, hhi) = fifthBits(p.loadUnaligned(fromByteOffset: qhAt, as: UInt32.self))
            let o = dst + b * 32
            if withMin {
                // d·q then + m: two roundings, as gguf-py and ggml's reference code
                let m = SIMD16<Float>(repeating: half(p, 2))
                store((lo + hlo) * d + m, o)
                store((hi + hhi) * d + m, o + 16)
            } else {
                store((lo + hlo - 16) * d, o)
                store((hi + hhi - 16) * d, o + 16)
            }
        }
    }

    /// The 6-bit scale and min of sub-block `j` (0…7) of a Q4_K/Q5_K super-block.
    @inline(__always)
    static func scaleMin(_ s: UnsafeRawPointer, _ j: Int) -> (Float, Float) {
        func u(_ i: Int) -> UInt8 { s.load(fromByteOffset: i, as: UInt8.self) }
        if j < 4 {
            return (Float(u(j) & 63), Float(u(j + 4) & 63))
        }
        let sc = (u(j + 4) & 0x0F) | ((u(j - 4) >> 6) << 4)
        let mn = (u(j + 4) >> 4) | ((u(j) >> 6) << 4)
        return (Float(sc), Float(mn))
    }

    /// Sub-block j's 16 two-bit values (j < 16): bytes 32·(j / 8) + 16·(j mod 2) of `qs`, shifted by 2·((j mod 8) / 2).
    @inline(__always)
    static func crumbs(_ qs: UnsafeRawPointer, _ j: Int) -> SIMD16<UInt8> {
        ((qs + 32 * (j / 8) + 16 * (j % 2)).loadUnaligned(as: SIMD16<UInt8>.self) &>> UInt8(2 * ((j % 8) / 2))) & 3
    }

    static func q2_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 84
            let qs = p + 16
            let d = half(p, 80), dmin = half(p, 82)
            let o = dst + b * 256
            for j in 0..<16 {
                let sc = p.load(fromByteOffset: j, as: UInt8.self)
                let dl = SIMD16<Float>(repeating: d * Float(sc & 0x0F)), ml = SIMD16<Float>(repeating: dmin * Float(sc >> 4))
                store(dl * SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: crumbs(qs, j))) - ml, o + 16 * j)
            }
        }
    }

    static func q3_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 110
            let hmask = p, qs = p + 32, scales = p + 96
            let d = half(p, 108)
            let o = dst + b * 256
            for j in 0..<16 {
                // 6-bit scale: low nibble from byte j mod 8 (its high nibble for j ≥ 8), two high bits from byte
                // 8 + j mod 4 at bit 2·(j / 4)
                let low = (scales.load(fromByteOffset: j % 8, as: UInt8.self) &>> UInt8(4 * (j / 8))) & 0x0F
                let high = (scales.load(fromByteOffset: 8 + j % 4, as: UInt8.self) &>> UInt8(2 * (j / 4))) & 3
                let sc = Float(Int8(bitPattern: low | (high << 4)) &- 32)
                let h = ((hmask + 16 * (j % 2)).loadUnaligned(as: SIMD16<UInt8>.self) &>> UInt8(j / 2)) & 1
                let q = SIMD16<Int32>(truncatingIfNeeded: crumbs(qs, j)) &- (SIMD16<Int32>(truncatingIfNeeded: h ^ 1) &<< 2)
                store(SIMD16<Float>(repeating: d * sc) * SIMD16<Float>(q), o + 16 * j)
            }
        }
    }

    static func q4_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 144
            let d = half(p)
            let dmin = half(p, 2)
            let scales = p + 4
            let qs = p + 16
            let o = dst + b * 256
            for g in 0..<4 {  // 64 values per group: 32 low nibbles, then 32 high nibbles of the same bytes
                let (sc0, m0) = scaleMin(scales, 2 * g)
                let (sc1, m1) = scaleMin(scales, 2 * g + 1)
                let d0 = SIMD16<Float>(repeating: d * sc0), dm0 = SIMD16<Float>(repeating: dmin * m0)
                let d1 = SIMD16<Float>(repeating: d * sc1), dm1 = SIMD16<Float>(repeating: dmin * m1)
                for h in 0..<2 {
                    let b16 = (qs + g * 32 + h * 16).loadUnaligned(as: SIMD16<UInt8>.self)
                    let lo = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: b16 & 0x0F))
                    let hi = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: b16 &>> 4))
                    store(d0 * lo - dm0, o + g * 64 + h * 16)
                    store(d1 * hi - dm1, o + g * 64 + 32 + h * 16)
                }
            }
        }
    }

    static func q5_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 176
            let d = half(p)
            let dmin = half(p, 2)
            let scales = p + 4
            let qh = p + 16
            let qs = p + 48
            let o = dst + b * 256
            for g in 0..<4 {
                let (sc0, m0) = scaleMin(scales, 2 * g)
                let (sc1, m1) = scaleMin(scales, 2 * g + 1)
                let d0 = SIMD16<Float>(repeating: d * sc0), dm0 = SIMD16<Float>(repeating: dmin * m0)
                let d1 = SIMD16<Float>(repeating: d * sc1), dm1 = SIMD16<Float>(repeating: dmin * m1)
                for h in 0..<2 {
                    let b16 = (qs + g * 32 + h * 16).loadUnaligned(as: SIMD16<UInt8>.self)
                    let hb = (qh + h * 16).loadUnaligned(as: SIMD16<UInt8>.self)
                    let h0 = ((hb &>> UInt8(2 * g)) & 1) &<< 4
                    let h1 = ((hb &>> UInt8(2 * g + 1)) & 1) &<< 4
                    let lo = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: (b16 & 0x0F) | h0))
                    let hi = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: (b16 &>> 4) | h1))
                    store(d0 * lo - dm0, o + g * 64 + h * 16)
                    store(d1 * hi - dm1, o + g * 64 + 32 + h * 16)
                }
            }
        }
    }

    static func q6_K(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, _ blocks: Int) {
        for b in 0..<blocks {
            let p = src + b * 210
            let ql = p
            let qh = p + 128
            let sc = p + 192
            let d = half(p, 208)
            let o = dst + b * 256
            for g in 0..<2 {  // 128 values per half: ql[64], qh[32]
                for k in 0..<4 {  // 32 values each: low/high nibble of ql[0..<32]/ql[32..<64], 2 bits of qh
                    for h in 0..<2 {  // 16 values, one scale each
                        let l0 = (ql + g * 64 + (k & 1) * 32 + h * 16).loadUnaligned(as: SIMD16<UInt8>.self)
                        let lq = k < 2 ? (l0 & 0x0F) : (l0 &>> 4)
                        let hq = (((qh + g * 32 + h * 16).loadUnaligned(as: SIMD16<UInt8>.self) &>> UInt8(2 * k)) & 3) &<< 4
                        let q = SIMD16<Int32>(truncatingIfNeeded: lq | hq) &- 32
                        let e = g * 128 + k * 32 + h * 16
                        let s = Float(sc.load(fromByteOffset: e / 16, as: Int8.self))
                        store(SIMD16<Float>(repeating: d * s) * SIMD16<Float>(q), o + e)
                    }
                }
            }
        }
    }
}
