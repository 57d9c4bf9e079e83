/// A ggml tensor storage type as numbered in GGUF files (`ggml_type`).
public enum GGMLType: UInt32, Sendable, CaseIterable {
    case f32 = 0, f16 = 1, q4_0 = 2, q4_1 = 3, q5_0 = 6, q5_1 = 7, q8_0 = 8, q8_1 = 9
    case q2_K = 10, q3_K = 11, q4_K = 12, q5_K = 13, q6_K = 14, q8_K = 15
    case iq2_xxs = 16, iq2_xs = 17, iq3_xxs = 18, iq1_s = 19, iq4_nl = 20, iq3_s = 21, iq2_s = 22, iq4_xs = 23
    case i8 = 24, i16 = 25, i32 = 26, i64 = 27, f64 = 28, iq1_m = 29, bf16 = 30, tq1_0 = 34, tq2_0 = 35, mxfp4 = 39

    /// (values per block, bytes per block), as in ggml's type traits.
    public var blockLayout: (values: Int, bytes: Int) {
        switch self {
        case .f32: (1, 4)
        case .f16, .bf16, .i16: (1, 2)
        case .i8: (1, 1)
        case .i32: (1, 4)
        case .i64, .f64: (1, 8)
        case .q4_0, .iq4_nl: (32, 18)
        case .q4_1: (32, 20)
        case .q5_0: (32, 22)
        case .q5_1: (32, 24)
        case .q8_0: (32, 34)
        case .q8_1: (32, 40)
        case .mxfp4: (32, 17)
        case .q2_K: (256, 84)
        case .q3_K, .iq3_s: (256, 110)
        case .q4_K: (256, 144)
        case .q5_K: (256, 176)
        case .q6_K: (256, 210)
        case .q8_K: (256, 292)
        case .iq2_xxs: (256, 66)
        case .iq2_xs: (256, 74)
        case .iq3_xxs: (256, 98)
        case .iq1_s: (256, 50)
        case .iq2_s: (256, 82)
        case .iq4_xs: (256, 136)
        case .iq1_m: (256, 56)
        case .tq1_0: (256, 54)
        case .tq2_0: (256, 66)
        }
    }

    /// Values per block (1 for plain types).
    public var blockValues: Int { blockLayout.values }
    /// Bytes per block.
    public var blockBytes: Int { blockLayout.bytes }

    /// Lowercase name as llama.cpp prints it ("q4_1", "q6_k", "bf16").
    public var name: String { "\(self)".lowercased() }

    /// Whether loratop can dequantize this type to fp32.
    public var canDequantize: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: true
        default: false
        }
    }

    /// Bytes for a row of `values` elements, or nil when `values` is not a whole number of blocks or overflows.
    public func rowBytes(_ values: Int) -> Int? {
        let (v, b) = blockLayout
        guard values >= 0, values % v == 0 else { return nil }
        let (n, o) = (values / v).multipliedReportingOverflow(by: b)
        return o ? nil : n
    }
}

/// A GGUF metadata value type (`gguf_type`).
public enum GGUFValueType: UInt32, Sendable {
    case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6, bool = 7
    case string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

    /// Smallest encoded size of one value of this type (bounds array counts before allocating).
    var minEncodedBytes: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .uint16, .int16: 2
        case .uint32, .int32, .float32: 4
        case .uint64, .int64, .float64, .string: 8
        case .array: 12
        }
    }
}

/// A GGUF metadata value of any type, arrays (also nested) included.
public indirect enum GGUFValue: Sendable, Equatable {
    case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
    case uint64(UInt64), int64(Int64), float32(Float), float64(Double), bool(Bool), string(String)
    /// An array whose items all have `elementType`.
    case array(GGUFValueType, [GGUFValue])

    /// The GGUF type tag.
    public var type: GGUFValueType {
        switch self {
        case .uint8: .uint8
        case .int8: .int8
        case .uint16: .uint16
        case .int16: .int16
        case .uint32: .uint32
        case .int32: .int32
        case .uint64: .uint64
        case .int64: .int64
        case .float32: .float32
        case .float64: .float64
        case .bool: .bool
        case .string: .string
        case .array: .array
        }
    }

    /// An array of strings.
    public static func strings(_ values: [String]) -> GGUFValue { .array(.string, values.map { .string($0) }) }
    /// An array of int32.
    public static func int32s(_ values: [Int32]) -> GGUFValue { .array(.int32, values.map { .int32($0) }) }
    /// An array of float32.
    public static func float32s(_ values: [Float]) -> GGUFValue { .array(.float32, values.map { .float32($0) }) }

    /// Any integer type as Int (nil for other types or a uint64 above Int.max).
    public var intValue: Int? {
        switch self {
        case let .uint8(v): Int(v)
        case let .int8(v): Int(v)
        case let .uint16(v): Int(v)
        case let .int16(v): Int(v)
        case let .uint32(v): Int(v)
        case let .int32(v): Int(v)
        case let .uint64(v): Int(exactly: v)
        case let .int64(v): Int(v)
        default: nil
        }
    }

    /// float32 or float64 (or an integer) as Double.
    public var doubleValue: Double? {
        switch self {
        case let .float32(v): Double(v)
        case let .float64(v): v
        default: intValue.map(Double.init)
        }
    }

    /// The string, for a string value.
    public var stringValue: String? {
        if case let .string(s) = self { return s }
        return nil
    }

    /// The flag, for a bool value.
    public var boolValue: Bool? {
        if case let .bool(b) = self { return b }
        return nil
    }

    /// The items, for an array value.
    public var arrayValue: [GGUFValue]? {
        if case let .array(_, items) = self { return items }
        return nil
    }
}
