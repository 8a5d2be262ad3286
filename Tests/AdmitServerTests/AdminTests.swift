import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@Suite("admin API")
struct AdminTests {
    @Test("the admin API refuses a missing or wrong credential, and an access token")
    func credential() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            for credential in [nil, "Bearer wrong", "Bearer ", token(key)] as [String?] {
                let reply = try await server.call(.get, "/admin/v1/api-keys", token: credential)
                #expect(reply.status == 401)
                #expect(reply.error?.contains("admin credential") == true)
            }
        }
    }

    @Test("keys list without secrets; the secret is shown once at creation")
    func listKeys() async throws {
        try await withServer { server in
            let key = try await server.createKey("first")
            _ = try await server.createKey("second")
            let list = try await server.admin(.get, "/admin/v1/api-keys")
            #expect(list.json["pageInfo"]?["total"] == .number("2"))
            #expect(!list.text.contains(key.secret))
            #expect(list.json["data"]?.jsonText.contains(key.apiKey) == true)
            #expect(try await server.admin(.post, "/admin/v1/api-keys", body: #"{"name":""}"#).status == 400)
            #expect(try await server.admin(.post, "/admin/v1/api-keys", body: "{}").error == "`name` is required.")
        }
    }

    @Test("the dashboard's temporary token verifies with its claims")
    func dashboardToken() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let reply = try await server.admin(
                .post, "/admin/v1/api-keys/\(key.apiKey)/tokens",
                body: #"{"permissions":["allow_join","allow_mod"],"expiresIn":"10m","roomId":"abcd-efgh-ijkl","roles":["crawler"]}"#)
            #expect(reply.status == 200)
            let minted = try #require(reply.json["token"]?.stringValue)
            let claims = try Verifier(keys: SingleSecret(Secret(key.secret)!)).verify(minted)
            #expect(claims.permissions == [.allowJoin, .allowMod])
            #expect(claims.roomId == "abcd-efgh-ijkl")
            #expect(claims.roles == .crawler)
            #expect(claims.version == 2)
            #expect(claims.expiresAt - claims.issuedAt! == 600)
            let numeric = try await server.admin(
                .post, "/admin/v1/api-keys/\(key.apiKey)/tokens", body: #"{"permissions":["ask_join"],"expiresIn":90}"#)
            #expect(numeric.status == 200)
        }
    }

    @Test(
        "the token endpoint refuses bad requests with a sentence naming the field",
        arguments: [
            (#"{"permissions":["root"],"expiresIn":"1h"}"#, "`permissions`: unknown value root."),
            (
                #"{"permissions":["ask_join","allow_join"],"expiresIn":"1h"}"#,
                "`permissions`: ask_join cannot be combined with allow_join or allow_mod."
            ),
            (
                #"{"permissions":["allow_join"],"expiresIn":"forever"}"#,
                "`expiresIn` must be seconds or a whole number with s, m, h or d (120m), at most 10 years."
            ),
            (#"{"permissions":["allow_join"]}"#, "`expiresIn` is required."),
            (#"{"permissions":[],"expiresIn":60}"#, "`permissions` must not be empty."),
            (#"{"permissions":["allow_join"],"expiresIn":60,"participantId":"a b"}"#, "`participantId` must be non-empty without whitespace."),
        ])
    func badTokenRequests(_ body: String, _ message: String) async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let reply = try await server.admin(.post, "/admin/v1/api-keys/\(key.apiKey)/tokens", body: body)
            #expect(reply.status == 400)
            #expect(reply.error == message)
        }
    }

    @Test("outside dev mode the server refuses to start without an admin credential or a master key")
    func configuration() async throws {
        await #expect(throws: ConfigurationError.self) {
            _ = try await buildApplication(configuration: testConfiguration { $0.adminToken = nil })
        }
        await #expect(throws: ConfigurationError.self) {
            _ = try await buildApplication(configuration: testConfiguration { $0.database = .sqlite(path: "/tmp/never-\(UUID()).sqlite") })
        }
    }
}

@Suite("example endpoints")
struct ExampleEndpointTests {
    @Test("/get-token is off outside dev mode unless a key is named")
    func off() async throws {
        try await withServer { server in
            let reply = try await server.call(.get, "/get-token")
            #expect(reply.status == 404)
            #expect(reply.error?.contains("--token-endpoint-key") == true)
        }
    }

