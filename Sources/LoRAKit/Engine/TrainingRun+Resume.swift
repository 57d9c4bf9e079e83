/// Resuming a run from its checkpoint alone: the stored settings, and the trainer state fitted to settings that a
/// person changed when resuming.
extension TrainingRun {
    /// Every setting of the run a checkpoint was taken from, live changes included (rank, alpha, dropout, learning rate,
    /// base storage): the options that continue it exactly. `dir` is a checkpoint folder or an output folder (its newest
    /// checkpoint). Only `trainer_state.json` is read; a missing or malformed file is a `FileError` naming it.
    public static func storedOptions(resume dir: String) throws -> RunOptions {
        let meta = try Checkpoint.loadMeta(try Checkpoint.resolve(dir), as: State.self)
        var o = meta.session.options
        // The trainer's own record is the authority: it includes an alpha or dropout set just before the save.
        o.lora = meta.lora
        o.optimizer = meta.optimizer
        return o
    }

    /// Restores `state` into `trainer`, then applies where `options` differ from it (settings given when resuming):
    /// alpha, dropout, rsLoRA and the optimizer are taken as they are, a new rank resizes the adapters as a live `rank`
    /// change does. The targets cannot change: the adapters of the checkpoint are the ones that continue.
    static func restore(_ trainer: Trainer, from state: TrainerState, adopting options: RunOptions) throws {
        guard options.lora.targets == state.lora.targets else {
            let saved = state.lora.targets.map(\.shortName).joined(separator: ",")
            throw RunOptionsError(flag: "--targets", message: "the checkpoint adapts \(saved); a resumed run keeps its targets "
                                  + "(found \(options.lora.targets.map(\.shortName).joined(separator: ","))); "
                                  + "hint: start a new run for other targets")
        }
        var s = state
        s.lora.alpha = options.lora.alpha
        s.lora.dropout = options.lora.dropout
        s.lora.useRSLoRA = options.lora.useRSLoRA
        s.optimizer = options.optimizer
        try trainer.restore(s)
        if options.lora.rank != s.lora.rank { _ = try trainer.resize(rank: options.lora.rank) }
    }
}
