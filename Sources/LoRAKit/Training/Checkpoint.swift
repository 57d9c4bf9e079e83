import Foundation

/// A checkpoint folder: the adapter in PEFT format plus everything needed to resume exactly.
///
/// ```
/// checkpoint-000120/
///   adapter_config.json, adapter_model.safetensors   the adapter (PEFT)
///   optimizer.safetensors                            AdamW moments: <module>.lora_{A,B}.exp_avg / .exp_avg_sq
///   trainer_state.json                               step, settings, RNG, data position, curves, change events
/// ```
/// The folder is written under a temporary name, every file fsynced, then renamed into place, so a crash leaves
/// either the previous checkpoint or the new one, never half of one.
public enum Checkpoint {
    /// The trainer-state file's content (plus the session's own state `S`, e.g. the data position).
    public struct Meta<S: Codable & Sendable>: Codable, Sendable {
        /// File format version.
        public var format: Int = 1
        /// Optimizer steps taken.
        public var step: Int
        /// Adapter settings.
        public var lora: LoRAConfig
        /// Optimizer settings.
        public var optimizer: OptimizerConfig
        /// The trainer's RNG state.
        public var rngState: [UInt64]
        /// Curves and change events so far.
        public var history: TrainingHistory
        /// The session's own state.
        public var session: S
    }

    /// Folder name for a step: `checkpoint-000120`.
    public static func folderName(step: Int) -> String { String(format: "checkpoint-%06d", step) }

    /// Writes a checkpoint of `trainer` into `outputDir/checkpoint-<step>`, keeps the newest `keep` checkpoints, and
    /// returns the folder.
    public static func save<S: Codable & Sendable>(
        trainer: Trainer, history: TrainingHistory, session: S, baseModel: String, outputDir: String, keep: Int
    ) throws -> String {
        let state = trainer.state()
        try refuseNonFinite(state)
        let fm = FileManager.default
        try fm.createDirectory(atPath: outputDir, withIntermediateDirectories: true)
        let name = folderName(step: state.step)
        let final = outputDir + "/" + name
        let tmp = outputDir + "/" + partialName(name)
        try? fm.removeItem(atPath: tmp)
        try fm.createDirectory(atPath: tmp, withIntermediateDirectories: false)
        do {
            let adapter = PEFTAdapter(
                config: state.lora, baseModel: baseModel,
                modules: state.adapters.map {
                    PEFTAdapter.Module(name: $0.name, a: $0.a, b: $0.b, rank: $0.rank, inFeatures: $0.inFeatures,
                                       outFeatures: $0.outFeatures)
                })
            try adapter.write(to: tmp)
            var opt = SafetensorsWriter(metadata: ["format": "loratop-optimizer", "step": String(state.step)])
            for a in state.adapters {
                let p = PEFTAdapter.prefix + a.name
                try opt.add(name: p + ".lora_A.exp_avg", shape: [a.rank, a.inFeatures], values: a.mA)
                try opt.add(name: p + ".lora_A.exp_avg_sq", shape: [a.rank, a.inFeatures], values: a.vA)
                try opt.add(name: p + ".lora_B.exp_avg", shape: [a.outFeatures, a.rank], values: a.mB)
                try opt.add(name: p + ".lora_B.exp_avg_sq", shape: [a.outFeatures, a.rank], values: a.vB)
            }
            try opt.write(to: tmp + "/optimizer.safetensors")
            let meta = Meta(step: state.step, lora: state.lora, optimizer: state.optimizer, rngState: state.rngState,
                            history: history, session: session)
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            enc.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            try AtomicFile.write(Array(try enc.encode(meta)), to: tmp + "/trainer_state.json")
            AtomicFile.syncFolder(tmp)
            // Swap into place: an older folder of the same name is moved aside first and removed after.
            let aside = outputDir + "/" + removingName(name)
            if fm.fileExists(atPath: final) {
                try? fm.removeItem(atPath: aside)
                guard rename(final, aside) == 0 else {
                    throw FileError(path: final, message: "cannot replace the existing checkpoint: \(String(cString: strerror(errno)))")
                }
            }
            guard rename(tmp, final) == 0 else {
                throw FileError(path: final, message: "cannot move the new checkpoint into place: \(String(cString: strerror(errno)))")
            }
            AtomicFile.syncFolder(outputDir)
            try? fm.removeItem(atPath: aside)
        } catch {
            try? fm.removeItem(atPath: tmp)
            throw error
        }
        try prune(outputDir: outputDir, keep: keep)
        return final
    }

