import AdmitClient
import AdmitServer
import AdmitToken
import Foundation
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Findings of the hardening review (issue 9): each test failed before its fix.
@Suite("hardening: ranges, races, refused targets")
struct HardeningTests {
    @Test("revocation cut-offs outside 1970 to 9999 are a 400, never a trap; the edge is accepted")
    func revocationRanges() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            for value in ["1e18", "-1", "1e300", "-1e19", "1e400", "253402300800", #""10000-01-01T00:00:00Z""#, #""soon""#, "true"] {
                let reply = try await server.revoke(#"{"apiKey":"\#(key.apiKey)","issuedBefore":\#(value)}"#)
                #expect(reply.status == 400, "\(value): \(reply.text)")
            }
            #expect(try await server.rooms(token(key)).status == 200)
            // The last second of 9999 revokes every token the key ever issued.
            #expect(try await server.revoke(#"{"apiKey":"\#(key.apiKey)","issuedBefore":253402300799}"#).status == 200)
            #expect(try await server.rooms(token(key)).reason == "revoked")
        }
    }

    @Test("a rotation and a deactivation sent at the same time both take effect")
    func rotateAndDeactivate() async throws {
        try await withServer { server in
            for trial in 0..<20 {
                let key = try await server.createKey("race-\(trial)")
                async let rotated = server.rotate(key.apiKey, grace: 3600)
                async let deactivated = server.deactivateKey(key.apiKey)
                let (rotation, deactivation) = try await (rotated, deactivated)
                #expect(rotation.status == 200)
                #expect(deactivation.status == 200)
                let listed = try await server.admin(.get, "/admin/v1/api-keys?perPage=100").json["data"]
                guard case .array(let keys)? = listed else { Issue.record("no key list"); return }
                let entry = keys.first { $0["apiKey"]?.stringValue == key.apiKey }
                #expect(entry?["deactivated"] == .bool(true), "trial \(trial): the deactivation was lost")
                #expect(try await server.rooms(token(key)).code == 4053)
            }
        }
    }

    @Test("a rotation answers until when the secret it replaced verifies: a grace of 0 ends it now, whatever earlier rotations promised")
    func rotationAnswer() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let before = Date()
            let first = try await server.rotate(key.apiKey, grace: 3600)
            let firstUntil = try #require(first.json["previousSecretValidUntil"]?.stringValue.flatMap { try? Date($0, strategy: .iso8601) })
            #expect(firstUntil.timeIntervalSince(before) > 3590)
            let second = try await server.rotate(key.apiKey, grace: 0)
            let secondUntil = try #require(second.json["previousSecretValidUntil"]?.stringValue.flatMap { try? Date($0, strategy: .iso8601) })
            #expect(abs(secondUntil.timeIntervalSinceNow) < 5)
            // The first secret still verifies (its own promise); the second does not.
            #expect(try await server.rooms(token(key)).status == 200)
            let secondSecret = try #require(first.json["secret"]?.stringValue)
            #expect(try await server.rooms(token((key.apiKey, secondSecret))).reason == "signature")
        }
    }

    @Test("concurrent rotations: every secret answered with 200 verifies, and so does the original within its grace")
    func concurrentRotations() async throws {
        try await withServer { server in
            for trial in 0..<10 {
                let key = try await server.createKey("rotations-\(trial)")
                let secrets = try await withThrowingTaskGroup(of: String?.self) { group in
                    for _ in 0..<4 { group.addTask { try await server.rotate(key.apiKey, grace: 600).json["secret"]?.stringValue } }
                    return try await group.reduce(into: [String]()) { if let secret = $1 { $0.append(secret) } }
                }
                #expect(secrets.count == 4)
                for secret in secrets + [key.secret] {
                    let reply = try await server.rooms(token((key.apiKey, secret)))
                    #expect(reply.status == 200, "trial \(trial): \(reply.text)")
                }
            }
        }
    }

    static let privateTargets = [
        "http://127.0.0.1/hook", "http://127.1/hook", "http://2130706433/hook", "http://0x7f.0.0.1/hook", "http://localhost:8080/hook",
        "http://api.localhost/hook", "http://10.0.0.5/hook", "http://172.20.1.1/hook", "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data", "http://100.64.0.1/", "http://0.0.0.0/", "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook", "http://[fd00::1]/hook", "http://[fe80::1]/hook", "http://intranet/hook",
        "https://printer.local/hook", "http://metadata.google.internal/", "ftp://example.com/hook",
    ]

    @Test("a room's webhook endpoint on a loopback, private, link-local or local-only host is refused when given", arguments: privateTargets)
    func roomWebhookRefused(_ url: String) async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let reply = try await server.createRoom(token(key), #"{"webhook":{"endPoint":"\#(url)","events":["session-started"]}}"#)
            #expect(reply.status == 400, "\(url): \(reply.text)")
        }
    }

    @Test("public webhook endpoints are accepted, and --webhook-allow-private lets local ones through")
    func webhookAccepted() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            for url in ["https://hooks.example.com/admit", "http://93.184.216.34:8080/x?y=1", "https://[2606:4700::1111]/h"] {
                let reply = try await server.createRoom(token(key), #"{"webhook":{"endPoint":"\#(url)","events":["session-started"]}}"#)
                #expect(reply.status == 200, "\(url): \(reply.text)")
            }
        }
        try await withServer(testConfiguration { $0.webhookAllowPrivate = true }) { server in
            let key = try await server.createKey()
            let reply = try await server.createRoom(token(key), #"{"webhook":{"endPoint":"http://127.0.0.1:9/h","events":["session-started"]}}"#)
            #expect(reply.status == 200)
        }
    }

    @Test("a job's webhookUrl on an internal address is refused (400), and job starts are limited per API key (429)")
    func jobWebhookAndStartLimit() async throws {
        try await withMeeting({ $0.jobStartsPerMinute = 2 }) { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let api = m.client()
            for url in ["http://127.0.0.1:9/h", "http://169.254.169.254/", "http://[::1]/"] {
                let refused = try await m.failure { try await api.startJob("recordings", roomId: m.roomId, [JSONMember("webhookUrl", .string(url))]) }
                #expect(refused.status == 400, "\(url)")
            }
            _ = try await api.startJob("recordings", roomId: m.roomId)
            // A start refused for another active job is not charged.
            #expect(try await m.failure { try await api.startJob("recordings", roomId: m.roomId) }.status == 409)
            _ = try await api.endJob("recordings", roomId: m.roomId)
            _ = try await api.startJob("recordings", roomId: m.roomId)
            _ = try await api.endJob("recordings", roomId: m.roomId)
            let limited = try await m.failure { try await api.startJob("recordings", roomId: m.roomId) }
            #expect(limited.status == 429)
        }
    }

    @Test("a maximum token lifetime, when set, refuses tokens that expire further ahead (reason lifetime); unset, any lifetime passes")
    func maxLifetime() async throws {
        try await withServer(testConfiguration { $0.maxTokenLifetime = 3600 }) { server in
            let key = try await server.createKey()
            #expect(try await server.rooms(token(key, lifetime: 3600)).status == 200)
            let long = try await server.rooms(token(key, lifetime: 86_400))
            #expect(long.status == 401)
            #expect(long.code == 4002)
            #expect(long.reason == "lifetime")
        }
        try await withServer { server in
            let key = try await server.createKey()
            #expect(try await server.rooms(token(key, lifetime: 9 * 365 * 86_400)).status == 200)
        }
    }
}
