/// The state of one claim as read from the payload, before the verifier judges it.
enum Field<Value: Sendable>: Sendable {
    case absent
    case value(Value)
    /// Present with a JSON type the contract does not allow.
    case invalid

    var value: Value? {
        if case .value(let value) = self { return value }
        return nil
    }

    var isPresent: Bool {
        if case .absent = self { return false }
        return true
    }

    func map<Other>(_ transform: (Value) -> Other) -> Field<Other> {
        switch self {
        case .absent: .absent
        case .invalid: .invalid
        case .value(let value): .value(transform(value))
        }
    }
}

/// The payload's claims exactly as found, including wrong types and unknown names,
/// so that each verification step can judge its own claims and `inspect` can list
/// every problem. `null` counts as absent.
///
/// Values are decoded straight into `claims` (a claim absent or of the wrong type keeps
/// its empty default there), with two bit sets saying which claims were present and which
/// had the wrong type; the steps read them as `Field`s.
struct Payload: Sendable {
    /// The claims as decoded; those of a payload that passed every check.
    var claims = Claims(empty: ())
    /// Claims present with a value other than `null` (bit `1 << Name.rawValue`).
    private var present: UInt16 = 0
    /// Claims present with a JSON type the contract does not allow.
    private var invalid: UInt16 = 0
    var unknownPermissions: [String] = []
    var unknownRoles: [String] = []
    /// Where a deferred `apikey` string is in the decoded JSON (see `decode`).
    var apiKeyBytes: Range<Int>?

    var apiKey: Field<String> { field(.apikey, claims.apiKey) }
    var permissions: Field<Permissions> { field(.permissions, claims.permissions) }
    var version: Field<Int> { field(.version, claims.version ?? 0) }
    var roomId: Field<String> { field(.roomId, claims.roomId ?? "") }
    var participantId: Field<String> { field(.participantId, claims.participantId ?? "") }
    var roles: Field<Roles> { field(.roles, claims.roles ?? []) }
    var expiresAt: Field<Double> { field(.exp, claims.expiresAt) }
    var issuedAt: Field<Double> { field(.iat, claims.issuedAt ?? 0) }
    var notBefore: Field<Double> { field(.nbf, claims.notBefore ?? 0) }
    var jwtID: Field<String> { field(.jti, claims.jwtID ?? "") }

    /// Whether a claim that must be a string or a number at step 1 has another type.
    var hasMalformedClaim: Bool {
        let step1: UInt16 =
            1 << Name.roomId.rawValue | 1 << Name.participantId.rawValue | 1 << Name.jti.rawValue | 1 << Name.iat.rawValue
            | 1 << Name.nbf.rawValue
        return invalid & step1 != 0
    }

    @inline(__always)
    private func field<Value>(_ name: Name, _ value: @autoclosure () -> Value) -> Field<Value> {
        let bit: UInt16 = 1 << name.rawValue
        if invalid & bit != 0 { return .invalid }
        return present & bit != 0 ? .value(value()) : .absent
    }

    /// Records how claim `name` was found, and its value when it has the right type.
    @inline(__always)
    private static func record<Value>(
        _ field: Field<Value>, _ name: Name, into target: inout Value, _ present: inout UInt16, _ invalid: inout UInt16
    ) {
        let bit: UInt16 = 1 << name.rawValue
        switch field {
        case .absent: break
        case .invalid: invalid |= bit
        case .value(let value):
            present |= bit
            target = value
        }
    }

    /// `record` for a claim that `Claims` keeps as an optional.
    @inline(__always)
    private static func record<Value>(
        _ field: Field<Value>, _ name: Name, into target: inout Value?, _ present: inout UInt16, _ invalid: inout UInt16
    ) {
        record(field.map(Optional.some), name, into: &target, &present, &invalid)
    }

    private enum Name: Int {
        case apikey, permissions, version, roomId, participantId, roles, exp, iat, nbf, jti
    }

