/// The precision of the frozen base's products (the seven projections' forward and input-gradient products and the
/// LM head): what a run asks for.
public enum ComputePrecision: String, Codable, CaseIterable, Sendable, CustomStringConvertible {
    /// bf16 where the CPU does it natively (oneDNN reports AVX512_BF16 or AMX), else fp32.
    case auto
    /// OpenBLAS sgemm on fp32 operands.
    case fp32
    /// oneDNN matmul on bf16 operands with fp32 accumulation and fp32 outputs.
    case bf16

    /// Parses "auto", "fp32"/"f32"/"float32", "bf16"/"bfloat16"; nil when unknown.
    public init?(parsing text: String) {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "auto": self = .auto
        case "fp32", "f32", "float32", "float": self = .fp32
        case "bf16", "bfloat16": self = .bf16
        default: return nil
        }
    }

    public var description: String { rawValue }
}

/// The product backend of this process (one run per process): fp32 (OpenBLAS) or bf16 (oneDNN). Layers do not know
/// which one runs: `Linear` and the LM head ask here.
public enum Compute {
    /// Whether base products run in bf16 now.
    nonisolated(unsafe) public private(set) static var bf16 = false

    /// What a request resolves to on this CPU, and a note for the user when it is not what was asked.
    public struct Choice: Sendable, Equatable {
        /// fp32 or bf16 (never auto).
        public var precision: ComputePrecision
        /// Why the choice differs from the request ("bf16 asked, but …"), or nil.
        public var note: String?
    }

    /// Resolves `requested` on this CPU: `auto` is bf16 only with native bf16 arithmetic; an explicit bf16 on a CPU
    /// without it says so and uses fp32 (oneDNN would emulate it, slower than fp32), unless `allowEmulated`
    /// (correctness tests on any CPU).
    public static func resolve(_ requested: ComputePrecision, allowEmulated: Bool = false) -> Choice {
        switch requested {
        case .fp32:
            return Choice(precision: .fp32, note: nil)
        case .auto:
            return Choice(precision: OneDNN.hasNativeBF16 ? .bf16 : .fp32, note: nil)
        case .bf16:
            if OneDNN.hasNativeBF16 || (allowEmulated && OneDNN.available) { return Choice(precision: .bf16, note: nil) }
            let why = OneDNN.available
                ? "this CPU has no native bf16 arithmetic (oneDNN: \(OneDNN.isaName); bf16 needs AVX512_BF16 or AMX)"
                : "oneDNN could not start on this machine"
            return Choice(precision: .fp32, note: "compute bf16 asked, but \(why); using fp32")
        }
    }

    /// Makes `choice` the product backend (fp32 or bf16).
    public static func activate(_ precision: ComputePrecision) {
        bf16 = precision == .bf16
    }

    /// Resolves and activates `requested`; returns the choice.
    @discardableResult
    public static func select(_ requested: ComputePrecision, allowEmulated: Bool = false) -> Choice {
        let c = resolve(requested, allowEmulated: allowEmulated)
        activate(c.precision)
        return c
    }
}
