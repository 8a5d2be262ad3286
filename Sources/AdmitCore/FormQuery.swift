/// A URL query read as browsers, HTML forms and the official SDKs write it
/// (`application/x-www-form-urlencoded`): pairs split on `&`, a name from its value on the
/// first `=`, then in both `+` is a space and `%XX` a byte (so `name=Guest+One` is
/// "Guest One" and `%2B` is a plus). A `%` not followed by two hex digits stays as written;
/// bytes that are not UTF-8 become U+FFFD. Every query parameter Admit reads goes through
/// here, on the router and on the fast path alike.
public struct FormQuery: Sendable {
    private let pairs: [(name: String, value: String)]

    /// `query` is the part after `?`, without it; nil or empty is no parameter.
    public init(_ query: Substring?) {
        guard let query, !query.isEmpty else {
            pairs = []
            return
        }
        // Split on the bytes `&` and `=` (ASCII, so always on a scalar boundary), not on
        // Characters: a form's separators are bytes, and grapheme breaking a long token was a
        // tenth of a join's parse.
        var pairs: [(name: String, value: String)] = []
        let utf8 = query.utf8
        var start = utf8.startIndex
        while start != utf8.endIndex {
            let end = utf8[start...].firstIndex(of: UInt8(ascii: "&")) ?? utf8.endIndex
            if start != end {
                if let equals = utf8[start..<end].firstIndex(of: UInt8(ascii: "=")) {
                    pairs.append((Self.decoded(query[start..<equals]), Self.decoded(query[utf8.index(after: equals)..<end])))
                } else {
                    pairs.append((Self.decoded(query[start..<end]), ""))
                }
            }
            start = end == utf8.endIndex ? end : utf8.index(after: end)
        }
        self.pairs = pairs
    }

    /// The query of a request target (`/path?query`).
    public init(target: Substring) {
        self.init(target.utf8.firstIndex(of: UInt8(ascii: "?")).map { target[target.utf8.index(after: $0)...] })
    }

    /// The first value of `name`, if the query has it.
    public subscript(name: String) -> String? {
        pairs.first { $0.name == name }?.value
    }

    static func decoded(_ text: Substring) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count)
        var index = utf8.startIndex
        while index != utf8.endIndex {
            let byte = utf8[index]
            if byte == UInt8(ascii: "+") {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), let high = utf8.index(index, offsetBy: 1, limitedBy: utf8.endIndex), high != utf8.endIndex,
                let low = utf8.index(high, offsetBy: 1, limitedBy: utf8.endIndex), low != utf8.endIndex,
                let upper = hexValue(utf8[high]), let lower = hexValue(utf8[low])
            {
                bytes.append(upper << 4 | lower)
                index = low
            } else {
                bytes.append(byte)
            }
            index = utf8.index(after: index)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