    /// The claim named by the key text at `offset` (just after its opening quote), with the
    /// name's length, when the key is written plainly: the name's bytes and the closing quote
    /// are compared directly, so the usual keys need no string scan. Nil sends the key to
    /// the full reader (escapes, unknown names).
    @inline(__always)
    private static func quickName(_ scanner: JSONScanner, at offset: Int) -> (Name, Int)? {
        guard offset < scanner.bytes.count else { return nil }
        switch scanner.bytes[offset] {
        case UInt8(ascii: "a") where scanner.bytes(at: offset, are: "apikey\""): return (.apikey, 6)
        case UInt8(ascii: "p") where scanner.bytes(at: offset, are: "permissions\""): return (.permissions, 11)
        case UInt8(ascii: "p") where scanner.bytes(at: offset, are: "participantId\""): return (.participantId, 13)
        case UInt8(ascii: "v") where scanner.bytes(at: offset, are: "version\""): return (.version, 7)
        case UInt8(ascii: "r") where scanner.bytes(at: offset, are: "roomId\""): return (.roomId, 6)
        case UInt8(ascii: "r") where scanner.bytes(at: offset, are: "roles\""): return (.roles, 5)
        case UInt8(ascii: "e") where scanner.bytes(at: offset, are: "exp\""): return (.exp, 3)
        case UInt8(ascii: "i") where scanner.bytes(at: offset, are: "iat\""): return (.iat, 3)
        case UInt8(ascii: "n") where scanner.bytes(at: offset, are: "nbf\""): return (.nbf, 3)
        case UInt8(ascii: "j") where scanner.bytes(at: offset, are: "jti\""): return (.jti, 3)
        default: return nil
        }
    }

    private static func name(_ span: JSONScanner.StringSpan, in scanner: JSONScanner) throws(JSONError) -> Name? {
        if span.hasEscapes {
            let text = try scanner.decode(span)
            let names: [String: Name] = [
                "apikey": .apikey, "permissions": .permissions, "version": .version, "roomId": .roomId,
                "participantId": .participantId, "roles": .roles, "exp": .exp, "iat": .iat, "nbf": .nbf, "jti": .jti,
            ]
            return names[text]
        }
        switch span.end - span.start {
        case 3:
            if scanner.key(span, is: "exp") { return .exp }
            if scanner.key(span, is: "iat") { return .iat }
            if scanner.key(span, is: "nbf") { return .nbf }
            if scanner.key(span, is: "jti") { return .jti }
        case 5: if scanner.key(span, is: "roles") { return .roles }
        case 6:
            if scanner.key(span, is: "apikey") { return .apikey }
            if scanner.key(span, is: "roomId") { return .roomId }
        case 7: if scanner.key(span, is: "version") { return .version }
        case 11: if scanner.key(span, is: "permissions") { return .permissions }
        case 13: if scanner.key(span, is: "participantId") { return .participantId }
        default: break
        }
        return nil
    }

    /// The payload in `bytes` (see `decode`).
    static func decoded(_ bytes: UnsafeRawBufferPointer, deferringAPIKey: Bool = false) throws(JSONError) -> Payload {
        var payload = Payload()
        try decode(bytes, into: &payload, deferringAPIKey: deferringAPIKey)
        return payload
    }

    /// Reads a payload; throws only when it is not a JSON object or names a claim twice
    /// (two values for one claim would let two parsers disagree on what was signed).
    ///
    /// With `deferringAPIKey`, an `apikey` written without escapes is not made into a string:
    /// `apiKeyBytes` locates it in `bytes`, and `claims.apiKey` stays empty until the
    /// verifier has looked the key up by those bytes.
    static func decode(_ bytes: UnsafeRawBufferPointer, into payload: inout Payload, deferringAPIKey: Bool = false) throws(JSONError) {
        var seen: UInt16 = 0
        var scanner = JSONScanner(bytes)
        guard scanner.peek() == UInt8(ascii: "{") else { throw scanner.error("the payload is not a JSON object") }
        // A straight loop rather than `readObject`'s callback: this is the hot path of every verification.
        scanner.index += 1
        if scanner.consume(UInt8(ascii: "}")) { return try scanner.expectEnd("the payload object") }
        repeat {
            guard scanner.peek() == UInt8(ascii: "\"") else { throw scanner.error("expected a member name") }
            let key: JSONScanner.StringSpan
            let found: Name?
            if let (known, length) = quickName(scanner, at: scanner.index + 1) {
                key = JSONScanner.StringSpan(start: scanner.index + 1, end: scanner.index + 1 + length, hasEscapes: false)
                scanner.index = key.end + 1
                found = known
            } else {
                key = try scanner.readStringSpan()
                found = try name(key, in: scanner)
            }
            // The colon usually follows the name directly.
            if scanner.index < bytes.count, bytes[scanner.index] == UInt8(ascii: ":") {
                scanner.index += 1
            } else {
                try scanner.expect(UInt8(ascii: ":"), "':'")
            }
            guard let name = found else {
                try scanner.skipValue(depth: 1)
                continue
            }
            let bit: UInt16 = 1 << name.rawValue
            guard seen & bit == 0 else { throw JSONError(message: "claim '\(try scanner.decode(key))' appears twice", offset: key.start) }
            seen |= bit
            let next = scanner.peek()
            switch name {
            case .apikey, .roomId, .participantId, .jti:
                guard next == UInt8(ascii: "\"") else {
                    try readOther(&scanner, bit, &payload.invalid)
                    continue
                }
                let span = try scanner.readStringSpan()
                payload.present |= bit
                switch name {
                case .apikey where deferringAPIKey && !span.hasEscapes: payload.apiKeyBytes = span.start..<span.end
                case .apikey: payload.claims.apiKey = try scanner.decode(span)
                case .roomId: payload.claims.roomId = try scanner.decode(span)
                case .participantId: payload.claims.participantId = try scanner.decode(span)
                default: payload.claims.jwtID = try scanner.decode(span)
                }
            case .exp, .iat, .nbf:
                guard let next, next == UInt8(ascii: "-") || next &- UInt8(ascii: "0") < 10 else {
                    try readOther(&scanner, bit, &payload.invalid)
                    continue
                }
                let value = try scanner.readNumber()
                guard value.isFinite else {
                    payload.invalid |= bit
                    continue
                }
                payload.present |= bit
                switch name {
                case .exp: payload.claims.expiresAt = value
                case .iat: payload.claims.issuedAt = value
                default: payload.claims.notBefore = value
                }
            case .version: record(try readVersion(&scanner), name, into: &payload.claims.version, &payload.present, &payload.invalid)
            case .permissions:
                let field = try readNames(&scanner, unknown: &payload.unknownPermissions) as Field<Permissions>
                record(field, name, into: &payload.claims.permissions, &payload.present, &payload.invalid)
            case .roles:
                let field = try readNames(&scanner, unknown: &payload.unknownRoles) as Field<Roles>
                record(field, name, into: &payload.claims.roles, &payload.present, &payload.invalid)
            }
        } while scanner.consume(UInt8(ascii: ","))
        try scanner.expect(UInt8(ascii: "}"), "',' or '}'")
        try scanner.expectEnd("the payload object")
    }

