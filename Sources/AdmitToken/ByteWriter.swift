#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes JSON text into memory the caller sized: the signer's payload, without the
/// growth checks of an array. Every write stays inside `capacity` (checked), so a
/// wrong size bound stops the program rather than writing past the buffer.
struct ByteWriter {
    private let base: UnsafeMutableRawPointer
    private let capacity: Int
    private(set) var count = 0

    init(_ buffer: UnsafeMutableRawBufferPointer) {
        base = buffer.baseAddress!
        capacity = buffer.count
    }

    /// The bytes written so far.
    var written: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        precondition(count < capacity)
        base.storeBytes(of: byte, toByteOffset: count, as: UInt8.self)
        count += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count <= capacity - count)
        if let source = bytes.baseAddress { (base + count).copyMemory(from: source, byteCount: bytes.count) }
        count += bytes.count
    }

    @inline(__always)
    mutating func append(_ text: StaticString) {
        append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// The most bytes `appendQuoted` writes for a string of `utf8Count` bytes: each byte
    /// may become a six-byte `\u00XX` escape, plus the quotes.
    static func quotedCapacity(_ utf8Count: Int) -> Int { 6 * utf8Count + 2 }

    /// A JSON string literal. Text without quotes, backslashes or control characters, the
    /// usual case, is copied in one move after an eight-bytes-at-a-time scan.
    mutating func appendQuoted(_ text: String) {
        var text = text
        text.withUTF8 { utf8 in
            let bytes = UnsafeRawBufferPointer(utf8)
            append(UInt8(ascii: "\""))
            if Self.needsEscaping(bytes) {
                for byte in bytes { appendEscaped(byte) }
            } else {
                append(bytes)
            }
            append(UInt8(ascii: "\""))
        }
    }

    private static let hex: StaticString = "0123456789abcdef"

    private mutating func appendEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): append(UInt8(ascii: "\\")); append(byte)
        case 0x0A: append("\\n")
        case 0x0D: append("\\r")
        case 0x09: append("\\t")
        case 0..<0x20:
            append("\\u00")
            append(Self.hex.utf8Start[Int(byte >> 4)])
            append(Self.hex.utf8Start[Int(byte & 15)])
        default: append(byte)
        }
    }

    /// Whether any byte is a quote, a backslash or a control character.
    private static func needsEscaping(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var index = 0
        while index + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            // A byte's high bit is set in `flags` when the byte is below 0x20, or equals 0x22 or 0x5C
            // (each test is exact for bytes below 0x80; bytes at or above 0x80 are masked out).
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let flags = ((word &- ones &* 0x20) | (quote &- ones) | (backslash &- ones)) & ~word & highs
            if flags != 0 { return true }
            index += 8
        }
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C { return true }
            index += 1
        }
        return false
    }

    /// An integer's decimal digits.
    mutating func appendInteger(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { buffer in
            var start = buffer.count
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
            } while magnitude > 0
            append(UnsafeRawBufferPointer(rebasing: buffer[start...]))
        }
    }
}
