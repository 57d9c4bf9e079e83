/// The 16-entry codebooks of bitsandbytes' 4-bit types and the signed dynamic 8-bit map, with the
/// quantization bounds computed the way bitsandbytes 0.50.2's CPU path computes them (fp32 midpoints).
public enum FourBitType: String, Sendable, Codable, CaseIterable {
    /// NormalFloat4: quantiles of N(0, 1), index order is value order.
    case nf4
    /// FP4 (e2m1 with bias 2), in bit-pattern order; values divided by 12 to span [-1, 1].
    case fp4
}

/// One 4-bit codebook: values by code, and the sorted midpoints used to pick a code.
public struct FourBitCodebook: Sendable {
    /// Value of each code 0…15 (fp32).
    public let values: [Float]
    /// The 15 midpoints between neighbours in value order; a value on a midpoint takes the lower code.
    public let bounds: [Float]
    /// Code of the k-th smallest value (bitsandbytes' argsort of the codebook, ties as it breaks them).
    public let order: [UInt8]

    /// The codebook for .
    public static func of(_ type: FourBitType) -> FourBitCodebook { type == .nf4 ? nf4 : fp4 }

    /// NF4, exactly bitsandbytes' table.
    public static let nf4: FourBitCodebook = {
        let v: [Float] = [
            -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
            -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
            0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
            0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
        ]
        return FourBitCodebook(values: v, order: (0..<16).map { UInt8($0) })
    }()

    /// FP4: the e2m1 bit patterns' values [0, 0.0625, 8, 12, 4, 6, 2, 3, -0, …] divided by 12 in fp32.
    /// The sort order of the two zeros (code 0 before code 8) is what torch.argsort gives bitsandbytes, so
    /// tiny positive inputs get code 8 (-0.0) exactly as bitsandbytes does.
    public static let fp4: FourBitCodebook = {
        let raw: [Float] = [0, 0.0625, 8, 12, 4, 6, 2, 3, -0.0, -0.0625, -8, -12, -4, -6, -2, -3]
        let v = raw.map { $0 / Float(12) }
        return FourBitCodebook(values: v, order: [11, 10, 13, 12, 15, 14, 9, 0, 8, 1, 6, 7, 4, 5, 2, 3])
    }()

    init(values: [Float], order: [UInt8]) {
        self.values = values
        self.order = order
        var b = [Float]()
        for k in 0..<15 { b.append((values[Int(order[k])] + values[Int(order[k + 1])]) / 2) }
        bounds = b
    }

    /// The code for a normalised value in [-1, 1]: torch.bucketize(x, bounds) then the order remap.
    @inline(__always)
    public func code(for x: Float) -> UInt8 {
        // count of bounds strictly below x (bucketize, right=False): 4 steps of binary search over 15 bounds.
        var lo = 0, hi = 15
        while lo < hi {
            let mid = (lo + hi) >> 1
            if bounds[mid] < x { lo = mid + 1 } else { hi = mid }
        }
        return order[lo]
    }
}

/// bitsandbytes' signed dynamic 8-bit map (`create_dynamic_map(signed=True)`), 256 sorted values with
/// code[127] = 0 and code[255] = 1. Stored as fp32 bit patterns: torch builds it through float32 linspace whose
/// vectorised rounding depends on the CPU, so the table is the oracle's output (checked against the fixture).
public enum DynamicMap {
    /// The 256 values, sorted ascending.
    public static let values: [Float] = bits.map { Float(bitPattern: $0) }

