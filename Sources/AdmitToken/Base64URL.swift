/// Strict base64url (RFC 4648 section 5) without padding, as JWS compact serialization requires.
///
/// Decoding refuses padding, characters outside the alphabet, impossible lengths and
/// non-zero trailing bits, so that exactly one text encodes each byte string: a token
/// cannot be altered without changing its bytes.
enum Base64URL {
    private static let alphabet: [UInt8] = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// 0xFF marks a byte outside the alphabet.
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    /// The number of bytes `count` encoded characters hold, or nil when no encoding has that length.
    static func decodedCount(_ count: Int) -> Int? {
        count % 4 == 1 ? nil : count / 4 * 3 + max(0, count % 4 - 1)
    }

    /// Number of characters the encoding of `count` bytes takes.
    static func encodedCount(_ count: Int) -> Int {
        count / 3 * 4 + (count % 3 == 0 ? 0 : count % 3 + 1)
    }

    /// Decodes `input` into `output`, which must hold `decodedCount(input.count)` bytes.
    /// Returns false when `input` is not canonical base64url.
    static func decode(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Bool {
        guard let expected = decodedCount(input.count), output.count >= expected else { return false }
        return reverse.withUnsafeBufferPointer { table in
            var bad: UInt8 = 0
            var inIndex = 0
            var outIndex = 0
            let whole = input.count / 4 * 4
            while inIndex < whole {
                let a = table[Int(input[inIndex])], b = table[Int(input[inIndex + 1])]
                let c = table[Int(input[inIndex + 2])], d = table[Int(input[inIndex + 3])]
                bad |= (a | b | c | d) & 0xC0
                output[outIndex] = a << 2 | b >> 4
                output[outIndex + 1] = b << 4 | c >> 2
                output[outIndex + 2] = c << 6 | d
                inIndex += 4
                outIndex += 3
            }
            switch input.count - whole {
            case 2:
                let a = table[Int(input[inIndex])], b = table[Int(input[inIndex + 1])]
                bad |= (a | b) & 0xC0
                bad |= b & 0x0F  // trailing bits must be zero
                output[outIndex] = a << 2 | b >> 4
            case 3:
                let a = table[Int(input[inIndex])], b = table[Int(input[inIndex + 1])]
                let c = table[Int(input[inIndex + 2])]
                bad |= (a | b | c) & 0xC0
                bad |= c & 0x03
                output[outIndex] = a << 2 | b >> 4
                output[outIndex + 1] = b << 4 | c >> 2
            default:
                break
            }
            return bad == 0
        }
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
        alphabet.withUnsafeBufferPointer { table in
            var index = 0
            var out = 0
            while index + 3 <= input.count {
                let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8 | UInt32(input[index + 2])
                output[out] = table[Int(value >> 18 & 63)]
                output[out + 1] = table[Int(value >> 12 & 63)]
                output[out + 2] = table[Int(value >> 6 & 63)]
                output[out + 3] = table[Int(value & 63)]
                index += 3
                out += 4
            }
            switch input.count - index {
            case 1:
                let value = UInt32(input[index]) << 16
                output[out] = table[Int(value >> 18 & 63)]
                output[out + 1] = table[Int(value >> 12 & 63)]
            case 2:
                let value = UInt32(input[index]) << 16 | UInt32(input[index + 1]) << 8
                output[out] = table[Int(value >> 18 & 63)]
                output[out + 1] = table[Int(value >> 12 & 63)]
                output[out + 2] = table[Int(value >> 6 & 63)]
            default:
                break
            }
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
