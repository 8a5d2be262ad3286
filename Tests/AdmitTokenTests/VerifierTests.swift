import Foundation
import Testing

@testable import AdmitToken

/// Revokes tokens by jti, as the server's revocation list will.
struct RevokedIDs: RevocationChecking {
    var ids: Set<String>
    func isRevoked(_ claims: Claims) -> Bool { claims.jwtID.map(ids.contains) ?? false }
}

@Suite("verifier")
struct VerifierTests {
    @Test("a seed-shaped token verifies and yields its claims")
    func seedToken() throws {
        let token = forge(payload(#""version":2,"roomId":"2kyv-gzay-64pg","participantId":"lxvdplwt","roles":["crawler","rtc"]"#))
        let claims = try verifier().verify(token)
        #expect(claims.apiKey == "demo-key")
        #expect(claims.permissions == .allowJoin)
        #expect(claims.version == 2)
        #expect(claims.roomId == "2kyv-gzay-64pg")
        #expect(claims.participantId == "lxvdplwt")
        #expect(claims.roles == [.crawler, .rtc])
        #expect(claims.expiresAt == now + 3600)
        #expect(claims.issuedAt == now - 60)
    }

    @Test("an apikey written with escapes is looked up by its text, and named by it in the claims")
    func escapedAPIKey() throws {
        let token = forge(payload(without: ["apikey"]).replacingOccurrences(of: "{", with: #"{"apikey":"d\u0065mo-key","#))
        #expect(try verifier().verify(token).apiKey == "demo-key")
        let deactivated = forge(payload(without: ["apikey"]).replacingOccurrences(of: "{", with: #"{"apikey":"\u006Fff-key","#))
        #expect(throws: TokenError(.apiKeyDeactivated, .deactivated, "API key off-key is deactivated")) {
            try verifier().verify(deactivated)
        }
    }

    @Test("unknown and deactivated keys are named in the detail, from the token's bytes")
    func keyRefusals() {
        #expect(throws: TokenError(.invalidAPIKey, .unknownAPIKey, "no API key named other-key is known here")) {
            try verifier().verify(forge(payload(#""apikey":"other-key""#, without: ["apikey"])))
        }
        #expect(throws: TokenError(.apiKeyDeactivated, .deactivated, "API key off-key is deactivated")) {
            try verifier().verify(forge(payload(#""apikey":"off-key""#, without: ["apikey"])))
        }
        #expect(throws: TokenError(.invalidAPIKey, .unknownAPIKey, "apikey is empty")) {
            try verifier().verify(forge(payload(#""apikey":"""#, without: ["apikey"])))
        }
    }

    @Test("version may be the string \"2\"")
    func versionString() throws {
        let claims = try verifier().verify(forge(payload(#""version":"2","roomId":"r""#)))
        #expect(claims.version == 2)
    }

    @Test("unknown claims and header members are ignored")
    func unknownClaims() throws {
        let token = forge(header: #"{"typ":"JWT","kid":"k1","alg":"HS256"}"#, payload(#""sub":"x","nested":{"a":[1,2,{"b":null}]},"n":-1.5e3"#))
        #expect(try verifier().verify(token).apiKey == "demo-key")
    }

    @Test("null optional claims count as absent")
    func nullClaims() throws {
        let claims = try verifier().verify(forge(payload(#""roomId":null,"roles":null,"version":null,"jti":null"#)))
        #expect(claims.roomId == nil)
        #expect(claims.roles == nil)
    }

    @Test("decimal NumericDates are accepted")
    func decimalExp() throws {
        let claims = try verifier().verify(forge(payload(#""exp":\#(Int(now) + 10).5"#, without: ["exp"])))
        #expect(claims.expiresAt == now + 10.5)
    }

    @Test("an expired token within the leeway is still valid, and not one second after")
    func leewayBoundary() throws {
        let token = forge(payload(#""exp":\#(Int(now) - 59)"#, without: ["exp"]))
        #expect(try verifier().verify(token).apiKey == apiKey)
        #expect(throws: TokenError.self) { try verifier(leeway: 58).verify(token) }
        let zero = #expect(throws: TokenError.self) { try verifier(leeway: 0).verify(forge(payload(#""exp":\#(Int(now))"#, without: ["exp"]))) }
        #expect(zero?.reason == .expired)
    }

    @Test("nbf and iat within the leeway are accepted")
    func futureWithinLeeway() throws {
        let token = forge(payload(#""nbf":\#(Int(now) + 60),"iat":\#(Int(now) + 60)"#, without: ["iat"]))
        #expect(try verifier().verify(token).notBefore == now + 60)
    }

    @Test("a rotated secret verifies during its grace period and not after")
    func rotationGrace() throws {
        let old = Secret("old-secret")!
        let fresh = Secret("new-secret")!
        let keys = StaticKeys([apiKey: VerificationKey(secrets: [LiveSecret(fresh), LiveSecret(old, validUntil: now + 10)])])
        let oldToken = forge(payload(), secret: "old-secret")
        let newToken = forge(payload(), secret: "new-secret")
        #expect(try Verifier(keys: keys, clock: .fixed(now)).verify(oldToken).apiKey == apiKey)
        #expect(try Verifier(keys: keys, clock: .fixed(now + 11)).verify(newToken).apiKey == apiKey)
        let error = #expect(throws: TokenError.self) { try Verifier(keys: keys, clock: .fixed(now + 10)).verify(oldToken) }
        #expect(error?.reason == .signature)
    }

    @Test("a revoked jti is refused with 4002 revoked; others pass")
    func revocation() throws {
        let check = verifier(revocations: RevokedIDs(ids: ["t-1"]))
        let error = #expect(throws: TokenError.self) { try check.verify(forge(payload(#""jti":"t-1""#))) }
        #expect(error?.code == .invalidToken)
        #expect(error?.reason == .revoked)
        #expect(try check.verify(forge(payload(#""jti":"t-2""#))).jwtID == "t-2")
    }

    @Test("a single-secret check accepts any apikey name but still needs one")
    func singleSecret() throws {
        let check = Verifier(keys: SingleSecret(secret), clock: .fixed(now))
        let token = forge(payload(without: ["apikey"]).replacingOccurrences(of: "{", with: #"{"apikey":"anything","#))
        #expect(try check.verify(token).apiKey == "anything")
        let error = #expect(throws: TokenError.self) { try check.verify(forge(payload(without: ["apikey"]))) }
        #expect(error?.code == .invalidAPIKey)
    }

    @Test("the token's participantId fills a join that names none, and a matching room passes")
    func joinUse() throws {
        let token = forge(payload(#""version":2,"roomId":"abcd-efgh-ijkl","participantId":"p-1","roles":["rtc"]"#))
        #expect(try verifier().verify(token, for: .join(roomId: "abcd-efgh-ijkl", participantId: nil)).participantId == "p-1")
        #expect(try verifier().verify(token, for: .join(roomId: "abcd-efgh-ijkl", participantId: "p-1")).participantId == "p-1")
        let api = #expect(throws: TokenError.self) { try verifier().verify(token, for: .serverAPI(roomId: nil)) }
        #expect(api?.code == .unauthorizedRole)
    }

    @Test("a token without roles serves both uses")
    func noRolesBothUses() throws {
        let token = forge(payload())
        #expect(throws: Never.self) { try verifier().verify(token, for: .join(roomId: "r", participantId: "p")) }
        #expect(throws: Never.self) { try verifier().verify(token, for: .serverAPI(roomId: "r")) }
    }

    @Test("error bodies follow the contract's shape and wording")
    func errorBody() {
        let error = #expect(throws: TokenError.self) { try verifier().verify(forge(payload(), secret: "wrong")) }
        #expect(
            error?.body.jsonText
                == #"{"statusCode":401,"error":"Token is invalid or expired","code":4002,"name":"INVALID_TOKEN","message":"`token` is empty or invalid or might have expired.","reason":"signature"}"#
        )
        let use = #expect(throws: TokenError.self) {
            try verifier().verify(forge(payload(#""version":2,"roles":["rtc"]"#)), for: .serverAPI(roomId: nil))
        }
        #expect(use?.httpStatus == 403)
        #expect(use?.errorText == ErrorCode.unauthorizedRole.message)
    }

    @Test("a detail never repeats the secret")
    func detailsLeakNoSecret() {
        for hostile in hostileCases {
            let error = #expect(throws: TokenError.self) { try verifier().verify(hostile.token, for: hostile.use) }
            #expect(error?.detail.contains(secretText) == false)
            #expect(error.map { !$0.body.jsonText.contains(hostile.token) || hostile.token.isEmpty } ?? false)
        }
    }
}
