/// What a participant may do, from the token's `permissions` claim.
public struct Permissions: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Joins the meeting directly and answers other participants' entry requests.
    public static let allowJoin = Permissions(rawValue: 1)
    /// Waits in the lobby until someone holding `allowJoin` lets them in.
    public static let askJoin = Permissions(rawValue: 2)
    /// Toggles other participants' mic and webcam, removes them, ends the meeting.
    public static let allowMod = Permissions(rawValue: 4)

    /// The wire names in the contract's order.
    public var names: [String] {
        Self.known.filter { contains($0.value) }.map(\.name)
    }

    /// The permission a wire name stands for, or nil when unknown.
    public init?(name: String) {
        guard let match = Self.known.first(where: { $0.name == name }) else { return nil }
        self = match.value
    }

    static let known: [(name: String, value: Permissions)] = wireNames.map { ($0.name.description, $0.value) }

    static let wireNames: [(name: StaticString, value: Permissions)] = [
        ("allow_join", .allowJoin), ("ask_join", .askJoin), ("allow_mod", .allowMod),
    ]
}

/// Where a token may be used, from the `roles` claim; no roles means both.
public struct Roles: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The server API only.
    public static let crawler = Roles(rawValue: 1)
    /// Meetings only.
    public static let rtc = Roles(rawValue: 2)

    /// The wire names in the contract's order.
    public var names: [String] {
        Self.known.filter { contains($0.value) }.map(\.name)
    }

    /// The role a wire name stands for, or nil when unknown.
    public init?(name: String) {
        guard let match = Self.known.first(where: { $0.name == name }) else { return nil }
        self = match.value
    }

    static let known: [(name: String, value: Roles)] = wireNames.map { ($0.name.description, $0.value) }

    static let wireNames: [(name: StaticString, value: Roles)] = [("crawler", .crawler), ("rtc", .rtc)]
}

/// The claims of a valid VideoSDK access token (CONTRACT.md section 1).
///
/// Times are NumericDates: seconds since 1970-01-01 UTC. Claims that Admit does not
/// know are ignored when verifying and not kept here.
public struct Claims: Sendable, Hashable {
    // Stored in this order (strings, then doubles, then small values) so the value packs into
    // fewer bytes: verifications copy it.
    /// The API key whose secret signs the token.
    public var apiKey: String
    /// The only room the token is valid for, when set.
    public var roomId: String?
    /// The only participant the token is valid for, when set.
    public var participantId: String?
    /// An identifier that revocation can name.
    public var jwtID: String?
    /// When the token stops being valid.
    public var expiresAt: Double
    /// When the token was made.
    public var issuedAt: Double?
    /// When the token starts being valid.
    public var notBefore: Double?
    /// 2 for the v2 API; required when `roomId`, `participantId` or `roles` is set.
    public var version: Int?
    /// What the holder may do; never empty in a verified token.
    public var permissions: Permissions
    /// Where the token may be used; nil means meetings and the server API.
    public var roles: Roles?

    /// Claims for a token that expires `lifetime` seconds after `now`; `version` becomes 2
    /// by itself when a v2-only claim is given, as the contract requires.
    public init(
        apiKey: String,
        permissions: Permissions = .allowJoin,
        lifetime: Int,
        now: Double,
        version: Int? = nil,
        roomId: String? = nil,
        participantId: String? = nil,
        roles: Roles? = nil,
        jwtID: String? = nil
    ) {
        let issued = now.rounded(.down)
        self.apiKey = apiKey
        self.permissions = permissions
        self.roomId = roomId
        self.participantId = participantId
        self.roles = roles
        self.jwtID = jwtID
        self.issuedAt = issued
        self.expiresAt = issued + Double(lifetime)
        self.notBefore = nil
        let needsVersion = roomId != nil || participantId != nil || roles != nil
        self.version = version ?? (needsVersion ? 2 : nil)
    }

    /// No claims at all: what a payload's decoding starts from. Each member is written in
    /// place (no shared constant to copy from).
    init(empty: Void) {
        apiKey = ""
        roomId = nil
        participantId = nil
        jwtID = nil
        expiresAt = 0
        issuedAt = nil
        notBefore = nil
        version = nil
        permissions = []
        roles = nil
    }

