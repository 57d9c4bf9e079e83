/// A tokenizer with one token per byte (ids 0–255) plus the ChatML control tokens, for tests and tiny
/// random models that have no vocabulary file.
public struct ByteTokenizer: Tokenizing {
    /// Control tokens after the 256 bytes, in id order.
    public static let controlTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

    /// 256 bytes + 3 control tokens.
    public var vocabularySize: Int { 256 + Self.controlTokens.count }
    /// bos `<|im_start|>` 257, eos and pad `<|im_end|>` 258, unk `<|endoftext|>` 256.
    public let specialIDs = SpecialTokenIDs(bos: 257, eos: 258, unk: 256, pad: 258)

    /// No BOS before sequences.
    public var addsBOS: Bool { false }

    /// The byte tokenizer.
    public init() {}

    /// Bytes of `text`, with the control tokens recognised.
    public func encode(_ text: String) -> [Int32] {
        let b = Array(text.utf8)
        let controls = Self.controlTokens.map { Array($0.utf8) }
        var out = [Int32]()
        out.reserveCapacity(b.count)
        var i = 0
        scan: while i < b.count {
            if b[i] == UInt8(ascii: "<") {
                for (k, c) in controls.enumerated() where i + c.count <= b.count && Array(b[i..<(i + c.count)]) == c {
                    out.append(Int32(256 + k))
                    i += c.count
                    continue scan
                }
            }
            out.append(Int32(b[i]))
            i += 1
        }
        return out
    }

    /// One byte, or a control token's text.
    public func bytes(of id: Int32) -> [UInt8] {
        if id >= 0 && id < 256 { return [UInt8(id)] }
        let k = Int(id) - 256
        return k >= 0 && k < Self.controlTokens.count ? Array(Self.controlTokens[k].utf8) : []
    }

    /// Ids 256 and above are control tokens.
    public func isSpecial(_ id: Int32) -> Bool { id >= 256 && Int(id) < vocabularySize }

    /// The id of a control token.
    public func specialID(_ text: String) -> Int32? {
        Self.controlTokens.firstIndex(of: text).map { Int32(256 + $0) }
    }
}
