import ArgumentParser
import Foundation
import LoRAKit
import LoraTopConfig

extension Train {
    /// The options of a resumed run: every setting stored in the checkpoint (`dir`: a checkpoint folder or an output
    /// folder), then the keys present in the run file, then the flags given. Returns them with one line per setting
    /// given (`--lr 2e-04 → 1e-04`, `--seed 0 (unchanged)`), first the checkpoint folder.
    func resumedOptions(from dir: String, file: RunConfig) throws -> (RunOptions, [String]) {
        let folder = try Checkpoint.resolve(dir)
        let fileName = config.map { URL(fileURLWithPath: $0).lastPathComponent } ?? "the run file"
        var r = ResumeOverrides(options: try TrainingRun.storedOptions(resume: folder), fileName: fileName)
        r.lines.append("from \(folder)")

        if let p = preset, TrainingRun.presetConfig(p) == nil {
            throw ValidationError("--preset: unknown preset `\(p)`; expected tiny, small or smollm2-135m")
        }
        r.take(\.model, preset != nil ? "--preset" : "--model", preset.map { "preset:" + $0 } ?? model, "base_model", file.baseModel)
        r.take(\.data, "--data", data, "datasets", file.datasets)
        r.take(\.evalData, "--eval-data", evalData.map { .some($0) }, "eval_dataset", file.evalDataset.map { .some($0) })
        r.take(\.valSetSize, "--val-set-size", valSetSize, "val_set_size", file.valSetSize)

        r.take(\.lora.rank, "--rank", rank, "lora_r", file.loraR)
        r.take(\.lora.alpha, "--alpha", alpha, "lora_alpha", file.loraAlpha.map(Float.init))
        r.take(\.lora.dropout, "--dropout", dropout, "lora_dropout", file.loraDropout.map(Float.init))
        r.take(\.lora.targets, "--targets", try targets.map(LoRATarget.parseList), "lora_target_modules",
               try file.loraTargetModules.map { try LoRATarget.parseList($0.joined(separator: ",")) })
        r.take(\.lora.useRSLoRA, "--rslora", rslora ? true : nil, "use_rslora", file.useRslora)

        r.take(\.quant, "--quant", try quant.map(Self.quantKind), "quant", try file.effectiveQuant.map(Self.quantKind))
        r.take(\.doubleQuant, "--double-quant", doubleQuant ? true : nil, "bnb_4bit_use_double_quant", file.bnb4bitUseDoubleQuant)
        r.take(\.blockSize, "--block-size", blockSize, "quant_block_size", file.quantBlockSize)
        r.take(\.checkpointing, "--checkpointing", checkpointing ? true : nil, "gradient_checkpointing", file.gradientCheckpointing)
        r.take(\.compute, "--compute", try compute.map { .some(try Self.computePrecision($0)) }, "compute",
               try file.compute.map { .some(try Self.computePrecision($0)) })

        r.take(\.optimizer.learningRate, "--lr", lr, "learning_rate", file.learningRate.map(Float.init))
        r.take(\.optimizer.schedule.kind, "--schedule", try schedule.map(Self.scheduleKind), "lr_scheduler",
               try file.lrScheduler.map(Self.scheduleKind))
        r.take(\.optimizer.schedule.warmupSteps, "--warmup", warmup, "warmup_steps", file.warmupSteps)
        r.take(\.optimizer.weightDecay, nil, nil, "weight_decay", file.weightDecay.map(Float.init))
        r.take(\.optimizer.maxGradNorm, nil, nil, "max_grad_norm", file.maxGradNorm.map(Float.init))
        r.take(\.batchSize, "--batch-size", batchSize, "micro_batch_size", file.microBatchSize)
        r.take(\.gradAccum, "--grad-accum", gradAccum, "gradient_accumulation_steps", file.gradientAccumulationSteps)
        r.take(\.seqLen, "--seq-len", seqLen, "sequence_len", file.sequenceLen)
        r.take(\.maxSteps, "--max-steps", maxSteps.map { .some($0) }, "max_steps", file.maxSteps.map { .some($0) })
        r.take(\.epochs, "--epochs", epochs, "num_epochs", file.numEpochs)
        r.take(\.evalEvery, "--eval-every", evalEvery, "eval_steps", file.evalSteps)
        r.take(\.saveEvery, "--save-every", saveEvery, "save_steps", file.saveSteps)
        r.take(\.sampleEvery, "--sample-every", sampleEvery, "sample_steps", file.sampleSteps)
        r.take(\.inspectEvery, "--inspect-every", inspectEvery.map { .some($0) }, "inspect_steps", file.inspectSteps.map { .some($0) })
        r.take(\.keep, "--keep", keep, "save_total_limit", file.saveTotalLimit)
        r.take(\.seed, "--seed", seed, "seed", file.seed.map(UInt64.init))
        r.take(\.threads, "--threads", threads, "threads", file.threads)
        r.take(\.output, "--output", output, "output_dir", file.outputDir)
        let holder = URL(fileURLWithPath: folder).deletingLastPathComponent().standardizedFileURL.path
        if output == nil && file.outputDir == nil && holder != URL(fileURLWithPath: r.options.output).standardizedFileURL.path {
            r.lines.append("the checkpoint is not in the run's output folder \(r.options.output): new checkpoints and the "
                           + "metrics go there (give --output to change it)")
        }
        return (r.options, r.lines)
    }

    private static func quantKind(_ q: String) throws -> QuantKind {
        guard let kind = QuantKind(parsing: q) else {
            throw ValidationError("--quant: expected none, int8, fp4, nf4 or source, found `\(q)`")
        }
        return kind
    }

    private static func scheduleKind(_ s: String) throws -> LRScheduleKind {
        guard let kind = LRScheduleKind(rawValue: s) else {
            throw ValidationError("--schedule: expected constant, linear or cosine, found `\(s)`")
        }
        return kind
    }
}

/// The stored options of a resumed run with the settings given on top, and a line for each.
private struct ResumeOverrides {
    var options: RunOptions
    /// The run file's name, for lines about its keys.
    let fileName: String
    var lines: [String] = []

    /// Sets `key` to the flag's value, else the run file's, and notes it; keeps the stored value when neither is given.
    mutating func take<T: Equatable>(_ key: WritableKeyPath<RunOptions, T>, _ flag: String?, _ flagValue: T?,
                                     _ fileKey: String, _ fileValue: T?) {
        let value: T, source: String
        if let f = flag, let v = flagValue {
            (value, source) = (v, f)
        } else if let v = fileValue {
            (value, source) = (v, "\(fileName): \(fileKey)")
        } else {
            return
        }
        let old = options[keyPath: key]
        lines.append(old == value ? "\(source) \(Self.show(value)) (unchanged)"
                                  : "\(source) \(Self.show(old)) → \(Self.show(value))")
        options[keyPath: key] = value
    }

    /// A setting as people type it: 2e-04, q,k,v, int8, none for an absent value.
    static func show(_ v: Any) -> String {
        let mirror = Mirror(reflecting: v)
        if mirror.displayStyle == .optional { return mirror.children.first.map { show($0.value) } ?? "none" }
        switch v {
        case let f as Float: return formatNumber(f)
        case let d as Double: return formatNumber(Float(d))
        case let t as [LoRATarget]: return t.map(\.shortName).joined(separator: ",")
        case let q as QuantKind: return q.rawValue
        case let k as LRScheduleKind: return k.rawValue
        case let b as Bool: return b ? "on" : "off"
        default: return "\(v)"
        }
    }
}
