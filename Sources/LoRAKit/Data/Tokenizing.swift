/// What datasets, chat templates and generation need from a tokenizer, whatever file it came from.
///
/// Ids are `Int32` (the type `Batch` and the embedding use). `encode` never adds BOS/EOS: callers add
/// special tokens explicitly, so a chat template or a dataset decides where they go.
public protocol Tokenizing: Sendable {
    /// Number of ids; the embedding table must have at least this many rows.
    var vocabularySize: Int { get }
    /// Ids of the begin/end/unknown/padding tokens the model file declares.
    var specialIDs: SpecialTokenIDs { get }
    /// Token ids for `text`; special tokens written in the text (e.g. `<|im_end|>`) become their ids.
    func encode(_ text: String) -> [Int32]
    /// The bytes a token stands for (a special token's text for special tokens); empty for an unknown id.
    func bytes(of id: Int32) -> [UInt8]
    /// Whether `id` is a special (control) token such as `<|im_start|>`.
    func isSpecial(_ id: Int32) -> Bool
    /// The id of a special token written as `text`, if the vocabulary has it.
    func specialID(_ text: String) -> Int32?
    /// Whether the model expects BOS before every sequence (GGUF `tokenizer.ggml.add_bos_token`, tokenizer_config's
    /// `add_bos_token`): datasets put it before plain text and prompts; chat templates write their own.
    var addsBOS: Bool { get }
}

/// Ids of the tokens with a fixed role; `nil` when the model has none.
public struct SpecialTokenIDs: Sendable, Equatable, Codable {
    /// Beginning of sequence.
    public var bos: Int32?
    /// End of sequence (appended after plain-text examples; generation stops on it).
    public var eos: Int32?
    /// Unknown token, used when a byte has no token.
    public var unk: Int32?
    /// Padding token, only ever fed as input at masked positions.
    public var pad: Int32?

    /// Roles by id.
    public init(bos: Int32? = nil, eos: Int32? = nil, unk: Int32? = nil, pad: Int32? = nil) {
        self.bos = bos
        self.eos = eos
        self.unk = unk
        self.pad = pad
    }
}

extension Tokenizing {
    /// BOS before each sequence, when the model expects it and has one.
    public var bosPrefix: [Int32] { addsBOS ? specialIDs.bos.map { [$0] } ?? [] : [] }

    /// The id to feed at padded positions: pad, else eos, else 0.
    public var paddingID: Int32 { specialIDs.pad ?? specialIDs.eos ?? 0 }

    /// Text for `ids`; invalid UTF-8 (a character cut between tokens) becomes U+FFFD.
    public func decode(_ ids: [Int32], skipSpecial: Bool = false) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(ids.count * 4)
        for id in ids where !(skipSpecial && isSpecial(id)) { out.append(contentsOf: bytes(of: id)) }
        return String(decoding: out, as: UTF8.self)
    }

    /// Byte offset in the encoded text where each token starts, plus the total length at the end
    /// (`count == ids.count + 1`). Exact for byte-level tokenizers, whose token bytes concatenate to the text.
    public func byteOffsets(of ids: [Int32]) -> [Int] {
        var offsets = [Int]()
        offsets.reserveCapacity(ids.count + 1)
        var at = 0
        for id in ids {
            offsets.append(at)
            at += bytes(of: id).count
        }
        offsets.append(at)
        return offsets
    }
}

/// Turns a stream of generated ids into text, holding back bytes of a character that is not complete yet
/// (an emoji or CJK character is often split across two or more byte-level tokens).
public struct StreamingDecoder: Sendable {
    private let tokenizer: any Tokenizing
    private let skipSpecial: Bool
    private var pending: [UInt8] = []

    /// A decoder for `tokenizer`; special tokens are dropped when `skipSpecial` is true.
    public init(tokenizer: any Tokenizing, skipSpecial: Bool = false) {
        self.tokenizer = tokenizer
        self.skipSpecial = skipSpecial
    }

    /// Adds one id and returns the text that is now complete (possibly empty).
    public mutating func push(_ id: Int32) -> String {
        if skipSpecial && tokenizer.isSpecial(id) { return "" }
        pending.append(contentsOf: tokenizer.bytes(of: id))
        let cut = Self.completePrefixLength(pending)
        if cut == 0 { return "" }
        let text = String(decoding: pending[0..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Returns whatever is held back (an incomplete character becomes U+FFFD) and empties the decoder.
    public mutating func finish() -> String {
        defer { pending.removeAll() }
        return String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside an incomplete (but so far valid) UTF-8 sequence.
    static func completePrefixLength(_ b: [UInt8]) -> Int {
        let n = b.count
        // Look back at most 3 bytes for the lead byte of the last sequence.
        var i = n - 1
        var back = 0
        while i >= 0 && back < 4 && (b[i] & 0xC0) == 0x80 {
            i -= 1
            back += 1
        }
        if i < 0 { return n }  // only continuation bytes: invalid, let them through as U+FFFD
        let lead = b[i]
        let need: Int
        switch lead {
        case 0xC2...0xDF: need = 2
        case 0xE0...0xEF: need = 3
        case 0xF0...0xF4: need = 4
        default: return n  // ASCII or an invalid lead byte: nothing to wait for
        }
        let have = n - i
        return have < need ? i : n
    }
}