    static let bits: [UInt32] = [
        0xBF7E3333, 0xBF7A999A, 0xBF770000, 0xBF736666, 0xBF6FCCCD, 0xBF6C3333, 0xBF68999A, 0xBF650000,
        0xBF616666, 0xBF5DCCCD, 0xBF5A3333, 0xBF56999A, 0xBF530000, 0xBF4F6666, 0xBF4BCCCD, 0xBF483333,
        0xBF44999A, 0xBF410000, 0xBF3D6666, 0xBF39CCCD, 0xBF363334, 0xBF32999A, 0xBF2F0000, 0xBF2B6666,
        0xBF27CCCD, 0xBF243334, 0xBF20999A, 0xBF1D0000, 0xBF196666, 0xBF15CCCD, 0xBF123334, 0xBF0E999A,
        0xBF0B0000, 0xBF076666, 0xBF03CCCC, 0xBF003333, 0xBEF93332, 0xBEF20000, 0xBEEACCCC, 0xBEE3999A,
        0xBEDC6666, 0xBED53333, 0xBECE0000, 0xBEC6CCCC, 0xBEBF999A, 0xBEB86666, 0xBEB13333, 0xBEAA0000,
        0xBEA2CCCC, 0xBE9B999A, 0xBE946666, 0xBE8D3334, 0xBE860000, 0xBE7D9999, 0xBE6F3333, 0xBE60CCCD,
        0xBE526666, 0xBE440000, 0xBE35999A, 0xBE273333, 0xBE18CCCD, 0xBE0A6666, 0xBDF80000, 0xBDDB3334,
        0xBDC9EB85, 0xBDC428F7, 0xBDBE6667, 0xBDB8A3D7, 0xBDB2E148, 0xBDAD1EB8, 0xBDA75C2A, 0xBDA1999A,
        0xBD9BD70A, 0xBD96147B, 0xBD9051EB, 0xBD8A8F5D, 0xBD84CCCD, 0xBD7E147B, 0xBD728F5D, 0xBD670A3D,
        0xBD5B851F, 0xBD500000, 0xBD447AE1, 0xBD38F5C3, 0xBD2D70A3, 0xBD21EB85, 0xBD166667, 0xBD0AE148,
        0xBCFEB852, 0xBCE7AE15, 0xBCD0A3D7, 0xBCB9999A, 0xBCA28F5D, 0xBC8B851F, 0xBC68F5C3, 0xBC3AE148,
        0xBC1F3B64, 0xBC160418, 0xBC0CCCCD, 0xBC039581, 0xBBF4BC6A, 0xBBE24DD3, 0xBBCFDF3B, 0xBBBD70A4,
        0xBBAB020D, 0xBB989374, 0xBB8624DD, 0xBB676C8A, 0xBB428F5C, 0xBB1DB22D, 0xBAF1A9FC, 0xBAA7EF9D,
        0xBA7765FF, 0xBA59E83E, 0xBA3C6A80, 0xBA1EECC1, 0xBA016F01, 0xB9C7E283, 0xB98CE705, 0xB923D70B,
        0xB8BA1F4B, 0xB88AEFB3, 0xB8378034, 0xB7B24206, 0xB70205FF, 0xB65A1A94, 0xB513A3B7, 0x00000000,
        0x3513A3B7, 0x365A1A94, 0x370205FF, 0x37B24206, 0x38378034, 0x388AEFB3, 0x38BA1F4B, 0x3923D70B,
        0x398CE705, 0x39C7E283, 0x3A016F01, 0x3A1EECC1, 0x3A3C6A80, 0x3A59E83E, 0x3A7765FF, 0x3AA7EF9D,
        0x3AF1A9FC, 0x3B1DB22D, 0x3B428F5C, 0x3B676C8A, 0x3B8624DD, 0x3B989374, 0x3BAB020D, 0x3BBD70A4,
        0x3BCFDF3B, 0x3BE24DD3, 0x3BF4BC6A, 0x3C039581, 0x3C0CCCCD, 0x3C160418, 0x3C1F3B64, 0x3C3AE148,
        0x3C68F5C3, 0x3C8B851F, 0x3CA28F5D, 0x3CB9999A, 0x3CD0A3D7, 0x3CE7AE15, 0x3CFEB852, 0x3D0AE148,
        0x3D166667, 0x3D21EB85, 0x3D2D70A3, 0x3D38F5C3, 0x3D447AE1, 0x3D500000, 0x3D5B851F, 0x3D670A3D,
        0x3D728F5D, 0x3D7E147B, 0x3D84CCCD, 0x3D8A8F5D, 0x3D9051EB, 0x3D96147B, 0x3D9BD70A, 0x3DA1999A,
        0x3DA75C2A, 0x3DAD1EB8, 0x3DB2E148, 0x3DB8A3D7, 0x3DBE6667, 0x3DC428F7, 0x3DC9EB85, 0x3DDB3334,
        0x3DF80000, 0x3E0A6666, 0x3E18CCCD, 0x3E273333, 0x3E35999A, 0x3E440000, 0x3E526666, 0x3E60CCCD,
        0x3E6F3333, 0x3E7D9999, 0x3E860000, 0x3E8D3334, 0x3E946666, 0x3E9B999A, 0x3EA2CCCC, 0x3EAA0000,
        0x3EB13333, 0x3EB86666, 0x3EBF999A, 0x3EC6CCCC, 0x3ECE0000, 0x3ED53333, 0x3EDC6666, 0x3EE3999A,
        0x3EEACCCC, 0x3EF20000, 0x3EF93332, 0x3F003333, 0x3F03CCCC, 0x3F076666, 0x3F0B0000, 0x3F0E999A,
        0x3F123334, 0x3F15CCCD, 0x3F196666, 0x3F1D0000, 0x3F20999A, 0x3F243334, 0x3F27CCCD, 0x3F2B6666,
        0x3F2F0000, 0x3F32999A, 0x3F363334, 0x3F39CCCD, 0x3F3D6666, 0x3F410000, 0x3F44999A, 0x3F483333,
        0x3F4BCCCD, 0x3F4F6666, 0x3F530000, 0x3F56999A, 0x3F5A3333, 0x3F5DCCCD, 0x3F616666, 0x3F650000,
        0x3F68999A, 0x3F6C3333, 0x3F6FCCCD, 0x3F736666, 0x3F770000, 0x3F7A999A, 0x3F7E3333, 0x3F800000,
    ]

    /// bitsandbytes 0.50's CPU quantizer does not search the map: it looks the normalised value up in a
    /// 65536-entry table over [-1, 1], each entry the code nearest to that grid point (by fp32 midpoints, a value
    /// on a midpoint taking the lower code). So a value between grid points takes its grid point's code.
    static let lookup: [UInt8] = {
        let c = values
        var mids = [Float](repeating: 0, count: 255)
        for i in 0..<255 { mids[i] = Float(0.5) * (c[i] + c[i + 1]) }
        var lut = [UInt8](repeating: 0, count: 65536)
        var code = 0
        for i in 0..<65536 {
            let v = Float(-1) + (Float(2) * Float(i)) / Float(65535)
            while code < 255 && mids[code] < v { code += 1 }
            lut[i] = UInt8(code)
        }
        return lut
    }()

    /// The lookup index of a normalised value: clamp to [-1, 1], then `(v + 1) * 0.5 * 65535 + 0.5` truncated,
    /// the last multiply-add fused as the x86-64 build of bitsandbytes (-mfma, GCC's default contraction) does.
    /// A NaN (0 · ∞ in a block of subnormals whose 1/absmax overflows) takes index 0, as bitsandbytes' x86 cast does.
    @inline(__always)
    static func lookupIndex(_ normed: Float) -> Int {
        if normed.isNaN { return 0 }
        let v = normed < -1 ? -1 : (normed > 1 ? 1 : normed)  // std::clamp
        let half = (v + 1) * Float(0.5)
        return Int(Float(0.5).addingProduct(half, Float(65535)))
    }
}