    /// The hidden name a checkpoint is written under until it is complete: `.checkpoint-000120.partial-PID`. Nothing
    /// that lists or resolves checkpoints picks it, and a person sees at once that it is not one.
    static func partialName(_ name: String) -> String { ".\(name).partial-\(getpid())" }

    /// The hidden name a checkpoint is moved to before it is deleted: `.checkpoint-000120.removing-PID`.
    static func removingName(_ name: String) -> String { ".\(name).removing-\(getpid())" }

    /// Removes what interrupted saves and rotations of other processes left in `outputDir` (killed mid-save: a
    /// partial or a half-removed folder), under today's hidden names and the older `checkpoint-…tmp-PID` /
    /// `.old-PID` ones. A folder whose process is still alive is left alone. Returns the names removed.
    @discardableResult
    public static func removeLeftovers(outputDir: String) -> [String] {
        let fm = FileManager.default
        var removed: [String] = []
        for n in (try? fm.contentsOfDirectory(atPath: outputDir)) ?? [] {
            let hidden = n.hasPrefix(".checkpoint-") && (n.contains(".partial-") || n.contains(".removing-"))
            let older = n.hasPrefix("checkpoint-") && (n.contains(".tmp-") || n.contains(".old-"))
            guard hidden || older, let pid = Int32(n.split(separator: "-").last ?? ""), pid > 0 else { continue }
            guard pid != getpid(), kill(pid, 0) != 0 else { continue }
            if (try? fm.removeItem(atPath: outputDir + "/" + n)) != nil { removed.append(n) }
        }
        return removed
    }

