/// A JSON value that keeps object member order and each number's original text,
/// so `admit token inspect` shows a token's header and claims as they were written.
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The number's text as it appeared (already checked against the JSON grammar).
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([JSONMember])

    /// The member named `key` of an object, if any.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    /// The value as a number, when it is one.
    public var doubleValue: Double? {
        guard case .number(let text) = self else { return nil }
        return Double(text)
    }

    /// The value as a whole number of magnitude below 10^15 (so exact in a `Double` and an
    /// `Int`), when it is one: never traps, whatever the text (1e300, -0.5, 1e-400).
    public var integerValue: Int? {
        guard let number = doubleValue, abs(number) < 1e15 else { return nil }
        return Int(exactly: number)
    }

    /// The value as a string, when it is one.
    public var stringValue: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }

    /// Compact JSON text.
    /// Written as bytes into one buffer sized beforehand, then made a `String` once: every
    /// `/rtc` event is made here, and appending to a `String` piece by piece cost a join more
    /// than the rest of its event.
    public var jsonText: String {
        withUnsafeTemporaryAllocation(byteCount: compactCapacity, alignment: 1) { buffer in
            var writer = ByteWriter(buffer)
            writeCompact(to: &writer)
            return String(decoding: writer.written, as: UTF8.self)
        }
    }

    /// `text` as a JSON string literal (escaped as `jsonText` escapes), appended to `bytes`.
    package static func appendQuoted(_ text: String, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(byteCount: ByteWriter.quotedCapacity(text.utf8.count), alignment: 1) { buffer in
            var writer = ByteWriter(buffer)
            writer.appendQuoted(text)
            bytes.append(contentsOf: writer.written)
        }
    }

    /// The most bytes `writeCompact` writes (strings as if every byte were escaped).
    private var compactCapacity: Int {
        switch self {
        case .null, .bool: 5
        case .number(let text): text.utf8.count
        case .string(let text): ByteWriter.quotedCapacity(text.utf8.count)
        case .array(let items): items.reduce(2 + items.count) { $0 + $1.compactCapacity }
        case .object(let members):
            members.reduce(2 + 2 * members.count) { $0 + ByteWriter.quotedCapacity($1.key.utf8.count) + $1.value.compactCapacity }
        }
    }

    private func writeCompact(to writer: inout ByteWriter) {
        switch self {
        case .null: writer.append("null")
        case .bool(let value): writer.append(value ? "true" : "false")
        case .number(var text): text.withUTF8 { writer.append(UnsafeRawBufferPointer($0)) }
        case .string(let text): writer.appendQuoted(text)
        case .array(let items):
            writer.append(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { writer.append(UInt8(ascii: ",")) }
                item.writeCompact(to: &writer)
            }
            writer.append(UInt8(ascii: "]"))
        case .object(let members):
            writer.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { writer.append(UInt8(ascii: ",")) }
                writer.appendQuoted(member.key)
                writer.append(UInt8(ascii: ":"))
                member.value.writeCompact(to: &writer)
            }
            writer.append(UInt8(ascii: "}"))
        }
    }

    /// JSON text with two-space indentation, for people to read.
    public var prettyText: String {
        var out = ""
        write(to: &out, indent: "  ", level: 0)
        return out
    }

    private func write(to out: inout String, indent: String, level: Int) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): JSONWriter.appendQuoted(text, to: &out)
        case .array(let items):
            writeContainer(open: "[", close: "]", count: items.count, to: &out, indent: indent, level: level) { index, out in
                items[index].write(to: &out, indent: indent, level: level + 1)
            }
        case .object(let members):
            writeContainer(open: "{", close: "}", count: members.count, to: &out, indent: indent, level: level) { index, out in
                JSONWriter.appendQuoted(members[index].key, to: &out)
                out += ": "
                members[index].value.write(to: &out, indent: indent, level: level + 1)
            }
        }
    }

    private func writeContainer(
        open: String, close: String, count: Int, to out: inout String, indent: String, level: Int,
        item: (Int, inout String) -> Void
    ) {
        out += open
        guard count > 0 else { return out += close }
        for index in 0..<count {
            if index > 0 { out += "," }
            out += "\n" + String(repeating: indent, count: level + 1)
            item(index, &out)
        }
        out += "\n" + String(repeating: indent, count: level)
        out += close
    }
}

/// One member of a JSON object.
public struct JSONMember: Sendable, Equatable {
    public var key: String
    public var value: JSONValue

    public init(_ key: String, _ value: JSONValue) {
        self.key = key
        self.value = value
    }
}

extension JSONValue {
    /// Parses strict JSON (RFC 8259): UTF-8, no trailing text, nesting at most `JSONScanner.maxDepth`.
    public init(parsing text: String) throws(JSONError) {
        var copy = text
        let result: Result<JSONValue, JSONError> = copy.withUTF8 { utf8 in
            var scanner = JSONScanner(UnsafeRawBufferPointer(utf8))
            return Result { () throws(JSONError) in try scanner.readDocument() }
        }
        self = try result.get()
    }

    /// Parses strict JSON from bytes.
    init(parsing bytes: UnsafeRawBufferPointer) throws(JSONError) {
        var scanner = JSONScanner(bytes)
        self = try scanner.readDocument()
    }
}

/// Why a text is not the JSON expected, with the byte offset where that was found.
public struct JSONError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let offset: Int
    public var description: String { "\(message) at byte \(offset)" }
}

/// JSON text helpers for `JSONValue`; the escaping itself is `ByteWriter.appendQuoted`.
enum JSONWriter {
    static func appendQuoted(_ text: String, to out: inout String) {
        withUnsafeTemporaryAllocation(byteCount: ByteWriter.quotedCapacity(text.utf8.count), alignment: 1) { buffer in
            var writer = ByteWriter(buffer)
            writer.appendQuoted(text)
            out += String(decoding: writer.written, as: UTF8.self)
        }
    }

    /// A NumericDate as JSON: whole seconds without a fraction, as the contract wants.
    static func numericDate(_ seconds: Double) -> String {
        if seconds == seconds.rounded(), abs(seconds) < 9e15 { return String(Int64(seconds)) }
        return String(seconds)
    }
}
