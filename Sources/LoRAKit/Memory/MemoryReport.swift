import CKernels
import Foundation

/// What a block of memory is for.
public enum MemoryKind: String, Codable, Sendable, CaseIterable {
    /// Frozen base weights (any storage).
    case baseWeights = "base_weights"
    /// Trainable LoRA A and B.
    case adapters
    /// Gradients of the adapters (or of all weights in full fine-tuning).
    case gradients
    /// AdamW first and second moments.
    case optimizerState = "optimizer_state"
    /// Activations saved for backward.
    case activations
    /// Logits, probabilities and loss buffers.
    case logits
    /// Reusable scratch (dequantized tiles, backward work buffers).
    case scratch
    /// Anything else the owner wants to list.
    case other
}

/// One named amount of memory, e.g. ("base nf4+dq", 56_832_000, .baseWeights).
public struct MemoryComponent: Codable, Sendable, Equatable {
    /// What people see, e.g. "base nf4+dq" or "LoRA A/B".
    public var name: String
    /// Bytes.
    public var bytes: Int
    /// The category it is summed under.
    public var kind: MemoryKind

    /// A component.
    public init(_ name: String, bytes: Int, kind: MemoryKind) {
        self.name = name
        self.bytes = bytes
        self.kind = kind
    }

    /// A component of `count` fp32 values (4 bytes each).
    public static func floats(_ name: String, count: Int, kind: MemoryKind) -> MemoryComponent {
        MemoryComponent(name, bytes: 4 * count, kind: kind)
    }
}

/// The process's resident memory as the operating system reports it.
public struct ProcessMemory: Codable, Sendable, Equatable {
    /// Current resident set (VmRSS).
    public var residentBytes: Int
    /// Peak resident set since start (VmHWM).
    public var peakResidentBytes: Int

    /// A reading.
    public init(residentBytes: Int, peakResidentBytes: Int) {
        self.residentBytes = residentBytes
        self.peakResidentBytes = peakResidentBytes
    }

    /// Hands the heap's freed pages back to the operating system. glibc keeps what a re-quantize or a rank change
    /// freed (hundreds of MiB of temporaries) as part of the resident set otherwise, and the resident figure then
    /// stops matching what the run holds.
    public static func returnFreedPages() {
        _ = loratop_return_freed_pages()
    }

    /// Reads /proc/self/status (Linux); nil where it does not exist.
    public static func current() -> ProcessMemory? {
        guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return nil }
        return parse(status: text)
    }

    /// Parses the VmRSS and VmHWM lines ("VmRSS:    12345 kB") of a /proc/<pid>/status text.
    public static func parse(status text: String) -> ProcessMemory? {
        var rss: Int?, hwm: Int?
        for line in text.split(separator: "\n") {
            let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard parts.count >= 2, let kb = Int(parts[1]) else { continue }
            let unit = parts.count >= 3 ? parts[2].lowercased() : "kb"
            let bytes = unit == "kb" ? kb * 1024 : kb
            if parts[0] == "VmRSS:" { rss = bytes }
            if parts[0] == "VmHWM:" { hwm = bytes }
        }
        guard let r = rss else { return nil }
        return ProcessMemory(residentBytes: r, peakResidentBytes: hwm ?? r)
    }
}

/// Memory by component (the accounting) beside the process's measured resident set (the operating system).
public struct MemoryReport: Codable, Sendable, Equatable {
    /// The accounted components, in display order.
    public var components: [MemoryComponent]
    /// The measured resident memory when the report was made (nil for estimates).
    public var process: ProcessMemory?

    /// A report; pass `measure: true` to read the process's resident memory now.
    public init(components: [MemoryComponent], measure: Bool = false) {
        self.components = components
        process = measure ? ProcessMemory.current() : nil
    }

    /// Sum of all components.
    public var total: Int { components.reduce(0) { $0 + $1.bytes } }

    enum CodingKeys: String, CodingKey { case components, process, total }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        components = try c.decode([MemoryComponent].self, forKey: .components)
        process = try c.decodeIfPresent(ProcessMemory.self, forKey: .process)
    }

    /// Encodes the components, the OS reading and the total (for metrics logs; the total is recomputed on decode).
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(components, forKey: .components)
        try c.encodeIfPresent(process, forKey: .process)
        try c.encode(total, forKey: .total)
    }

    /// Sum of the components of one kind.
    public func bytes(of kind: MemoryKind) -> Int {
        components.filter { $0.kind == kind }.reduce(0) { $0 + $1.bytes }
    }

    /// Resident memory not explained by the accounting (code, allocator slack, libraries); nil without a reading.
    public var unaccountedBytes: Int? { process.map { $0.residentBytes - total } }

    /// Base-weight components, one per storage name ("base nf4+dq", "base q8_0", "base f32"), from matrices
    /// plus fp32 vectors (norms, biases) counted under "base f32 vectors".
    public static func baseWeights(_ matrices: [FrozenMatrix], vectorFloats: Int = 0) -> [MemoryComponent] {
        var order = [String]()
        var bytes = [String: Int]()
        for m in matrices {
            if bytes[m.storageName] == nil { order.append(m.storageName) }
            bytes[m.storageName, default: 0] += m.storageBytes
        }
        var out = order.map { MemoryComponent("base \($0)", bytes: bytes[$0] ?? 0, kind: .baseWeights) }
        if vectorFloats > 0 {
            out.append(MemoryComponent("base f32 vectors", bytes: vectorFloats * 4, kind: .baseWeights))
        }
        return out
    }

    /// One line per kind present, e.g. "base weights: nf4+dq 54.2 MiB, q8_0 28.9 MiB", then total and RSS.
    public func summaryLines() -> [String] {
        var lines = [String]()
        for kind in MemoryKind.allCases {
            let parts = components.filter { $0.kind == kind }
            guard !parts.isEmpty else { continue }
            let detail = parts.map { "\($0.name) \(ByteFormat.binary($0.bytes))" }.joined(separator: ", ")
            lines.append("\(kind.rawValue.replacingOccurrences(of: "_", with: " ")): \(detail)")
        }
        lines.append("total (accounted): \(ByteFormat.binary(total))")
        if let p = process {
            lines.append("resident (OS): \(ByteFormat.binary(p.residentBytes)), peak \(ByteFormat.binary(p.peakResidentBytes))")
        }
        return lines
    }
}

/// Binary byte formatting for people: "512 B", "54.2 MiB", "31.07 GiB".
public enum ByteFormat {
    /// Bytes with a binary unit, three significant digits or so.
    public static func binary(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var v = Double(bytes)
        var u = 0
        while abs(v) >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
        if u == 0 { return "\(bytes) B" }
        let digits = abs(v) >= 100 ? 0 : (abs(v) >= 10 ? 1 : 2)
        return String(format: "%.\(digits)f", v) + " " + units[u]
    }
}
