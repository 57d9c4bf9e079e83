/// How one layer's attention scores are formed: scale, optional tanh soft-cap, optional sliding window.
public struct AttentionOptions: Sendable, Equatable {
    /// Factor on q·k.
    public var scale: Float
    /// cap in cap·tanh(s/cap), nil for none.
    public var softcap: Float?
    /// Keys a query sees, itself included; nil for the whole causal prefix.
    public var window: Int?

    /// LLaMA's attention: scale 1/√hd, no cap, and no window unless given (Mistral's, Phi-3's).
    public static func standard(headDim: Int, window: Int? = nil) -> AttentionOptions {
        AttentionOptions(scale: 1 / Float(headDim).squareRoot(), softcap: nil, window: window)
    }

    /// The attention options.
    public init(scale: Float, softcap: Float? = nil, window: Int? = nil) {
        self.scale = scale
        self.softcap = softcap
        self.window = window
    }
}
