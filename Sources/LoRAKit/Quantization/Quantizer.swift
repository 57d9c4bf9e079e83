/// Turns any frozen matrix into the storage a run asked for, streaming the source in row tiles (never a full
/// fp32 copy of a big matrix beyond one tile).
public enum Quantizer {
    /// Elements per streamed tile (rounded to whole blocks and rows).
    static let tileElements = 1 << 16

    /// Quantizes `source` to `kind`. `.source` returns the source itself; `.none` a dense fp32 copy.
    /// Throws when a weight is NaN or Inf (naming `name` and the first bad index) or the block size is not
    /// one bitsandbytes allows (32…4096, a power of two).
    public static func quantize(
        _ source: FrozenMatrix, kind: QuantKind, blockSize: Int = 64, doubleQuant: Bool = false, name: String
    ) throws -> FrozenMatrix {
        switch kind {
        case .source:
            return source
        case .none:
            try scanFinite(source, name: name)
            if source.denseBase != nil, source.storageName == "f32" { return source }
            return DenseMatrix(source)
        case .nf4, .fp4:
            try checkBlockSize(blockSize, name: name)
            return try quantize4Bit(source, type: kind == .nf4 ? .nf4 : .fp4, blockSize: blockSize,
                                    doubleQuant: doubleQuant, name: name)
        case .int8:
            try checkBlockSize(blockSize, name: name)
            return try quantizeInt8(source, blockSize: blockSize, doubleQuant: doubleQuant, name: name)
        }
    }

    /// NF4 / FP4, bit-exact with bitsandbytes' `quantize_4bit(blocksize, quant_type, compress_statistics)`.
    public static func quantize4Bit(
        _ source: FrozenMatrix, type: FourBitType, blockSize: Int, doubleQuant: Bool, name: String
    ) throws -> Blockwise4BitMatrix {
        let n = source.count
        let book = FourBitCodebook.of(type)
        var packed = [UInt8](repeating: 0, count: (n + 1) / 2)
        var absmax = [Float](repeating: 0, count: (n + blockSize - 1) / blockSize)
        try packed.withUnsafeMutableBufferPointer { pk in
            guard let p = pk.baseAddress else { return }
            try streamBlocks(source, blockSize: blockSize, name: name) { x, first, count in
                let partial = count < blockSize
                absmax[first / blockSize] = Blockwise4BitMatrix.quantizeBlock(
                    x, count: count, partial: partial, book: book, packed: p, first: first)
            }
            if n & 1 == 1 { p[n >> 1] |= book.code(for: 0) }  // bnb pads odd lengths with a 0.0 value
        }
        let scales = doubleQuant ? BlockScales(nesting: absmax, nestedBlockSize: 256) : BlockScales(plain: absmax)
        return try Blockwise4BitMatrix(rows: source.rows, cols: source.cols, type: type, blockSize: blockSize,
                                       packed: packed, scales: scales, name: name)
    }

    /// INT8 with the dynamic map, bit-exact with bitsandbytes' `quantize_blockwise(blocksize, nested)` on CPU.
    public static func quantizeInt8(
        _ source: FrozenMatrix, blockSize: Int, doubleQuant: Bool, name: String
    ) throws -> Int8BlockMatrix {
        let n = source.count
        var codes = [UInt8](repeating: 0, count: n)
        var absmax = [Float](repeating: 0, count: (n + blockSize - 1) / blockSize)
        try DynamicMap.lookup.withUnsafeBufferPointer { lut in
            try codes.withUnsafeMutableBufferPointer { cb in
                guard let c = cb.baseAddress, let l = lut.baseAddress else { return }
                try streamBlocks(source, blockSize: blockSize, name: name) { x, first, count in
                    absmax[first / blockSize] = Int8Blocks.quantizeBlock(x, count: count, into: c + first, lookup: l)
                }
            }
        }
        let scales = doubleQuant ? BlockScales(nesting: absmax, nestedBlockSize: blockSize) : BlockScales(plain: absmax)
        return try Int8BlockMatrix(rows: source.rows, cols: source.cols, blockSize: blockSize, codes: codes,
                                   scales: scales, name: name)
    }

    static func checkBlockSize(_ blockSize: Int, name: String) throws {
        guard QuantKind.validBlockSizes.contains(blockSize) else {
            throw QuantizationError(tensor: name, message: "block size \(blockSize) is not supported: expected a power "
                                    + "of two from 32 to 4096 (bitsandbytes' sizes); try --block-size 64")
        }
    }

    /// Calls `body(values, firstElement, count)` for each block of the row-major flattened matrix, in order,
    /// reading the source one row tile at a time; tiles hold whole blocks so no block straddles two tiles.
    static func streamBlocks(
        _ source: FrozenMatrix, blockSize: Int, name: String,
        _ body: (UnsafePointer<Float>, Int, Int) throws -> Void
    ) throws {
        let rows = source.rows, cols = source.cols
        guard rows > 0, cols > 0 else { return }
        let rowsPerUnit = blockSize / gcd(cols, blockSize)  // rows whose element count is a multiple of blockSize
        let units = max(1, tileElements / (rowsPerUnit * cols))
        let tileRows = rowsPerUnit * units
        let scratch = ScratchBuffer()
        var r = 0
        while r < rows {
            let r1 = min(rows, r + tileRows)
            let first = r * cols
            let count = (r1 - r) * cols
            try source.withRows(r..<r1, scratch: scratch) { x in
                try checkFinite(x, count: count, first: first, cols: cols, name: name)
                var off = 0
                while off < count {
                    let n = min(blockSize, count - off)
                    try body(x + off, first + off, n)
                    off += n
                }
            }
            r = r1
        }
    }

    static func scanFinite(_ source: FrozenMatrix, name: String) throws {
        let tileRows = max(1, tileElements / max(source.cols, 1))
        let scratch = ScratchBuffer()
        var r = 0
        while r < source.rows {
            let r1 = min(source.rows, r + tileRows)
            try source.withRows(r..<r1, scratch: scratch) { x in
                try checkFinite(x, count: (r1 - r) * source.cols, first: r * source.cols, cols: source.cols, name: name)
            }
            r = r1
        }
    }

    @inline(__always)
    static func checkFinite(_ x: UnsafePointer<Float>, count: Int, first: Int, cols: Int, name: String) throws {
        for i in 0..<count where !x[i].isFinite {
            let e = first + i
            throw QuantizationError(
                tensor: name,
                message: "weight [\(e / cols), \(e % cols)] (flat index \(e)) is \(x[i]): expected a finite value; "
                    + "the model file is damaged or was saved with overflowing values")
        }
    }

    static func gcd(_ a: Int, _ b: Int) -> Int { b == 0 ? a : gcd(b, a % b) }
}
