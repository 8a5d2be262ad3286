/// Strict base64url (RFC 4648 section 5) without padding, as JWS compact serialization requires.
///
/// Decoding refuses padding, characters outside the alphabet, impossible lengths and
/// non-zero trailing bits, so that exactly one text encodes each byte string: a token
/// cannot be altered without changing its bytes.
enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Decoding tables, one per position in a group of four characters: entry `256 * p + c`
    /// is character `c`'s six bits already shifted to position `p` of the group's 24 bits,
    /// or `invalid` for a byte outside the alphabet. A group is four lookups and three ORs.
    /// Built once and never freed, like the tables of a C codec.
    private nonisolated(unsafe) static let decodeTable: UnsafePointer<UInt32> = {
        let table = UnsafeMutablePointer<UInt32>.allocate(capacity: 1024)
        table.initialize(repeating: invalid, count: 1024)
        for (value, char) in alphabet.enumerated() {
            for position in 0..<4 {
                table[256 * position + Int(char)] = UInt32(value) << (18 - 6 * position)
            }
        }
        return UnsafePointer(table)
    }()

    /// Set in a decoded group when any of its characters is outside the alphabet.
    private static let invalid: UInt32 = 0xFF00_0000

    /// Encoding table: entry `v` holds the two characters for the twelve bits `v`, first
    /// character in the low byte. Three input bytes are two lookups and one 4-byte store.
    private nonisolated(unsafe) static let encodeTable: UnsafePointer<UInt16> = {
        let table = UnsafeMutablePointer<UInt16>.allocate(capacity: 4096)
        for value in 0..<4096 {
            table[value] = UInt16(alphabet[value >> 6]) | UInt16(alphabet[value & 63]) << 8
        }
        return UnsafePointer(table)
    }()

    /// The number of bytes `count` encoded characters hold, or nil when no encoding has that length.
    static func decodedCount(_ count: Int) -> Int? {
        count % 4 == 1 ? nil : count / 4 * 3 + max(0, count % 4 - 1)
    }

    /// Number of characters the encoding of `count` bytes takes.
    static func encodedCount(_ count: Int) -> Int {
        count / 3 * 4 + (count % 3 == 0 ? 0 : count % 3 + 1)
    }

    /// The 24 bits of the group of four characters at `offset`, with `invalid` bits set when one is not base64url.
    @inline(__always)
    private static func group(_ input: UnsafeRawBufferPointer, at offset: Int, _ table: UnsafePointer<UInt32>) -> UInt32 {
        table[Int(input[offset])] | table[256 + Int(input[offset + 1])]
            | table[512 + Int(input[offset + 2])] | table[768 + Int(input[offset + 3])]
    }

    /// Decodes `input` into `output`, which must hold `decodedCount(input.count)` bytes.
    /// Returns false when `input` is not canonical base64url. Extra room in `output` lets
    /// the loop store four bytes per group of three; bytes past the decoded count are
    /// then overwritten.
    static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard let expected = decodedCount(input.count), output.count >= expected else { return false }
        let table = decodeTable
        var bad: UInt32 = 0
        var inIndex = 0
        var outIndex = 0
        let whole = input.count / 4 * 4
        // Two groups at a time, six bytes stored as one eight-byte word; plain pointers keep
        // the loop to the lookups.
        if let source = input.baseAddress, let target = output.baseAddress, whole >= 8, output.count >= 8 {
            let pairs = min((whole - 8) / 8, (output.count - 8) / 6) + 1
            var from = source.assumingMemoryBound(to: UInt8.self)
            var to = target
            for _ in 0..<pairs {
                let first = table[Int(from[0])] | table[256 &+ Int(from[1])] | table[512 &+ Int(from[2])] | table[768 &+ Int(from[3])]
                let second = table[Int(from[4])] | table[256 &+ Int(from[5])] | table[512 &+ Int(from[6])] | table[768 &+ Int(from[7])]
                bad |= first | second
                let bits = UInt64(first) << 24 | UInt64(second)
                to.storeBytes(of: (bits.byteSwapped >> 16).littleEndian, as: UInt64.self)
                from += 8
                to += 6
            }
            inIndex = pairs * 8
            outIndex = pairs * 6
        }
        // Groups whose four-byte store fits in `output`.
        while inIndex < whole, outIndex + 4 <= output.count {
            let bits = group(input, at: inIndex, table)
            bad |= bits
            output.storeBytes(of: (bits.byteSwapped >> 8).littleEndian, toByteOffset: outIndex, as: UInt32.self)
            inIndex += 4
            outIndex += 3
        }
        while inIndex < whole {
            let bits = group(input, at: inIndex, table)
            bad |= bits
            output[outIndex] = UInt8(truncatingIfNeeded: bits >> 16)
            output[outIndex + 1] = UInt8(truncatingIfNeeded: bits >> 8)
            output[outIndex + 2] = UInt8(truncatingIfNeeded: bits)
            inIndex += 4
            outIndex += 3
        }
        switch input.count - whole {
        case 2:
            let bits = table[Int(input[inIndex])] | table[256 + Int(input[inIndex + 1])]
            // The second character's low four bits fall outside the one byte: they must be zero.
            bad |= bits | (bits & 0xF000 == 0 ? 0 : invalid)
            output[outIndex] = UInt8(truncatingIfNeeded: bits >> 16)
        case 3:
            let bits = table[Int(input[inIndex])] | table[256 + Int(input[inIndex + 1])] | table[512 + Int(input[inIndex + 2])]
            bad |= bits | (bits & 0x00C0 == 0 ? 0 : invalid)
            output[outIndex] = UInt8(truncatingIfNeeded: bits >> 16)
            output[outIndex + 1] = UInt8(truncatingIfNeeded: bits >> 8)
        default:
            break
        }
        return bad & invalid == 0
    }

    /// Decodes into a new array, or nil when `input` is not canonical base64url.
    static func decode(_ input: some Collection<UInt8>) -> [UInt8]? {
        let bytes = Array(input)
        guard let count = decodedCount(bytes.count) else { return nil }
        var output = [UInt8](repeating: 0, count: count)
        let ok = bytes.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { decode(source, into: $0) }
        }
        return ok ? output : nil
    }

    /// Writes the encoding of `input` at the start of `output`, which must hold `encodedCount(input.count)` bytes.
    static func encode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count >= encodedCount(input.count))
        let table = encodeTable
        var index = 0
        var out = 0
        while index + 3 <= input.count {
            let value = Int(input[index]) << 16 | Int(input[index + 1]) << 8 | Int(input[index + 2])
            let chars = UInt32(table[value >> 12]) | UInt32(table[value & 0xFFF]) << 16
            output.storeBytes(of: chars.littleEndian, toByteOffset: out, as: UInt32.self)
            index += 3
            out += 4
        }
        switch input.count - index {
        case 1:
            let pair = table[Int(input[index]) << 4]
            output[out] = UInt8(truncatingIfNeeded: pair)
            output[out + 1] = UInt8(truncatingIfNeeded: pair >> 8)
        case 2:
            let value = Int(input[index]) << 10 | Int(input[index + 1]) << 2
            let pair = table[value >> 6]
            output[out] = UInt8(truncatingIfNeeded: pair)
            output[out + 1] = UInt8(truncatingIfNeeded: pair >> 8)
            output[out + 2] = alphabet[value & 63]
        default:
            break
        }
    }

    /// The encoding of `bytes` as a string.
    static func encode(_ bytes: some Collection<UInt8>) -> String {
        let input = Array(bytes)
        return String(unsafeUninitializedCapacity: encodedCount(input.count)) { buffer in
            input.withUnsafeBytes { encode($0, into: UnsafeMutableRawBufferPointer(buffer)) }
            return encodedCount(input.count)
        }
    }
}
