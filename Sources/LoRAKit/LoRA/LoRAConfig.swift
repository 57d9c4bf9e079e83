/// The seven projections of a LLaMA block that can carry a LoRA adapter (PEFT module names as raw values).
public enum LoRATarget: String, CaseIterable, Codable, Sendable {
    case q = "q_proj", k = "k_proj", v = "v_proj", o = "o_proj"
    case gate = "gate_proj", up = "up_proj", down = "down_proj"

    /// The short flag name (`q`, `gate`, ...).
    public var shortName: String { String(rawValue.dropLast(5)) }

    /// Position in `allCases` (q 0 … down 6).
    public var index: Int { Self.allCases.firstIndex(of: self) ?? 0 }

    /// Parses a short name (`q`) or a PEFT module name (`q_proj`).
    public init?(name: String) {
        let n = name.trimmingCharacters(in: .whitespaces).lowercased()
        if let t = LoRATarget(rawValue: n) { self = t; return }
        if let t = LoRATarget(rawValue: n + "_proj") { self = t; return }
        // Phi-3's fused modules (PEFT's names for them): selecting one selects its parts
        if n == "qkv_proj" || n == "qkv" { self = .q; return }
        if n == "gate_up_proj" || n == "gate_up" { self = .gate; return }
        return nil
    }

    /// Parses a comma-separated list (`q,k,v,o,gate,up,down`, PEFT names, or the groups `all` / `all-linear`, `attn`, `mlp`);
    /// returns the targets in block order and throws naming the first unknown entry.
    public static func parseList(_ list: String) throws -> [LoRATarget] {
        var out: Set<LoRATarget> = []
        for part in list.split(separator: ",") {
            let name = part.trimmingCharacters(in: .whitespaces).lowercased()
            if name.isEmpty { continue }
            switch name {
            case "all", "all-linear", "all_linear": out.formUnion(allCases)
            case "attn", "attention": out.formUnion([.q, .k, .v, .o])
            case "mlp", "ffn": out.formUnion([.gate, .up, .down])
            default:
                guard let t = LoRATarget(name: name) else {
                    throw LoRAConfigError(field: "target_modules",
                                          message: "unknown target '\(part)'; expected some of q,k,v,o,gate,up,down (or all, attn, mlp)")
                }
                out.insert(t)
            }
        }
        guard !out.isEmpty else {
            throw LoRAConfigError(field: "target_modules", message: "empty list; expected some of q,k,v,o,gate,up,down")
        }
        return allCases.filter { out.contains($0) }
    }
}

/// LoRA adapter settings; keys match PEFT's `adapter_config.json`.
public struct LoRAConfig: Codable, Sendable, Equatable {
    /// Rank r of the update B·A.
    public var rank: Int = 8
    /// Scaling numerator: scale = alpha / r (or alpha / √r with rsLoRA).
    public var alpha: Float = 16
    /// Dropout probability on the LoRA input (0 disables it).
    public var dropout: Float = 0
    /// Projections that carry an adapter.
    public var targets: [LoRATarget] = LoRATarget.allCases
    /// Rank-stabilised scaling alpha / √r.
    public var useRSLoRA: Bool = false

    enum CodingKeys: String, CodingKey {
        case rank = "r", alpha = "lora_alpha", dropout = "lora_dropout", targets = "target_modules"
        case useRSLoRA = "use_rslora"
    }

    /// A validated configuration (throws naming the field).
    public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0, targets: [LoRATarget] = LoRATarget.allCases,
                useRSLoRA: Bool = false) throws {
        self.rank = rank
        self.alpha = alpha
        self.dropout = dropout
        self.targets = targets
        self.useRSLoRA = useRSLoRA
        try validate()
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        rank = try c.decodeIfPresent(Int.self, forKey: .rank) ?? 8
        alpha = try c.decodeIfPresent(Float.self, forKey: .alpha) ?? 16
        dropout = try c.decodeIfPresent(Float.self, forKey: .dropout) ?? 0
        useRSLoRA = try c.decodeIfPresent(Bool.self, forKey: .useRSLoRA) ?? false
        if let names = try? c.decodeIfPresent([String].self, forKey: .targets) {
            targets = try LoRATarget.parseList(names.joined(separator: ","))
        } else if let one = try? c.decodeIfPresent(String.self, forKey: .targets) {
            targets = one == "all-linear" ? LoRATarget.allCases : try LoRATarget.parseList(one)
        } else {
            targets = LoRATarget.allCases
        }
        try validate()
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rank, forKey: .rank)
        try c.encode(alpha, forKey: .alpha)
        try c.encode(dropout, forKey: .dropout)
        try c.encode(targets.map(\.rawValue), forKey: .targets)
        try c.encode(useRSLoRA, forKey: .useRSLoRA)
    }

    /// The multiplier applied to B·A.
    public var scale: Float { LoRAConfig.scale(alpha: alpha, rank: rank, rsLoRA: useRSLoRA) }

    /// alpha / r, or alpha / √r with rsLoRA.
    public static func scale(alpha: Float, rank: Int, rsLoRA: Bool) -> Float {
        rsLoRA ? alpha / Float(rank).squareRoot() : alpha / Float(rank)
    }

    /// Checks ranges; throws a message naming the adapter_config.json key.
    public func validate() throws {
        if rank < 1 || rank > 4096 { throw LoRAConfigError(field: "r", message: "expected 1…4096, found \(rank)") }
        if !alpha.isFinite || alpha <= 0 {
            throw LoRAConfigError(field: "lora_alpha", message: "expected a positive number, found \(alpha)")
        }
        if !(dropout >= 0 && dropout < 1) {
            throw LoRAConfigError(field: "lora_dropout", message: "expected 0 ≤ p < 1, found \(dropout)")
        }
        if targets.isEmpty {
            throw LoRAConfigError(field: "target_modules", message: "empty list; expected some of q,k,v,o,gate,up,down")
        }
    }
}

/// An adapter setting out of range.
public struct LoRAConfigError: Error, CustomStringConvertible, Sendable {
    /// The adapter_config.json key at fault.
    public let field: String
    /// What was expected and what was found.
    public let message: String
    public var description: String { "LoRA config: \(field): \(message)" }
}

import Foundation