    /// Complete checkpoint folders in `outputDir`, oldest first (temporary and moved-aside folders are ignored).
    public static func list(outputDir: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: outputDir)) ?? []
        return names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix("checkpoint-"), let s = Int(n.dropFirst("checkpoint-".count)) else { return nil }
            return (s, outputDir + "/" + n)
        }.sorted { $0.0 < $1.0 }
    }

    /// Throws when any adapter value or AdamW moment is NaN or infinite: such a checkpoint is never written, so the
    /// rotation never replaces a finite one with it.
    static func refuseNonFinite(_ state: TrainerState) throws {
        for a in state.adapters {
            let p = PEFTAdapter.prefix + a.name
            for (key, values) in [(".lora_A.weight", a.a), (".lora_B.weight", a.b), (".lora_A.exp_avg", a.mA),
                                  (".lora_A.exp_avg_sq", a.vA), (".lora_B.exp_avg", a.mB), (".lora_B.exp_avg_sq", a.vB)] {
                if let bad = Finite.firstNonFinite(values) {
                    throw CheckpointRefused(tensor: p + key, detail: Finite.describe(bad, of: values.count))
                }
            }
        }
    }

    /// Removes all but the newest `keep` checkpoints, and leftovers of interrupted saves.
    public static func prune(outputDir: String, keep: Int) throws {
        for c in list(outputDir: outputDir).dropLast(max(1, keep)) {
            // Rename first (atomic), then delete: a crash mid-delete leaves a hidden `.removing-` folder, never a half
            // checkpoint under a checkpoint's name.
            let aside = outputDir + "/" + removingName(URL(fileURLWithPath: c.path).lastPathComponent)
            if rename(c.path, aside) == 0 { try? FileManager.default.removeItem(atPath: aside) }
        }
        removeLeftovers(outputDir: outputDir)
    }

    /// Resolves `--resume DIR`: a checkpoint folder itself, or an output folder (its newest checkpoint).
    public static func resolve(_ dir: String) throws -> String {
        if FileManager.default.fileExists(atPath: dir + "/trainer_state.json") { return dir }
        guard let newest = list(outputDir: dir).last else {
            throw FileError(path: dir, message: "no checkpoint here (expected trainer_state.json or checkpoint-* folders)",
                            hint: "pass a checkpoint folder or the run's --output folder")
        }
        return newest.path
    }

    /// Reads only `trainer_state.json` of a checkpoint folder (settings, step, RNG, curves), not the tensors.
    public static func loadMeta<S: Codable & Sendable>(_ folder: String, as: S.Type) throws -> Meta<S> {
        let metaPath = folder + "/trainer_state.json"
        guard let data = try RegularFile.contents(metaPath) else {
            throw FileError(path: metaPath, message: "missing or unreadable (expected the trainer state of a checkpoint)",
                            hint: "is this a loratop checkpoint folder?")
        }
        let dec = JSONDecoder()
        dec.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let meta: Meta<S>
        do {
            meta = try dec.decode(Meta<S>.self, from: data)
        } catch {
            throw FileError(path: metaPath, message: "not a loratop trainer state (expected JSON with step, lora, optimizer, "
                            + "rngState, history and session): \(error)", hint: "is this a loratop checkpoint folder?")
        }
        guard meta.format == 1 else {
            throw FileError(path: metaPath, message: "format \(meta.format) is not supported (expected 1)", hint: "a newer loratop wrote it")
        }
        guard meta.step >= 0 else {
            throw FileError(path: metaPath, message: "step: expected 0 or more, found \(meta.step)", hint: "the file was edited or damaged")
        }
        guard meta.optimizer.learningRate.isFinite, meta.optimizer.learningRate > 0, meta.lora.alpha.isFinite, meta.lora.alpha > 0 else {
            throw FileError(path: metaPath, message: "the learning rate (\(meta.optimizer.learningRate)) and lora alpha (\(meta.lora.alpha)) must be "
                            + "positive numbers", hint: "the file was edited or damaged")
        }
        return meta
    }

    /// Loads a checkpoint: the trainer state (adapters with moments) and the meta data.
    public static func load<S: Codable & Sendable>(_ folder: String, as: S.Type) throws -> (TrainerState, Meta<S>) {
        let meta = try loadMeta(folder, as: S.self)
        let adapter = try PEFTAdapter.read(folder: folder)
        let opt = try SafetensorsFile(path: folder + "/optimizer.safetensors")
        var adapters: [AdapterState] = []
        for m in adapter.modules {
            let p = PEFTAdapter.prefix + m.name
            func moment(_ key: String, _ count: Int) throws -> [Float] {
                let v = try opt.floats(p + key)
                let file = folder + "/optimizer.safetensors"
                guard v.count == count else {
                    throw FileError(path: file, message: "\(p + key) has \(v.count) values, expected \(count)")
                }
                if let bad = Finite.firstNonFinite(v) {
                    throw FileError(path: file, message: "\(p + key) holds a non-finite value (\(Finite.describe(bad, of: v.count)))",
                                    hint: "the run that wrote it diverged; resume from an earlier checkpoint")
                }
                if key.hasSuffix("_sq"), let i = v.firstIndex(where: { $0 < 0 }) {
                    throw FileError(path: file, message: "\(p + key) holds a negative second moment (\(v[i]) at element \(i))",
                                    hint: "the file was edited or damaged")
                }
                return v
            }
            adapters.append(AdapterState(
                name: m.name, rank: m.rank, inFeatures: m.inFeatures, outFeatures: m.outFeatures, a: m.a, b: m.b,
                mA: try moment(".lora_A.exp_avg", m.a.count), vA: try moment(".lora_A.exp_avg_sq", m.a.count),
                mB: try moment(".lora_B.exp_avg", m.b.count), vB: try moment(".lora_B.exp_avg_sq", m.b.count)))
        }
        let state = TrainerState(lora: meta.lora, optimizer: meta.optimizer, step: meta.step, rngState: meta.rngState,
                                 adapters: adapters)
        return (state, meta)
    }
}

/// A checkpoint not written because the adapter or its optimizer state holds a NaN or an infinity.
public struct CheckpointRefused: Error, CustomStringConvertible, Sendable {
    /// The tensor at fault (PEFT's name).
    public let tensor: String
    /// "nan at element 12 of 4096".
    public let detail: String
    public var description: String {
        "not written: \(tensor) holds a non-finite value (\(detail)); the checkpoints already saved are kept"
    }
}