    /// A claim's value that is not of its type: `null` leaves it absent, anything else makes it invalid.
    private static func readOther(_ scanner: inout JSONScanner, _ bit: UInt16, _ invalid: inout UInt16) throws(JSONError) {
        if scanner.peek() == UInt8(ascii: "n") {
            try scanner.readLiteral("null")
        } else {
            try scanner.skipValue(depth: 1)
            invalid |= bit
        }
    }

    private static func readNumber(_ scanner: inout JSONScanner) throws(JSONError) -> Field<Double> {
        switch scanner.peek() {
        case .some(UInt8(ascii: "-")), .some(UInt8(ascii: "0")...UInt8(ascii: "9")):
            let value = try scanner.readNumber()
            return value.isFinite ? .value(value) : .invalid
        case UInt8(ascii: "n"): try scanner.readLiteral("null"); return .absent
        default: try scanner.skipValue(depth: 1); return .invalid
        }
    }

    /// `version` is the number 2 or the string "2"; other integers are kept so the
    /// verifier can say which version it found.
    private static func readVersion(_ scanner: inout JSONScanner) throws(JSONError) -> Field<Int> {
        switch scanner.peek() {
        case UInt8(ascii: "\""):
            let text = try scanner.readString()
            guard let number = Int(text), String(number) == text else { return .invalid }
            return .value(number)
        case UInt8(ascii: "n"):
            try scanner.readLiteral("null")
            return .absent
        case let digit? where digit &- UInt8(ascii: "1") < 9:
            // A single digit, as every version so far: no number parsing.
            let after = scanner.index + 1
            if after < scanner.bytes.count, case let next = scanner.bytes[after],
                next == UInt8(ascii: ",") || next == UInt8(ascii: "}")
            {
                scanner.index = after
                return .value(Int(digit &- UInt8(ascii: "0")))
            }
            return try readVersionNumber(&scanner)
        default:
            return try readVersionNumber(&scanner)
        }
    }

    private static func readVersionNumber(_ scanner: inout JSONScanner) throws(JSONError) -> Field<Int> {
        guard case .value(let number) = try readNumber(&scanner), number == number.rounded(), abs(number) < 1e9 else { return .invalid }
        return .value(Int(number))
    }

