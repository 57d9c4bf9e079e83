/// The ranges a live change (a key, `loratop send`, a line on stdin) may set: beyond them a run diverges at once or
/// learns nothing, so the change is refused with the range instead of wrecking the run.
public enum LiveLimits {
    /// LoRA alpha: the scale alpha / r (or alpha / √r) stays finite and within what a key press can reach.
    public static let alpha: ClosedRange<Float> = 1e-3 ... 4096
    /// Peak learning rate for AdamW.
    public static let learningRate: ClosedRange<Float> = 1e-9 ... 1

    /// "1e-03 to 4096".
    public static func describe(_ r: ClosedRange<Float>) -> String {
        "\(formatNumber(r.lowerBound)) to \(formatNumber(r.upperBound))"
    }
}
