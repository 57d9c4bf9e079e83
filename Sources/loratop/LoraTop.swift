import ArgumentParser

/// The `loratop` command: an interactive terminal trainer for LoRA and QLoRA adapters.
@main
struct LoraTop: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loratop",
        abstract: "Watch and steer LoRA / QLoRA fine-tuning from a terminal.",
        subcommands: [Train.self, Generate.self, Tokenize.self, Estimate.self, Bench.self, Export.self, Plot.self, FetchModel.self]
    )
}
