import Foundation
@testable import LoRAKit

/// A TrainingSession with no model: steps are counted, losses fall as 1/step, and a step can be made to block
/// until the test releases it (a "slow step" with no timing in it).
final class FakeSession: TrainingSession, @unchecked Sendable {
    var settings = TrainingSettings()
    var step = 0
    var totalSteps: Int
    var epoch: Double { Double(step) / 10 }
    var trainableParameters = 1234
    var baseParameters = 100_000
    /// Steps (1-based) whose trainStep waits on `gate` before returning.
    var blockingSteps: Set<Int> = []
    let gate = DispatchSemaphore(value: 0)
    /// Signalled when a blocking step has started.
    let entered = DispatchSemaphore(value: 0)
    var saved: [TrainingHistory] = []
    /// Steps (1-based) whose loss is NaN and gradient norm infinite, as a diverged step's are.
    var nonFiniteSteps: Set<Int> = []
    /// Whether saving fails (a full disk).
    var saveFails = false
    var restarts = 0
    var learningRatesUsed: [Float] = []

    init(totalSteps: Int) { self.totalSteps = totalSteps }

    func trainStep() throws -> StepRecord {
        let next = step + 1
        if blockingSteps.contains(next) {
            entered.signal()
            gate.wait()
        }
        step = next
        learningRatesUsed.append(settings.learningRate)
        let diverged = nonFiniteSteps.contains(step)
        return StepRecord(step: step, loss: diverged ? .nan : 1 / Float(step), learningRate: settings.learningRate,
                          gradNorm: diverged ? .infinity : 1, tokens: 512, seconds: 0.001, epoch: epoch)
    }

    /// Units an evaluation reports progress over (0: none), and the unit after which it waits on `gate`.
    var evalUnits = 0
    var evalBlocksAfter: Int?
    /// A fake clock in nanoseconds (for `EngineOptions.clock`) and how far each evaluation unit moves it.
    var nanos: UInt64 = 0
    var evalUnitNanos: UInt64 = 0
    private var progress: (Int, Int) -> Void = { _, _ in }
    func reportProgress(to handler: @escaping (Int, Int) -> Void) { progress = handler }

    func evaluate() throws -> EvalRecord? {
        for k in 0..<evalUnits {
            nanos += evalUnitNanos
            progress(k + 1, evalUnits)
            if k + 1 == evalBlocksAfter {
                entered.signal()
                gate.wait()
            }
        }
        return EvalRecord(step: step, loss: 2 / Float(step + 1), seconds: 0)
    }
    func sample() throws -> [SampleRecord] { [SampleRecord(step: step, prompt: "p", base: "b", adapted: "a", reference: "a")] }

    func apply(_ command: Command) throws -> ChangeEvent {
        switch command {
        case .setRank(let r):
            defer { settings.rank = r }
            return ChangeEvent(step: step, kind: "rank", from: "\(settings.rank)", to: "\(r)")
        case .setAlpha(let a):
            defer { settings.alpha = a }
            return ChangeEvent(step: step, kind: "alpha", from: formatNumber(settings.alpha), to: formatNumber(a))
        case .setLearningRate(let lr):
            defer { settings.learningRate = lr }
            return ChangeEvent(step: step, kind: "lr", from: formatNumber(settings.learningRate), to: formatNumber(lr))
        default:
            throw CommandParseError(line: command.label, message: "not supported by the fake session")
        }
    }

    func saveCheckpoint(history: TrainingHistory) throws -> String {
        if saveFails { throw CocoaError(.fileWriteOutOfSpace) }
        saved.append(history)
        return "/tmp/fake-checkpoint-\(step)"
    }

    func restart() throws {
        restarts += 1
        step = 0
    }

    /// Memory figures that follow the rank: 1 KiB of adapter per unit of rank.
    func memoryReport() -> MemoryReport? {
        MemoryReport(components: [MemoryComponent("LoRA A/B", bytes: settings.rank * 1024, kind: .adapters)])
    }

    /// How many times the engine asked for an inspection.
    var inspections = 0
    func inspect() throws -> UpdateInspection? {
        inspections += 1
        return UpdateInspection(step: step, rank: settings.rank, alpha: settings.alpha, rsLoRA: false, storage: nil, modules: [])
    }
}
