import ArgumentParser

/// `loratop resume DIR [flags]`: the same as `loratop train --resume DIR [flags]`.
struct Resume: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Continue a run from its checkpoint folder alone (the same as `loratop train --resume DIR`).",
        discussion: """
        Every setting comes back from the checkpoint's trainer_state.json: model, data, adapter, base storage (a live \
        `quant` change included), optimizer, schedule, batch, steps, seed, threads and output folder.

        Any `loratop train` flag given after DIR overrides the stored value and is reported on stderr, e.g. \
        `loratop resume runs/a --max-steps 600 --lr 1e-4`. `loratop resume DIR --help` lists those flags.
        """)

    @Argument(help: "A checkpoint folder, or a run's output folder (its newest checkpoint).")
    var dir: String

    @Argument(parsing: .captureForPassthrough, help: "Flags of `loratop train` that override the stored settings.")
    var flags: [String] = []

    func validate() throws {
        if flags.contains(where: { $0 == "--resume" || $0.hasPrefix("--resume=") }) {
            throw ValidationError("the folder is given once: `loratop resume DIR` or `loratop train --resume DIR`, not both")
        }
    }

    func run() throws {
        var train: ParsableCommand
        do {
            // Parsed from the root, so that errors and `--help` speak of `loratop train`.
            train = try LoraTop.parseAsRoot(["train", "--resume", dir] + flags)
        } catch {
            LoraTop.exit(reporting: error)
        }
        try train.run()
    }
}
