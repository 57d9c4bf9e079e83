import ArgumentParser

/// The `loratop` command: an interactive terminal trainer for LoRA and QLoRA adapters.
@main
struct LoraTop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loratop",
        abstract: "Watch and steer LoRA / QLoRA fine-tuning from a terminal.",
        version: loratopVersion,
        subcommands: [Train.self, Resume.self, Attach.self, List.self, Send.self, Stop.self, Logs.self, Generate.self, Tokenize.self, Estimate.self, Bench.self, Export.self, Plot.self, Inspect.self, FetchModel.self]
    )

    /// Takes ownership of the signals before anything else can start a thread, then runs the command.
    static func main() {
        ProcessSignals.install()
        main(nil)
    }
}
