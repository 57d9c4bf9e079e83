import Foundation

/// Counts a person should see after loading a dataset.
public struct DatasetStats: Sendable, Equatable, Codable {
    /// Examples kept (windows, for plain text).
    public var examples = 0
    /// Examples cut to the maximum length.
    public var truncated = 0
    /// Examples dropped because nothing trained was left after truncation.
    public var dropped = 0
    /// Tokens kept over all examples.
    public var tokens = 0
    /// Tokens the loss counts.
    public var trainedTokens = 0
    /// Longest example before truncation, in tokens.
    public var longest = 0
}

/// Tokenized training examples from one dataset file.
public struct Dataset: Sendable {
    /// The file's format.
    public let format: DatasetFormat
    /// Examples, each at most `maxLength` tokens.
    public let examples: [TokenizedExample]
    /// What loading did.
    public let stats: DatasetStats
    /// The file line each example came from (0 for the windows of plain text): the questions of a held-out split
    /// are the records of its lines.
    public let lines: [Int]

    /// Examples and stats as given (e.g. after a split); `lines` are their source lines (zeros when not given).
    public init(format: DatasetFormat, examples: [TokenizedExample], stats: DatasetStats, lines: [Int]? = nil) {
        self.format = format
        self.examples = examples
        self.stats = stats
        self.lines = lines ?? [Int](repeating: 0, count: examples.count)
    }

    /// Reads and tokenizes `url`. `maxLength` is the most tokens per example (sequence length + 1: the inputs
    /// plus the last target); longer examples are truncated, plain text is cut into windows of that length.
    public static func load(url: URL, tokenizer: any Tokenizing, template: ChatTemplate, maxLength: Int) throws -> Dataset {
        try load(DatasetFile(url: url), tokenizer: tokenizer, template: template, maxLength: maxLength)
    }

    /// Tokenizes a file already read.
    public static func load(_ file: DatasetFile, tokenizer: any Tokenizing, template: ChatTemplate, maxLength: Int) throws -> Dataset {
        guard maxLength >= 2 else {
            throw DatasetError(file: file.path, line: nil, message: "maximum length too small (expected at least 2 tokens, found \(maxLength))",
                               hint: "raise --seq-len")
        }
        var stats = DatasetStats()
        var examples = [TokenizedExample]()
        var lines = [Int]()
        examples.reserveCapacity(file.records.count)
        let eos = tokenizer.specialIDs.eos.map { [$0] } ?? []

        func add(_ ex: TokenizedExample, line: Int = 0) {
            stats.longest = max(stats.longest, ex.ids.count)
            var ex = ex
            if ex.ids.count > maxLength {
                stats.truncated += 1
                ex = TokenizedExample(ids: Array(ex.ids.prefix(maxLength)), trained: Array(ex.trained.prefix(maxLength)))
            }
            if ex.trainedCount == 0 {
                stats.dropped += 1
                return
            }
            stats.examples += 1
            stats.tokens += ex.ids.count
            stats.trainedTokens += ex.trainedCount
            examples.append(ex)
            lines.append(line)
        }

        if file.format == .plainText {
            guard case .text(let text)? = file.records.first?.record else { return Dataset(format: file.format, examples: [], stats: stats) }
            let ids = tokenizer.bosPrefix + tokenizer.encode(text)
            stats.longest = ids.count
            guard ids.count >= 2 else {
                throw DatasetError(file: file.path, line: nil, message: "too short to train on (expected at least 2 tokens, found \(ids.count))",
                                   hint: "add more text")
            }
            // Windows overlap by one token, so every token after the first is predicted exactly once.
            var start = 0
            while start + 1 < ids.count {
                let window = Array(ids[start..<min(start + maxLength, ids.count)])
                add(TokenizedExample(ids: window, trained: [Bool](repeating: true, count: window.count)))
                start += maxLength - 1
            }
            return Dataset(format: file.format, examples: examples, stats: stats)
        }

        for (line, record) in file.records {
            switch record {
            case .text(let text):
                let ids = tokenizer.bosPrefix + tokenizer.encode(text) + eos
                add(TokenizedExample(ids: ids, trained: [Bool](repeating: true, count: ids.count)), line: line)
            case .promptCompletion(let prompt, let completion):
                let p = tokenizer.bosPrefix + tokenizer.encode(prompt)
                let c = tokenizer.encode(completion) + eos
                add(TokenizedExample(ids: p + c, trained: [Bool](repeating: false, count: p.count) + [Bool](repeating: true, count: c.count)),
                    line: line)
            case .chat, .alpaca:
                if template.format == .unsupported {
                    throw DatasetError(file: file.path, line: line, message: "chat records need the model's chat template, which loratop cannot render",
                                       hint: (template.unsupportedReason ?? "") + "; or use plain-text or prompt-completion records")
                }
                add(template.encode(record.messages ?? [], addGenerationPrompt: false, tokenizer: tokenizer), line: line)
            }
        }
        if examples.isEmpty {
            throw DatasetError(file: file.path, line: nil,
                               message: "no example keeps a trained token within \(maxLength) tokens (found \(stats.dropped) dropped)",
                               hint: "raise --seq-len, or shorten the prompts")
        }
        return Dataset(format: file.format, examples: examples, stats: stats, lines: lines)
    }

    /// Splits off a seeded random `fraction` (0..<1) of the examples for evaluation (at least one when fraction > 0
    /// and there are two or more examples). The same seed gives the same split.
    public func split(evalFraction fraction: Double, seed: UInt64) -> (train: Dataset, eval: Dataset) {
        let n = examples.count
        var nEval = Int((Double(n) * max(0, min(fraction, 1))).rounded())
        if fraction > 0 && nEval == 0 && n >= 2 { nEval = 1 }
        nEval = min(nEval, max(0, n - 1))
        var rng = SeededRNG(seed: seed ^ 0x5EED_5EED_0E7A_1000)
        let order = BatchLoader.permutation(n, rng: &rng)
        let evalSet = Set(order.prefix(nEval))
        var train = [TokenizedExample](), eval = [TokenizedExample]()
        var trainLines = [Int](), evalLines = [Int]()
        for (i, ex) in examples.enumerated() {
            if evalSet.contains(i) {
                eval.append(ex)
                evalLines.append(lines[i])
            } else {
                train.append(ex)
                trainLines.append(lines[i])
            }
        }
        return (Dataset(format: format, examples: train, stats: Self.restat(train, from: stats), lines: trainLines),
                Dataset(format: format, examples: eval, stats: Self.restat(eval, from: DatasetStats()), lines: evalLines))
    }

    private static func restat(_ list: [TokenizedExample], from base: DatasetStats) -> DatasetStats {
        var s = base
        s.examples = list.count
        s.tokens = list.reduce(0) { $0 + $1.ids.count }
        s.trainedTokens = list.reduce(0) { $0 + $1.trainedCount }
        return s
    }
}