    /// The claims as the JSON object a token carries, in the signer's order.
    public var json: JSONValue {
        withEncoded { bytes in
            // The encoder writes valid JSON by construction.
            try! JSONValue(parsing: bytes)
        }
    }

    /// The most bytes the payload JSON can take: every member with its longest value,
    /// strings as if every byte needed a six-byte escape.
    var encodedCapacity: Int {
        let strings = [apiKey, roomId, participantId, jwtID].reduce(0) { $0 + ByteWriter.quotedCapacity($1?.utf8.count ?? 0) }
        return 512 + strings
    }

    /// Calls `body` with the payload JSON, written in temporary memory.
    func withEncoded<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeTemporaryAllocation(byteCount: encodedCapacity, alignment: 1) { buffer in
            var writer = ByteWriter(buffer)
            encode(into: &writer)
            return body(writer.written)
        }
    }

    /// Writes the payload JSON: apikey, permissions, version, roomId, participantId,
    /// roles, jti, iat, nbf, exp. NumericDates are written as integers when whole.
    func encode(into out: inout ByteWriter) {
        func key(_ member: StaticString) {
            out.append(out.count == 0 ? UInt8(ascii: "{") : UInt8(ascii: ","))
            out.append(UInt8(ascii: "\""))
            out.append(member)
            out.append("\":")
        }
        func names<Names: OptionSet>(_ set: Names, _ known: [(name: StaticString, value: Names)]) where Names.Element == Names {
            out.append(UInt8(ascii: "["))
            var first = true
            for (name, value) in known where set.contains(value) {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                out.append(UInt8(ascii: "\""))
                out.append(name)
                out.append(UInt8(ascii: "\""))
            }
            out.append(UInt8(ascii: "]"))
        }
        func number(_ value: Double) {
            if value == value.rounded(), abs(value) < 9e15 {
                out.appendInteger(Int64(value))
            } else {
                var text = JSONWriter.numericDate(value)
                text.withUTF8 { out.append(UnsafeRawBufferPointer($0)) }
            }
        }
        key("apikey")
        out.appendQuoted(apiKey)
        key("permissions")
        names(permissions, Permissions.wireNames)
        if let version {
            key("version")
            out.appendInteger(Int64(version))
        }
        if let roomId {
            key("roomId")
            out.appendQuoted(roomId)
        }
        if let participantId {
            key("participantId")
            out.appendQuoted(participantId)
        }
        if let roles {
            key("roles")
            names(roles, Roles.wireNames)
        }
        if let jwtID {
            key("jti")
            out.appendQuoted(jwtID)
        }
        if let issuedAt {
            key("iat")
            number(issuedAt)
        }
        if let notBefore {
            key("nbf")
            number(notBefore)
        }
        key("exp")
        number(expiresAt)
        out.append(UInt8(ascii: "}"))
    }
}

/// A set whose members have wire names: `Permissions` and `Roles`. One parser serves the
/// command line (comma-separated) and the admin API (JSON arrays).
public protocol WireNamedSet: OptionSet, Sendable where Element == Self {
    init?(name: String)
    /// The known names, for messages: "allow_join, ask_join, allow_mod".
    static var knownNames: String { get }
}

/// A name that is not a known permission or role.
public struct UnknownName: Error, Sendable, Equatable {
    public let name: String
}

extension WireNamedSet {
    /// The set the names stand for; throws the first unknown name.
    public init(names: some Sequence<String>) throws(UnknownName) {
        self.init()
        for name in names {
            guard let member = Self(name: name) else { throw UnknownName(name: name) }
            formUnion(member)
        }
    }

    /// The set a comma-separated list stands for (spaces around names ignored).
    public init(list: String) throws(UnknownName) {
        try self.init(
            names: list.split(separator: ",", omittingEmptySubsequences: false).map { part in
                String(part.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
            })
    }
}

extension Permissions: WireNamedSet {
    public static var knownNames: String { wireNames.map(\.name.description).joined(separator: ", ") }
}

extension Roles: WireNamedSet {
    public static var knownNames: String { wireNames.map(\.name.description).joined(separator: ", ") }
}