    /// An array of names; unknown names are collected, a non-string element makes it invalid.
    /// Known names are matched on their bytes, without making strings.
    private static func readNames<Set: QuickNamedSet>(_ scanner: inout JSONScanner, unknown: inout [String]) throws(JSONError) -> Field<Set> {
        switch scanner.peek() {
        case UInt8(ascii: "["):
            var set = Set()
            var allStrings = true
            scanner.index += 1
            if scanner.consume(UInt8(ascii: "]")) { return .value(set) }
            repeat {
                guard scanner.peek() == UInt8(ascii: "\"") else {
                    allStrings = false
                    try scanner.skipValue(depth: 2)
                    continue
                }
                if let (member, length) = Set.quickName(scanner, at: scanner.index + 1) {
                    set.formUnion(member)
                    scanner.index += length + 2
                    continue
                }
                let span = try scanner.readStringSpan()
                if !span.hasEscapes, let match = Set.wireNames.first(where: { scanner.key(span, is: $0.name) }) {
                    set.formUnion(match.value)
                    continue
                }
                let name = try scanner.decode(span)
                if let match = Set.wireNames.first(where: { $0.name.description == name }) {
                    set.formUnion(match.value)
                } else {
                    unknown.append(name)
                }
            } while scanner.consume(UInt8(ascii: ","))
            try scanner.expect(UInt8(ascii: "]"), "',' or ']'")
            return allStrings ? .value(set) : .invalid
        case UInt8(ascii: "n"):
            try scanner.readLiteral("null")
            return .absent
        default:
            try scanner.skipValue(depth: 1)
            return .invalid
        }
    }
}

/// A set whose known names the claims decoder matches on their bytes, name and closing
/// quote together, before reading a string the general way.
protocol QuickNamedSet: OptionSet where Element == Self {
    /// The member named by the text at `offset` (after an opening quote) and the name's
    /// length, when the text is a known name written plainly and closed by a quote.
    static func quickName(_ scanner: JSONScanner, at offset: Int) -> (Self, Int)?
    /// Every known name with its member, in the contract's order.
    static var wireNames: [(name: StaticString, value: Self)] { get }
}

extension Permissions: QuickNamedSet {
    @inline(__always)
    static func quickName(_ scanner: JSONScanner, at offset: Int) -> (Permissions, Int)? {
        if scanner.bytes(at: offset, are: "allow_join\"") { return (.allowJoin, 10) }
        if scanner.bytes(at: offset, are: "ask_join\"") { return (.askJoin, 8) }
        if scanner.bytes(at: offset, are: "allow_mod\"") { return (.allowMod, 9) }
        return nil
    }
}

extension Roles: QuickNamedSet {
    @inline(__always)
    static func quickName(_ scanner: JSONScanner, at offset: Int) -> (Roles, Int)? {
        if scanner.bytes(at: offset, are: "crawler\"") { return (.crawler, 7) }
        if scanner.bytes(at: offset, are: "rtc\"") { return (.rtc, 3) }
        return nil
    }
}

/// What the verifier needs from the JOSE header: the algorithm and whether `crit` is there.
struct Header: Sendable {
    var algorithm: String?
    var hasCrit = false

    /// `{"alg":"HS256","typ":"JWT"}` in the two member orders common libraries write.
    private static let common: [[UInt8]] = [
        Array("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9".utf8),
        Array("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9".utf8),
    ]

    /// Reads a header from its base64url segment; the two common encodings skip the JSON work.
    static func decode(segment: UnsafeRawBufferPointer) throws(JSONError) -> Header {
        for known in common where known.count == segment.count {
            if known.withUnsafeBytes({ memcmp($0.baseAddress!, segment.baseAddress!, known.count) }) == 0 {
                return Header(algorithm: "HS256")
            }
        }
        guard let bytes = Base64URL.decode(segment) else { throw JSONError(message: "the header is not base64url", offset: 0) }
        let result = bytes.withUnsafeBytes { json in Result { () throws(JSONError) in try decode(json: json) } }
        return try result.get()
    }

    static func decode(json: UnsafeRawBufferPointer) throws(JSONError) -> Header {
        var header = Header()
        var scanner = JSONScanner(json)
        var seenAlg = false
        guard scanner.peek() == UInt8(ascii: "{") else { throw scanner.error("the header is not a JSON object") }
        try scanner.readObject(depth: 0) { (scanner, key) throws(JSONError) in
            let name = try scanner.decode(key)
            switch name {
            case "alg":
                guard !seenAlg else { throw JSONError(message: "header 'alg' appears twice", offset: key.start) }
                seenAlg = true
                if scanner.peek() == UInt8(ascii: "\"") {
                    header.algorithm = try scanner.readString()
                } else {
                    try scanner.skipValue(depth: 1)
                    header.algorithm = "(not a string)"
                }
            case "crit":
                header.hasCrit = true
                try scanner.skipValue(depth: 1)
            default:
                try scanner.skipValue(depth: 1)
            }
        }
        guard scanner.peek() == nil else { throw scanner.error("unexpected text after the header object") }
        return header
    }
}

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif
