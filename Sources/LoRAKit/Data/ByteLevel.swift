/// GPT-2's reversible map between bytes and printable Unicode characters, so every byte sequence can be
/// written as a vocabulary string: printable Latin-1 bytes map to themselves, the other 68 bytes
/// (controls, space, 0x7F–0xA0, 0xAD) map in order to U+0100, U+0101, ... (space becomes `Ġ`, newline `Ċ`).
public enum ByteLevel {
    /// The character standing for each byte.
    public static let byteToScalar: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var extra: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt8(b))
            } else {
                table[b] = Unicode.Scalar(extra) ?? " "
                extra += 1
            }
        }
        return table
    }()

    /// The byte a character stands for, or nil if it is not one of the 256 byte characters.
    public static func byte(for scalar: Unicode.Scalar) -> UInt8? { scalarToByte[scalar.value] }

    private static let scalarToByte: [UInt32: UInt8] = {
        var map = [UInt32: UInt8]()
        for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
        return map
    }()

    /// The bytes a vocabulary string stands for; nil if it holds a character outside the byte alphabet.
    public static func bytes(of token: String) -> [UInt8]? {
        var out = [UInt8]()
        out.reserveCapacity(token.unicodeScalars.count)
        for s in token.unicodeScalars {
            guard let b = scalarToByte[s.value] else { return nil }
            out.append(b)
        }
        return out
    }

    /// The vocabulary string for a byte sequence.
    public static func string(of bytes: some Sequence<UInt8>) -> String {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(byteToScalar[Int(b)]) }
        return String(s)
    }
}
