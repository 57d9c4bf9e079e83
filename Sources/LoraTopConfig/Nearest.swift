/// Suggestions for typos: a misspelt YAML key, a misspelt subcommand.
public enum Nearest {
    /// The candidate closest to `key` by edit distance, when close enough to be a plausible typo.
    public static func match(to key: String, in candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance(key.lowercased(), $0)) }.min { $0.1 < $1.1 }
        guard let (best, d) = scored, d <= max(2, key.count / 3) else {
            // A typo of a word inside a key (lora_rank vs lora_r) may be far by edits; try prefixes.
            return candidates.first { $0.hasPrefix(key) || key.hasPrefix($0) }
        }
        return best
    }

    /// Levenshtein distance.
    public static func editDistance(_ a: String, _ b: String) -> Int {
        let x = Array(a), y = Array(b)
        if x.isEmpty { return y.count }
        if y.isEmpty { return x.count }
        var prev = Array(0...y.count), cur = [Int](repeating: 0, count: y.count + 1)
        for i in 1...x.count {
            cur[0] = i
            for j in 1...y.count {
                cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1))
            }
            swap(&prev, &cur)
        }
        return prev[y.count]
    }
}
