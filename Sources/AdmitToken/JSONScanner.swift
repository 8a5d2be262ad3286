/// A strict, allocation-light JSON reader over bytes (RFC 8259).
///
/// The claims decoder walks objects with it without building values; `JSONValue`
/// uses it to build a whole tree. Strings must be valid UTF-8 without raw control
/// characters, surrogate escapes must pair, and nesting is bounded.
struct JSONScanner {
    /// Deepest nesting accepted; tokens have no reason to nest at all.
    static let maxDepth = 32

    let bytes: UnsafeRawBufferPointer
    var index = 0

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    /// A string's raw span between its quotes, and whether it holds escapes.
    struct StringSpan {
        var start: Int
        var end: Int
        var hasEscapes: Bool
    }

    func error(_ message: String) -> JSONError {
        JSONError(message: message, offset: index)
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    /// The next non-whitespace byte, not consumed.
    @inline(__always)
    mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    @inline(__always)
    mutating func consume(_ byte: UInt8) -> Bool {
        if peek() == byte {
            index += 1
            return true
        }
        return false
    }

    @inline(__always)
    mutating func expect(_ byte: UInt8, _ what: String) throws(JSONError) {
        guard consume(byte) else { throw error("expected \(what)") }
    }

    /// Checks that only whitespace follows.
    mutating func expectEnd(_ what: String) throws(JSONError) {
        guard peek() == nil else { throw error("unexpected text after \(what)") }
    }

    /// Reads a number's value. Integers of up to 15 digits, the NumericDates of real
    /// tokens, are computed while the grammar is checked.
    mutating func readNumber() throws(JSONError) -> Double {
        skipWhitespace()
        let start = index
        var value: Int64 = 0
        var digits = 0
        var negative = false
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") {
            negative = true
            index += 1
        }
        // Eight digits in one step (SWAR), as NumericDates have ten.
        if index + 8 <= bytes.count, case let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self).littleEndian,
            (word & 0xF0F0_F0F0_F0F0_F0F0) | ((word &+ 0x0606_0606_0606_0606) & 0xF0F0_F0F0_F0F0_F0F0) >> 4
                == 0x3333_3333_3333_3333
        {
            // Pairs, then fours, then all eight: the first byte is the most significant digit.
            var digitsValue = ((word & 0x0F0F_0F0F_0F0F_0F0F) &* 2561) >> 8
            digitsValue = ((digitsValue & 0x00FF_00FF_00FF_00FF) &* 6_553_601) >> 16
            digitsValue = ((digitsValue & 0x0000_FFFF_0000_FFFF) &* 42_949_672_960_001) >> 32
            value = Int64(digitsValue)
            digits = 8
            index += 8
        }
        while index < bytes.count, case let digit = bytes[index] &- 0x30, digit < 10 {
            if digits < 15 { value = value &* 10 &+ Int64(digit) }
            digits += 1
            index += 1
        }
        if digits > 0, digits <= 15, !(digits > 1 && bytes[negative ? start + 1 : start] == 0x30) {
            let next = index < bytes.count ? bytes[index] : 0
            if next != UInt8(ascii: "."), next | 0x20 != UInt8(ascii: "e") {
                return Double(negative ? -value : value)
            }
        }
        index = start
        return double(try readNumberSpan())
    }

    /// Reads one whole document and checks nothing follows it.
    mutating func readDocument() throws(JSONError) -> JSONValue {
        let value = try readValue(depth: 0)
        guard peek() == nil else { throw error("unexpected text after the JSON value") }
        return value
    }

    /// Walks the members of an object, calling `member` with each key's span; `member`
    /// must consume the value. The scanner stands before the `{`.
    mutating func readObject(
        depth: Int, _ member: (inout JSONScanner, StringSpan) throws(JSONError) -> Void
    ) throws(JSONError) {
        guard depth < Self.maxDepth else { throw error("nesting is too deep") }
        try expect(UInt8(ascii: "{"), "an object")
        if consume(UInt8(ascii: "}")) { return }
        repeat {
            guard peek() == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let key = try readStringSpan()
            try expect(UInt8(ascii: ":"), "':'")
            try member(&self, key)
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "}"), "',' or '}'")
    }

    /// Walks the elements of an array; `element` must consume each one.
    mutating func readArray(
        depth: Int, _ element: (inout JSONScanner) throws(JSONError) -> Void
    ) throws(JSONError) {
        guard depth < Self.maxDepth else { throw error("nesting is too deep") }
        try expect(UInt8(ascii: "["), "an array")
        if consume(UInt8(ascii: "]")) { return }
        repeat {
            try element(&self)
        } while consume(UInt8(ascii: ","))
        try expect(UInt8(ascii: "]"), "',' or ']'")
    }

    /// Offset of the first byte at or after `from` that a string scan must look at: a quote,
    /// a backslash, a control character or a non-ASCII byte; `count` when there is none.
    /// Eight bytes at a time (SWAR): the lowest flagged byte of a word is always a true one.
    @inline(__always)
    private func nextSpecial(from: Int) -> Int {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        var i = from
        while i + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self).littleEndian
            let quote = word ^ (ones &* 0x22)
            let backslash = word ^ (ones &* 0x5C)
            let flags = ((word &- ones &* 0x20) | (quote &- ones) | (backslash &- ones)) & ~word & highs | word & highs
            if flags != 0 { return i + flags.trailingZeroBitCount / 8 }
            i += 8
        }
        while i < bytes.count {
            let byte = bytes[i]
            if byte < 0x20 || byte == 0x22 || byte == 0x5C || byte >= 0x80 { return i }
            i += 1
        }
        return i
    }

    /// Reads a string literal and returns its span, validating escapes and UTF-8.
    mutating func readStringSpan() throws(JSONError) -> StringSpan {
        try expect(UInt8(ascii: "\""), "a string")
        let start = index
        var hasEscapes = false
        var ascii = true
        var i = start
        while true {
            i = nextSpecial(from: i)
            guard i < bytes.count else { throw JSONError(message: "unterminated string", offset: start) }
            let byte = bytes[i]
            if byte == 0x22 { break }
            if byte == 0x5C {
                hasEscapes = true
                i += 2
            } else if byte < 0x20 {
                index = i
                throw error("control character in a string")
            } else {
                ascii = false
                i += 1
            }
        }
        index = i + 1
        let span = StringSpan(start: start, end: i, hasEscapes: hasEscapes)
        if !ascii, !hasEscapes, String(validating: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self) == nil {
            throw JSONError(message: "string is not valid UTF-8", offset: start)
        }
        if hasEscapes { _ = try decode(span) }
        return span
    }

    /// The text of a string span, escapes resolved.
    func decode(_ span: StringSpan) throws(JSONError) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: bytes[span.start..<span.end])
        if !span.hasEscapes { return String(unsafeUninitializedCapacity: raw.count) { $0.initialize(fromContentsOf: raw) } }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func fail(_ message: String) -> JSONError { JSONError(message: message, offset: span.start + i) }
        func hex4(_ at: Int) -> UInt32? {
            guard at + 4 <= raw.count else { return nil }
            var value: UInt32 = 0
            for byte in raw[at..<at + 4] {
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = value << 4 | UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): value = value << 4 | UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): value = value << 4 | UInt32(byte - UInt8(ascii: "A") + 10)
                default: return nil
                }
            }
            return value
        }
        while i < raw.count {
            let byte = raw[i]
            guard byte == UInt8(ascii: "\\") else {
                out.append(byte)
                i += 1
                continue
            }
            guard i + 1 < raw.count else { throw fail("bad escape") }
            switch raw[i + 1] {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(i + 2) else { throw fail("bad \\u escape") }
                if (0xD800..<0xDC00).contains(scalar) {
                    guard i + 12 <= raw.count, raw[i + 6] == UInt8(ascii: "\\"), raw[i + 7] == UInt8(ascii: "u"),
                        let low = hex4(i + 8), (0xDC00..<0xE000).contains(low)
                    else { throw fail("unpaired surrogate") }
                    scalar = 0x10000 + (scalar - 0xD800) << 10 + (low - 0xDC00)
                    i += 6
                } else if (0xDC00..<0xE000).contains(scalar) {
                    throw fail("unpaired surrogate")
                }
                out.append(contentsOf: String(Character(Unicode.Scalar(scalar)!)).utf8)
                i += 4
            default:
                throw fail("bad escape")
            }
            i += 2
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return text
    }

    /// Reads a string literal's text.
    mutating func readString() throws(JSONError) -> String {
        try decode(readStringSpan())
    }

    /// Reads a number, checking the JSON grammar, and returns its text span.
    mutating func readNumberSpan() throws(JSONError) -> Range<Int> {
        skipWhitespace()
        let start = index
        func digits(_ scanner: inout JSONScanner) -> Int {
            let from = scanner.index
            while scanner.index < scanner.bytes.count, (0x30...0x39).contains(scanner.bytes[scanner.index]) { scanner.index += 1 }
            return scanner.index - from
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, (0x30...0x39).contains(bytes[index]) else { throw error("bad number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            _ = digits(&self)
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw error("bad number") }
        }
        if index < bytes.count, bytes[index] | 0x20 == UInt8(ascii: "e") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw error("bad number") }
        }
        return start..<index
    }

    /// The value of a number span; short integers without a decimal point are read directly.
    func double(_ span: Range<Int>) -> Double {
        if span.count <= 15 {
            var value: Int64 = 0
            var negative = false
            var plain = true
            for i in span {
                let byte = bytes[i]
                if byte == UInt8(ascii: "-") {
                    negative = true
                } else if (0x30...0x39).contains(byte) {
                    value = value * 10 + Int64(byte - 0x30)
                } else {
                    plain = false
                    break
                }
            }
            if plain { return Double(negative ? -value : value) }
        }
        return Double(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[span]), as: UTF8.self)) ?? .nan
    }

    mutating func readLiteral(_ text: StaticString) throws(JSONError) {
        skipWhitespace()
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw error("unexpected end") }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] {
            throw error("unexpected character")
        }
        index += count
    }

    /// Reads any value into a tree.
    mutating func readValue(depth: Int) throws(JSONError) -> JSONValue {
        switch peek() {
        case UInt8(ascii: "{"):
            var members: [JSONMember] = []
            try readObject(depth: depth) { (scanner, key) throws(JSONError) in
                let name = try scanner.decode(key)
                members.append(JSONMember(name, try scanner.readValue(depth: depth + 1)))
            }
            return .object(members)
        case UInt8(ascii: "["):
            var items: [JSONValue] = []
            try readArray(depth: depth) { (scanner) throws(JSONError) in
                items.append(try scanner.readValue(depth: depth + 1))
            }
            return .array(items)
        case UInt8(ascii: "\""):
            return .string(try readString())
        case UInt8(ascii: "t"):
            try readLiteral("true")
            return .bool(true)
        case UInt8(ascii: "f"):
            try readLiteral("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try readLiteral("null")
            return .null
        case .some:
            let span = try readNumberSpan()
            return .number(String(decoding: UnsafeRawBufferPointer(rebasing: bytes[span]), as: UTF8.self))
        case nil:
            throw error("unexpected end")
        }
    }

    /// Reads and discards any value, with the same checks as `readValue`.
    mutating func skipValue(depth: Int) throws(JSONError) {
        switch peek() {
        case UInt8(ascii: "{"):
            try readObject(depth: depth) { (scanner, _) throws(JSONError) in try scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "["):
            try readArray(depth: depth) { (scanner) throws(JSONError) in try scanner.skipValue(depth: depth + 1) }
        case UInt8(ascii: "\""):
            _ = try readStringSpan()
        case UInt8(ascii: "t"): try readLiteral("true")
        case UInt8(ascii: "f"): try readLiteral("false")
        case UInt8(ascii: "n"): try readLiteral("null")
        case .some: _ = try readNumberSpan()
        case nil: throw error("unexpected end")
        }
    }

    /// Whether the bytes at `offset` begin with `text`. Texts of up to 16 bytes, all the
    /// names the claims decoder looks for, are compared as two overlapping words.
    @inline(__always)
    func bytes(at offset: Int, are text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard offset >= 0, count <= bytes.count - offset else { return false }
        let here = bytes.baseAddress! + offset
        let name = UnsafeRawPointer(text.utf8Start)
        func same<Word: FixedWidthInteger>(_: Word.Type, _ at: Int) -> Bool {
            here.loadUnaligned(fromByteOffset: at, as: Word.self) == name.loadUnaligned(fromByteOffset: at, as: Word.self)
        }
        switch count {
        case 8...16: return same(UInt64.self, 0) && same(UInt64.self, count - 8)
        case 4..<8: return same(UInt32.self, 0) && same(UInt32.self, count - 4)
        case 0..<4: return (0..<count).allSatisfy { here.load(fromByteOffset: $0, as: UInt8.self) == name.load(fromByteOffset: $0, as: UInt8.self) }
        default: return memcmp(here, name, count) == 0
        }
    }

    /// Whether a key span (without escapes) spells `name`.
    @inline(__always)
    func key(_ span: StringSpan, is name: StaticString) -> Bool {
        span.end - span.start == name.utf8CodeUnitCount && bytes(at: span.start, are: name)
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
