import Foundation
import LoRAKit

/// Reads headless commands (`rank 16`, `lr 1e-4`, `save`, `stop`, ...) from stdin lines on a background thread and
/// sends them to the engine. A bad line is reported on stderr and ignored; end of input just stops reading.
enum StdinCommands {
    static func start(engine: TrainingEngine) {
        let thread = Thread {
            while let line = readLine(strippingNewline: true) {
                let trimmed = line.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
                do {
                    engine.send(try Command.parse(trimmed))
                } catch {
                    Output.err("loratop: \(error)\n")
                }
            }
        }
        thread.name = "loratop.stdin"
        thread.start()
    }
}
