import Foundation

/// Learning-rate schedule shapes (transformers' get_{constant,linear,cosine}_schedule_with_warmup).
public enum LRScheduleKind: String, Codable, Sendable, CaseIterable {
    case constant, linear, cosine
}

/// A learning-rate schedule: linear warmup from 0, then constant, linear decay to 0, or half-cosine to 0.
public struct LRSchedule: Codable, Sendable, Equatable {
    /// The shape after warmup.
    public var kind: LRScheduleKind = .cosine
    /// Warmup steps.
    public var warmupSteps: Int = 0
    /// Steps of the whole run (the decay reaches 0 there).
    public var totalSteps: Int = 1000

    /// A schedule.
    public init(kind: LRScheduleKind = .cosine, warmupSteps: Int = 0, totalSteps: Int = 1000) {
        self.kind = kind
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The multiplier of the peak learning rate at 0-based step `step` (transformers' lr_lambda).
    public func factor(step: Int) -> Double {
        let s = Double(step), w = Double(warmupSteps), n = Double(totalSteps)
        if step < warmupSteps { return s / max(1, w) }
        switch kind {
        case .constant:
            return 1
        case .linear:
            return max(0, (n - s) / max(1, n - w))
        case .cosine:
            let progress = (s - w) / max(1, n - w)
            return max(0, 0.5 * (1 + cos(Double.pi * 2 * 0.5 * progress)))
        }
    }
}