    @Test("dev mode's /get-token signs with the dev key: allow_join and allow_mod; roomId/peerId add v2, rtc and the scope")
    func devToken() async throws {
        let announced = Announcements()
        try await withServer(testConfiguration(dev: true) { $0.announce = { announced.add($0) } }) { server in
            let secret = try #require(announced.value(after: "Dev API secret: "))
            let verifier = Verifier(keys: SingleSecret(Secret(secret)!))
            let plain = try verifier.verify(try #require(try await server.call(.get, "/get-token").json["token"]?.stringValue))
            #expect(plain.permissions == [.allowJoin, .allowMod])
            #expect(plain.version == nil)
            #expect(plain.apiKey == announced.value(after: "Dev API key: "))
            let scoped = try verifier.verify(
                try #require(try await server.call(.get, "/get-token?roomId=abcd-efgh-ijkl&peerId=p1").json["token"]?.stringValue))
            #expect(scoped.version == 2)
            #expect(scoped.roles == .rtc)
            #expect(scoped.roomId == "abcd-efgh-ijkl")
            #expect(scoped.participantId == "p1")
            #expect(try await server.call(.get, "/get-token?peerId=a%20b").code == 4004)
        }
    }

    @Test("a named token endpoint key follows its policy and its rate limit (429)")
    func policy() async throws {
        // A key must exist before it can be named: create it on one server, name it on a second over the same store.
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("admit-\(UUID()).sqlite").path
        let masterKey = "mTXp0Qh3gn3Q9uV0bYyJ9yq3S2v0m6Cq0Yx4S9c2XxY="
        let (apiKey, secret) = try await withServer(
            testConfiguration {
                $0.database = .sqlite(path: path); $0.masterKey = masterKey
            }, mode: .live
        ) { server in
            try await server.createKey()
        }
        let configuration = testConfiguration {
            $0.database = .sqlite(path: path)
            $0.masterKey = masterKey
            $0.tokenEndpoint = .init(apiKey: apiKey, maxLifetime: 300, permissions: .askJoin, ratePerMinute: 2)
        }
        try await withServer(configuration) { server in
            let first = try await server.call(.get, "/get-token")
            let claims = try Verifier(keys: SingleSecret(Secret(secret)!)).verify(try #require(first.json["token"]?.stringValue))
            #expect(claims.permissions == .askJoin)
            #expect(claims.expiresAt - claims.issuedAt! == 300)
            #expect(try await server.call(.get, "/get-token").status == 200)
            let limited = try await server.call(.get, "/get-token")
            #expect(limited.status == 429)
        }
    }

    @Test("dev mode's /get-token has no rate limit unless one is set")
    func devRateLimit() async throws {
        try await withServer(testConfiguration(dev: true)) { (server: Harness) async throws -> Void in
            for _ in 0..<20 { #expect(try await server.call(.get, "/get-token").status == 200) }
        }
        try await withServer(testConfiguration(dev: true) { $0.devTokenRatePerMinute = 1 }) { server in
            #expect(try await server.call(.get, "/get-token").status == 200)
            let limited = try await server.call(.get, "/get-token")
            #expect(limited.status == 429)
            #expect(limited.json["statusCode"] == .number("429"))
        }
    }

    @Test("/create-meeting and /validate-meeting take the token in the body")
    func meetingEndpoints() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let created = try await server.call(.post, "/create-meeting", body: #"{"token":"\#(token(key))"}"#)
            #expect(created.status == 200)
            let roomId = try #require(created.json["roomId"]?.stringValue)
            // The official examples read `meetingId`.
            #expect(created.json["meetingId"] == .string(roomId))
            let valid = try await server.call(.post, "/validate-meeting/\(roomId)", body: #"{"token":"\#(token(key))"}"#)
            #expect(valid.json["roomId"] == .string(roomId))
            let unknown = try await server.call(.post, "/validate-meeting/zzzz-zzzz-zzzz", body: #"{"token":"\#(token(key))"}"#)
            #expect(unknown.status == 400)
            #expect(unknown.code == 4003)
            let noToken = try await server.call(.post, "/create-meeting", body: "{}")
            #expect(noToken.status == 401)
            #expect(noToken.error == "Token is invalid or expired")
        }
    }
}

/// Collects the server's announcements.
final class Announcements: @unchecked Sendable {
    private var lines: [String] = []
    private let lock = NSLock()
    func add(_ line: String) { lock.withLock { lines.append(line) } }
    func value(after prefix: String) -> String? {
        lock.withLock { lines.first { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) } }
    }
}
