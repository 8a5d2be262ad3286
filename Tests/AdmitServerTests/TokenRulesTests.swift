import AdmitToken
import Foundation
import HTTPTypes
import Testing

@Suite("server API: token rules")
struct TokenRulesTests {
    @Test("no token, garbage, expired, unknown key: 401 with the seed's wording and the precise reason")
    func badTokens() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let cases: [(String?, Int, String)] = [
                (nil, 4002, "malformed"),
                ("not-a-token", 4002, "malformed"),
                (token(key, lifetime: 10, now: Date().timeIntervalSince1970 - 3600), 4002, "expired"),
                (token((apiKey: "nobody", secret: key.secret)), 4001, "unknown-api-key"),
                (token((apiKey: key.apiKey, secret: "wrong-secret")), 4002, "signature"),
            ]
            for (token, code, reason) in cases {
                let reply = try await server.rooms(token ?? "")
                #expect(reply.status == 401)
                #expect(reply.error == "Token is invalid or expired")
                #expect(reply.code == code)
                #expect(reply.reason == reason)
            }
            let missing = try await server.call(.get, "/v2/rooms")
            #expect(missing.status == 401)
        }
    }

    @Test("the exact error body of the contract")
    func exactBody() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let reply = try await server.rooms(token((apiKey: key.apiKey, secret: "wrong")))
            #expect(
                reply.text
                    == #"{"statusCode":401,"error":"Token is invalid or expired","code":4002,"name":"INVALID_TOKEN","message":"`token` is empty or invalid or might have expired.","reason":"signature"}"#
            )
        }
    }

    @Test("raw and Bearer tokens are both accepted")
    func bearer() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            #expect(try await server.rooms(token(key)).status == 200)
            #expect(try await server.rooms("Bearer " + token(key)).status == 200)
        }
    }

    @Test("an rtc-only token cannot call the server API (403, 4024)")
    func rtcRole() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let reply = try await server.rooms(token(key, roles: .rtc))
            #expect(reply.status == 403)
            #expect(reply.code == 4024)
            #expect(reply.error == ErrorCode.unauthorizedRole.message)
            #expect(try await server.rooms(token(key, roles: .crawler)).status == 200)
        }
    }

    @Test("a room-scoped token touches only its own room (403, 4022), by id or custom id")
    func roomScope() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let own = try #require(try await server.createRoom(token(key), #"{"customRoomId":"own"}"#).json["roomId"]?.stringValue)
            let other = try #require(try await server.createRoom(token(key)).json["roomId"]?.stringValue)
            let scoped = token(key, roomId: own)
            #expect(try await server.room(scoped, own).status == 200)
            #expect(try await server.room(token(key, roomId: "own"), own).status == 200)
            let refused = try await server.room(scoped, other)
            #expect(refused.status == 403)
            #expect(refused.code == 4022)
            #expect(try await server.deactivateRoom(scoped, other).code == 4022)
            #expect(try await server.createRoom(scoped).code == 4022)
            let listed = try await server.rooms(scoped)
            #expect(listed.json["pageInfo"]?["total"] == .number("1"))
            #expect(listed.json["data"]?.jsonText.contains(own) == true)
        }
    }

    @Test("a rotated key: old tokens verify during the grace period; with no grace they stop at once")
    func rotation() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let old = token(key)
            let rotated = try await server.rotate(key.apiKey, grace: 3600)
            #expect(rotated.status == 200)
            let secret = try #require(rotated.json["secret"]?.stringValue)
            #expect(secret != key.secret)
            #expect(rotated.json["previousSecretValidUntil"]?.stringValue != nil)
            #expect(try await server.rooms(old).status == 200)
            #expect(try await server.rooms(token((key.apiKey, secret))).status == 200)
            _ = try await server.rotate(key.apiKey, grace: 0)
            let refused = try await server.rooms(token((key.apiKey, secret)))
            #expect(refused.status == 401)
            #expect(refused.reason == "signature")
            #expect(try await server.rotate("missing", grace: 1).status == 404)
        }
    }

    @Test("a deactivated key's tokens are refused with 4053")
    func deactivation() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            #expect(try await server.deactivateKey(key.apiKey).json["deactivated"] == .bool(true))
            let reply = try await server.rooms(token(key))
            #expect(reply.status == 401)
            #expect(reply.code == 4053)
            #expect(reply.json["name"] == .string("APIKEY_DEACTIVATED"))
        }
    }

    @Test("revocation by jti, participant, room and issued-before")
    func revocations() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let now = Date().timeIntervalSince1970
            #expect(try await server.revoke(#"{"apiKey":"\#(key.apiKey)","jti":"t-1"}"#).status == 200)
            #expect(try await server.rooms(token(key, jwtID: "t-1")).reason == "revoked")
            #expect(try await server.rooms(token(key, jwtID: "t-2")).status == 200)
            _ = try await server.revoke(#"{"apiKey":"\#(key.apiKey)","participantId":"mallory"}"#)
            #expect(try await server.rooms(token(key, participantId: "mallory")).reason == "revoked")
            #expect(try await server.rooms(token(key, participantId: "alice")).status == 200)
            let room = try await server.createRoom(token(key), #"{"customRoomId":"standup"}"#)
            let roomId = try #require(room.json["roomId"]?.stringValue)
            let other = try #require(try await server.createRoom(token(key)).json["roomId"]?.stringValue)
            #expect(try await server.revoke(#"{"apiKey":"\#(key.apiKey)","roomId":"standup"}"#).json["roomId"] == .string(roomId))
            #expect(try await server.rooms(token(key, roomId: roomId)).reason == "revoked")
            #expect(try await server.rooms(token(key, roomId: other)).status == 200)
            #expect(try await server.revoke(#"{"apiKey":"\#(key.apiKey)","roomId":"no-such-room"}"#).status == 404)
            _ = try await server.revoke(#"{"apiKey":"\#(key.apiKey)","issuedBefore":\#(Int(now))}"#)
            #expect(try await server.rooms(token(key, now: now - 10)).reason == "revoked")
            #expect(try await server.rooms(token(key, now: now + 1)).status == 200)
            let empty = try await server.revoke(#"{"apiKey":"\#(key.apiKey)"}"#)
            #expect(empty.status == 400)
            #expect(try await server.revoke(#"{"apiKey":"nobody","jti":"x"}"#).status == 404)
        }
    }
}
