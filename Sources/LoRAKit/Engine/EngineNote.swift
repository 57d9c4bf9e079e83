/// A note from the engine for people (the status row, headless lines, the JSONL log), and how much it matters: where
/// it is shown and whether stderr gets it follow the level, never the wording.
public struct EngineNote: Sendable, Equatable {
    /// How much a note matters.
    public enum Level: String, Sendable, Codable {
        /// What happened: a change applied, a checkpoint saved, a restart.
        case info
        /// Something asked for could not be done, or the run is in trouble: a refused or failed command, a skipped
        /// update, a pause for divergence.
        case warning
        /// Work is being lost: a save that failed.
        case error
    }

    /// The sentence.
    public let text: String
    /// How much it matters.
    public let level: Level

    /// A note of `level` (info unless said).
    public init(_ text: String, _ level: Level = .info) {
        self.text = text
        self.level = level
    }
}
