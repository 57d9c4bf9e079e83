import Foundation
import LoRAKit

/// A training session with no model: a seeded, noisy, decaying loss curve whose speed follows the learning rate
/// and rank, at a fixed wall time per step. It lets people try the UI, its keys, themes and terminals without a
/// model file, and lets the end-to-end test drive the real app loop. Every number it shows is labelled simulated.
final class SimulatedSession: TrainingSession, @unchecked Sendable {
    private(set) var settings: TrainingSettings
    private(set) var step = 0
    let totalSteps: Int
    /// LoRA parameters per unit of rank (r·(in+out) summed over the adapted layers of the shape simulated).
    let parametersPerRank: Int
    let baseParameters: Int
    private let stepSeconds: Double
    private let tokensPerStep: Int
    private let stepsPerEpoch: Int
    private let seed: UInt64
    private var rng: SeededRNG
    private var progress = 0.0

    var epoch: Double { Double(step) / Double(max(1, stepsPerEpoch)) }
    var trainableParameters: Int { parametersPerRank * settings.rank }

    /// A simulated run of `totalSteps` steps taking `stepSeconds` each, shaped like `config` (for parameter counts).
    init(settings: TrainingSettings, totalSteps: Int, stepSeconds: Double, config: ModelConfig, seed: UInt64) {
        self.settings = settings
        self.totalSteps = totalSteps
        self.stepSeconds = stepSeconds
        self.seed = seed
        rng = SeededRNG(seed: seed)
        let targets = settings.targets.compactMap { LoRATarget(name: $0) }
        parametersPerRank = Estimator.adapterParameters(config, rank: 1, targets: targets)
        baseParameters = config.parameterCount
        tokensPerStep = settings.batchSize * settings.seqLen * settings.gradAccum
        stepsPerEpoch = max(1, totalSteps / 3)
    }

    /// The noise-free loss after `p` units of progress.
    private func cleanLoss(_ p: Double) -> Double { 0.55 + 2.45 * exp(-p / 300) }

    func trainStep() throws -> StepRecord {
        if stepSeconds > 0 { Thread.sleep(forTimeInterval: stepSeconds) }
        step += 1
        let warm = settings.warmup > 0 ? min(1, Double(step) / Double(settings.warmup)) : 1
        let lrFactor = Double(settings.learningRate / 2e-4) * warm
        let rankFactor = 1 + 0.08 * log2(Double(max(1, settings.rank)) / 8)
        progress += lrFactor * rankFactor * Double(1 - settings.dropout * 0.5)
        let noise = Double(rng.normal()) * 0.09 * (1 + max(0, lrFactor - 2) * 0.5)
        let loss = Float(max(0.05, cleanLoss(progress) + noise))
        return StepRecord(step: step, loss: loss, learningRate: settings.learningRate * Float(warm),
                          gradNorm: Float(0.8 + abs(noise) * 4), tokens: tokensPerStep, seconds: max(stepSeconds, 1e-6),
                          epoch: epoch)
    }

    func evaluate() throws -> EvalRecord? {
        EvalRecord(step: step, loss: Float(cleanLoss(progress) + 0.06), exactMatch: min(1, progress / 1500),
                   seconds: stepSeconds)
    }

    func sample() throws -> [SampleRecord] {
        [SampleRecord(step: step, prompt: "simulated prompt (no model is loaded)", base: "simulated base answer",
                      adapted: "simulated adapted answer after \(step) steps", reference: "simulated reference")]
    }

    func apply(_ command: Command) throws -> ChangeEvent {
        let before = settings
        switch command {
        case .setRank(let r):
            settings.rank = r
            return ChangeEvent(step: step, kind: "rank", from: "\(before.rank)", to: "\(r)")
        case .setAlpha(let a):
            settings.alpha = a
            return ChangeEvent(step: step, kind: "alpha", from: formatNumber(before.alpha), to: formatNumber(a))
        case .setLearningRate(let lr):
            settings.learningRate = lr
            return ChangeEvent(step: step, kind: "lr", from: formatNumber(before.learningRate), to: formatNumber(lr))
        case .setDropout(let p):
            settings.dropout = p
            return ChangeEvent(step: step, kind: "dropout", from: formatNumber(before.dropout), to: formatNumber(p))
        case .setQuantization(let q):
            settings.quantization = q
            return ChangeEvent(step: step, kind: "quant", from: before.quantization, to: q)
        default:
            throw SimulationError(message: "`\(command.label)` is not a setting change")
        }
    }

    func saveCheckpoint(history: TrainingHistory) throws -> String {
        "(simulated run: no checkpoint written)"
    }

    func restart() throws {
        step = 0
        progress = 0
        rng = SeededRNG(seed: seed &+ 1)
    }
}

/// A request the simulated session cannot honour.
struct SimulationError: Error, CustomStringConvertible {
    let message: String
    var description: String { "simulation: \(message)" }
}
