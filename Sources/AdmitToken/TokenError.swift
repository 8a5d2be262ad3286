/// Why a token was refused: the contract's code, a stable reason word, and a precise
/// human explanation that never contains the secret or the whole token.
public struct TokenError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The contract code (4001, 4002, 4008, 4053 for the token itself; 4004, 4022-4025 for its use).
    public let code: ErrorCode
    /// A short stable word naming the cause.
    public let reason: Reason
    /// A sentence for people, such as "expired 2 h 3 min ago".
    public let detail: String

    public init(_ code: ErrorCode, _ reason: Reason, _ detail: String) {
        self.code = code
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(code.value) \(code.name) (\(reason.rawValue)): \(detail)" }

    /// Whether the token itself is bad (steps 1-8), as opposed to valid but not allowed here.
    /// Bad tokens always show the seed's text "Token is invalid or expired".
    public var isInvalidToken: Bool { !Reason.useReasons.contains(reason) }

    /// The HTTP status this refusal answers with: 401 for a bad token, 400 for a malformed
    /// participant id, 403 for a valid token that is not allowed here.
    public var httpStatus: Int {
        if isInvalidToken { return 401 }
        return code == .invalidParticipantID ? 400 : 403
    }

    /// The `error` text of the contract's JSON body.
    public var errorText: String { isInvalidToken ? "Token is invalid or expired" : code.message }

    /// The contract's JSON error body, as the server answers and `admit token verify` prints.
    public var body: JSONValue { body(statusCode: httpStatus) }

    /// The body for an answer with another status than `httpStatus` (a join to an unknown room is 404).
    public func body(statusCode: Int) -> JSONValue {
        .object([
            JSONMember("statusCode", .number(String(statusCode))),
            JSONMember("error", .string(errorText)),
            JSONMember("code", .number(String(code.value))),
            JSONMember("name", .string(code.name)),
            JSONMember("message", .string(code.message)),
            JSONMember("reason", .string(reason.rawValue)),
        ])
    }

    /// The stable reason words of the contract, section 2.
    public struct Reason: RawRepresentable, Sendable, Hashable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let malformed = Reason(rawValue: "malformed")
        public static let tooLarge = Reason(rawValue: "too-large")
        public static let algorithm = Reason(rawValue: "algorithm")
        public static let crit = Reason(rawValue: "crit")
        public static let unknownAPIKey = Reason(rawValue: "unknown-api-key")
        public static let deactivated = Reason(rawValue: "deactivated")
        public static let signature = Reason(rawValue: "signature")
        public static let expired = Reason(rawValue: "expired")
        public static let notYetValid = Reason(rawValue: "not-yet-valid")
        public static let issuedInFuture = Reason(rawValue: "issued-in-future")
        public static let expMissing = Reason(rawValue: "exp-missing")
        public static let permissions = Reason(rawValue: "permissions")
        public static let versionRequired = Reason(rawValue: "version-required")
        public static let version = Reason(rawValue: "version")
        public static let roles = Reason(rawValue: "roles")
        public static let revoked = Reason(rawValue: "revoked")
        /// Admit's own, only when the operator sets a maximum lifetime: `exp` is further ahead than it allows.
        public static let lifetime = Reason(rawValue: "lifetime")
        /// Step 9: the token is valid but not for this use.
        public static let role = Reason(rawValue: "role")
        public static let room = Reason(rawValue: "room")
        public static let participant = Reason(rawValue: "participant")
        public static let origin = Reason(rawValue: "origin")

        static let useReasons: Set<Reason> = [.role, .room, .participant, .origin]
    }
}
