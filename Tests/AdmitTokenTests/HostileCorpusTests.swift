import Foundation
import Testing

@testable import AdmitToken

/// A token that must be refused, with the exact code and reason the contract gives.
struct HostileCase: CustomTestStringConvertible, Sendable {
    let name: String
    let token: String
    var use: TokenUse? = nil
    let code: Int
    let reason: String
    var testDescription: String { name }
}

private let valid = forge(payload())
private let parts = valid.split(separator: ".").map(String.init)

/// Replaces the character at `offset` of the signature with another of the alphabet.
private func flipSignature(_ token: String) -> String {
    var characters = Array(token)
    let index = characters.count - 5
    characters[index] = characters[index] == "A" ? "B" : "A"
    return String(characters)
}

let hostileCases: [HostileCase] = [
    // Step 1: form.
    HostileCase(name: "empty token", token: "", code: 4002, reason: "malformed"),
    HostileCase(name: "two segments", token: parts[0] + "." + parts[1], code: 4002, reason: "malformed"),
    HostileCase(name: "four segments", token: valid + ".AAAA", code: 4002, reason: "malformed"),
    HostileCase(name: "empty header segment", token: "." + parts[1] + "." + parts[2], code: 4002, reason: "malformed"),
    HostileCase(name: "padding in the payload", token: parts[0] + "." + parts[1] + "==." + parts[2], code: 4002, reason: "malformed"),
    HostileCase(
        name: "standard base64 alphabet (+/) in the header", token: "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9+/." + parts[1] + "." + parts[2], code: 4002,
        reason: "malformed"),
    HostileCase(name: "signature with non-zero trailing bits", token: String(valid.dropLast()) + "B", code: 4002, reason: "malformed"),
    HostileCase(name: "header is not JSON", token: forge(header: "alg=HS256", payload()), code: 4002, reason: "malformed"),
    HostileCase(name: "header is a JSON array", token: forge(header: #"["HS256"]"#, payload()), code: 4002, reason: "malformed"),
    HostileCase(name: "payload is a JSON array", token: forge(#"[{"apikey":"demo-key"}]"#), code: 4002, reason: "malformed"),
    HostileCase(name: "payload is a JSON string", token: forge(#""demo-key""#), code: 4002, reason: "malformed"),
    HostileCase(name: "text after the payload object", token: forge(payload() + "{}"), code: 4002, reason: "malformed"),
    HostileCase(name: "exp given twice", token: forge(payload(#""exp":99999999999"#)), code: 4002, reason: "malformed"),
    HostileCase(
        name: "exp given twice, once with an escaped name", token: forge(payload(#""\u0065xp":99999999999"#)), code: 4002, reason: "malformed"),
    HostileCase(
        name: "nesting bomb in an ignored claim",
        token: forge(payload(#""x":"# + String(repeating: "[", count: 200) + String(repeating: "]", count: 200))), code: 4002, reason: "malformed"),
    HostileCase(
        name: "invalid UTF-8 in a string",
        token: forge(bytes: Data(payload(#""roomId":"a_b","version":2"#).utf8).map { $0 == UInt8(ascii: "_") ? 0xFF : $0 }), code: 4002,
        reason: "malformed"),
    HostileCase(name: "unpaired surrogate escape", token: forge(payload(#""roomId":"\ud800""#)), code: 4002, reason: "malformed"),
    HostileCase(name: "raw control character in a string", token: forge(payload("\"roomId\":\"a\u{01}b\"")), code: 4002, reason: "malformed"),
    HostileCase(name: "roomId is a number", token: forge(payload(#""version":2,"roomId":42"#)), code: 4002, reason: "malformed"),
    HostileCase(name: "over 8 KiB", token: forge(payload(#""pad":""# + String(repeating: "a", count: 6200) + "\"")), code: 4002, reason: "too-large"),
    // Step 2: algorithm and crit, whatever the key.
    HostileCase(
        name: "alg none without signature", token: b64(#"{"alg":"none","typ":"JWT"}"#) + "." + b64(payload()) + ".", code: 4002, reason: "algorithm"),
    HostileCase(name: "alg none with a valid HS256 signature", token: forge(header: #"{"alg":"none"}"#, payload()), code: 4002, reason: "algorithm"),
    HostileCase(name: "alg HS512 header", token: forge(header: #"{"alg":"HS512","typ":"JWT"}"#, payload()), code: 4002, reason: "algorithm"),
    HostileCase(name: "alg HS384 header", token: forge(header: #"{"alg":"HS384","typ":"JWT"}"#, payload()), code: 4002, reason: "algorithm"),
    HostileCase(name: "alg RS256 header", token: forge(header: #"{"alg":"RS256","typ":"JWT"}"#, payload()), code: 4002, reason: "algorithm"),
    HostileCase(name: "alg ES256 header", token: forge(header: #"{"alg":"ES256"}"#, payload()), code: 4002, reason: "algorithm"),
    HostileCase(name: "lower-case hs256", token: forge(header: #"{"alg":"hs256","typ":"JWT"}"#, payload()), code: 4002, reason: "algorithm"),
    HostileCase(name: "no alg", token: forge(header: #"{"typ":"JWT"}"#, payload()), code: 4002, reason: "algorithm"),
    HostileCase(name: "alg is not a string", token: forge(header: #"{"alg":["HS256"]}"#, payload()), code: 4002, reason: "algorithm"),
    HostileCase(name: "unknown crit header", token: forge(header: #"{"alg":"HS256","crit":["exp"],"exp":1}"#, payload()), code: 4002, reason: "crit"),
    HostileCase(
        name: "alg none and an unknown key: step 2 comes first",
        token: forge(header: #"{"alg":"none"}"#, payload(without: ["apikey"]).replacingOccurrences(of: "{", with: #"{"apikey":"nobody","#)),
        code: 4002, reason: "algorithm"),
    // Step 3: API key.
    HostileCase(name: "apikey missing", token: forge(payload(without: ["apikey"])), code: 4001, reason: "unknown-api-key"),
    HostileCase(
        name: "apikey empty", token: forge(payload(without: ["apikey"]).replacingOccurrences(of: "{", with: #"{"apikey":"","#)), code: 4001,
        reason: "unknown-api-key"),
    HostileCase(
        name: "apikey not a string", token: forge(payload(without: ["apikey"]).replacingOccurrences(of: "{", with: #"{"apikey":7,"#)), code: 4001,
        reason: "unknown-api-key"),
    HostileCase(
        name: "apikey unknown, signature wrong: step 3 comes first",
        token: forge(payload(without: ["apikey"]).replacingOccurrences(of: "{", with: #"{"apikey":"nobody","#), secret: "other"), code: 4001,
        reason: "unknown-api-key"),
    HostileCase(
        name: "deactivated key", token: forge(payload(without: ["apikey"]).replacingOccurrences(of: "{", with: #"{"apikey":"off-key","#)), code: 4053,
        reason: "deactivated"),
    // Step 4: signature.
    HostileCase(name: "wrong secret", token: forge(payload(), secret: "not-the-secret"), code: 4002, reason: "signature"),
    HostileCase(
        name: "tampered payload", token: parts[0] + "." + b64(payload(#""roomId":"x","version":2"#)) + "." + parts[2], code: 4002, reason: "signature"
    ),
    HostileCase(name: "tampered signature", token: flipSignature(valid), code: 4002, reason: "signature"),
    HostileCase(name: "truncated signature", token: parts[0] + "." + parts[1] + "." + String(parts[2].prefix(20)), code: 4002, reason: "signature"),
    HostileCase(name: "empty signature", token: parts[0] + "." + parts[1] + ".", code: 4002, reason: "signature"),
    HostileCase(
        name: "HS512 signature under an HS256 header", token: parts[0] + "." + parts[1] + "." + String(repeating: "A", count: 86), code: 4002,
        reason: "signature"),
    // Step 5: time.
    HostileCase(name: "exp missing", token: forge(payload(without: ["exp"])), code: 4002, reason: "exp-missing"),
    HostileCase(name: "exp is a string", token: forge(payload(#""exp":"1795995000""#, without: ["exp"])), code: 4002, reason: "exp-missing"),
    HostileCase(name: "exp null", token: forge(payload(#""exp":null"#, without: ["exp"])), code: 4002, reason: "exp-missing"),
    HostileCase(name: "exp an hour ago", token: forge(payload(#""exp":\#(Int(now) - 3600)"#, without: ["exp"])), code: 4002, reason: "expired"),
    HostileCase(
        name: "exp exactly one leeway ago", token: forge(payload(#""exp":\#(Int(now) - 60)"#, without: ["exp"])), code: 4002, reason: "expired"),
    HostileCase(name: "nbf beyond the leeway", token: forge(payload(#""nbf":\#(Int(now) + 61)"#)), code: 4002, reason: "not-yet-valid"),
    HostileCase(
        name: "iat beyond the leeway", token: forge(payload(#""iat":\#(Int(now) + 120)"#, without: ["iat"])), code: 4002, reason: "issued-in-future"),
    HostileCase(name: "nbf is a string", token: forge(payload(#""nbf":"soon""#)), code: 4002, reason: "malformed"),
    HostileCase(
        name: "expired and unknown permission: step 5 comes first",
        token: forge(payload(#""permissions":["root"],"exp":1"#, without: ["permissions", "exp"])), code: 4002, reason: "expired"),
    // Step 6: permissions.
    HostileCase(name: "permissions missing", token: forge(payload(without: ["permissions"])), code: 4008, reason: "permissions"),
    HostileCase(name: "permissions empty", token: forge(payload(#""permissions":[]"#, without: ["permissions"])), code: 4008, reason: "permissions"),
    HostileCase(
        name: "permissions a string", token: forge(payload(#""permissions":"allow_join""#, without: ["permissions"])), code: 4008,
        reason: "permissions"),
    HostileCase(
        name: "unknown permission", token: forge(payload(#""permissions":["allow_join","allow_all"]"#, without: ["permissions"])), code: 4008,
        reason: "permissions"),
    HostileCase(
        name: "permission of another type", token: forge(payload(#""permissions":["allow_join",1]"#, without: ["permissions"])), code: 4008,
        reason: "permissions"),
    HostileCase(
        name: "ask_join with allow_join", token: forge(payload(#""permissions":["ask_join","allow_join"]"#, without: ["permissions"])), code: 4008,
        reason: "permissions"),
    HostileCase(
        name: "ask_join with allow_mod", token: forge(payload(#""permissions":["allow_mod","ask_join"]"#, without: ["permissions"])), code: 4008,
        reason: "permissions"),
    HostileCase(
        name: "upper-case permission", token: forge(payload(#""permissions":["ALLOW_JOIN"]"#, without: ["permissions"])), code: 4008,
        reason: "permissions"),
    // Step 7: version 2 and roles.
    HostileCase(name: "roomId without version", token: forge(payload(#""roomId":"abcd-efgh-ijkl""#)), code: 4002, reason: "version-required"),
    HostileCase(name: "participantId without version", token: forge(payload(#""participantId":"p1""#)), code: 4002, reason: "version-required"),
    HostileCase(name: "roles without version", token: forge(payload(#""roles":["rtc"]"#)), code: 4002, reason: "version-required"),
    HostileCase(name: "version 1", token: forge(payload(#""version":1"#)), code: 4002, reason: "version"),
    HostileCase(name: "version 3 with roomId", token: forge(payload(#""version":3,"roomId":"r""#)), code: 4002, reason: "version"),
    HostileCase(name: "version 2.5", token: forge(payload(#""version":2.5"#)), code: 4002, reason: "version"),
    HostileCase(name: "version \"v2\"", token: forge(payload(#""version":"v2""#)), code: 4002, reason: "version"),
    HostileCase(name: "unknown role", token: forge(payload(#""version":2,"roles":["admin"]"#)), code: 4002, reason: "roles"),
    HostileCase(name: "empty roles", token: forge(payload(#""version":2,"roles":[]"#)), code: 4002, reason: "roles"),
    HostileCase(name: "roles a string", token: forge(payload(#""version":2,"roles":"rtc""#)), code: 4002, reason: "roles"),
    // Step 9: use.
    HostileCase(
        name: "join another room", token: forge(payload(#""version":2,"roomId":"aaaa-bbbb-cccc""#)),
        use: .join(roomId: "zzzz-yyyy-xxxx", participantId: nil), code: 4022, reason: "room"),
    HostileCase(
        name: "join as another participant", token: forge(payload(#""version":2,"participantId":"alice""#)),
        use: .join(roomId: "r", participantId: "mallory"), code: 4023, reason: "participant"),
    HostileCase(
        name: "join with a crawler-only token", token: forge(payload(#""version":2,"roles":["crawler"]"#)),
        use: .join(roomId: "r", participantId: nil), code: 4024, reason: "role"),
    HostileCase(
        name: "server API with an rtc-only token", token: forge(payload(#""version":2,"roles":["rtc"]"#)), use: .serverAPI(roomId: nil), code: 4024,
        reason: "role"),
    HostileCase(
        name: "server API on another room", token: forge(payload(#""version":2,"roomId":"aaaa-bbbb-cccc""#)),
        use: .serverAPI(roomId: "zzzz-yyyy-xxxx"), code: 4022, reason: "room"),
    HostileCase(
        name: "participant id with a space", token: forge(payload()), use: .join(roomId: "r", participantId: "bob smith"), code: 4004,
        reason: "participant"),
    HostileCase(
        name: "token's participant id with a tab", token: forge(payload(#""version":2,"participantId":"bob\tsmith""#)),
        use: .join(roomId: "r", participantId: nil), code: 4004, reason: "participant"),
    HostileCase(
        name: "empty participant id in the join", token: forge(payload()), use: .join(roomId: "r", participantId: ""), code: 4004,
        reason: "participant"),
]

@Suite("hostile tokens")
struct HostileCorpusTests {
    @Test("the corpus is large enough to mean something")
    func corpusSize() {
        #expect(hostileCases.count >= 30)
    }

    @Test("each hostile token is refused with its exact code and reason", arguments: hostileCases)
    func refused(_ hostile: HostileCase) {
        let error = #expect(throws: TokenError.self) { try verifier().verify(hostile.token, for: hostile.use) }
        #expect(error?.code.value == hostile.code)
        #expect(error?.reason.rawValue == hostile.reason)
    }

    @Test("inspect reports the same problem first for each hostile token", arguments: hostileCases.filter { $0.use == nil })
    func explained(_ hostile: HostileCase) {
        let keys = verifier().keys
        let explanation = Explanation(token: hostile.token, keys: keys, clock: .fixed(now))
        #expect(!explanation.isValid)
        #expect(explanation.problems.contains { $0.code.value == hostile.code && $0.reason.rawValue == hostile.reason })
    }
}
