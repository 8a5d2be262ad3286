import AdmitServer
import AdmitToken
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("operations and persistence")
struct OperationsTests {
    @Test("health needs no auth; metrics count requests and verifications by outcome")
    func healthAndMetrics() async throws {
        try await withServer(testConfiguration { $0.nodeId = "node-a" }) { server in
            // Liveness, with the node's name and the parts' state: no SFU is configured here.
            // A node of its own (SQLite, memory) owns no room through a lease and hears no other node.
            let health = try await server.call(.get, "/health").json
            #expect(health["status"] == .string("ok") && health["sfu"]?["state"] == .string("none"))
            #expect(health["node"]?["id"] == .string("node-a") && health["node"]?["roomsOwned"] == .number("0"))
            #expect(health["node"]?["relayLagMs"] == .null)
            let key = try await server.createKey()
            _ = try await server.rooms(token(key))
            _ = try await server.rooms("garbage")
            let metrics = try await server.call(.get, "/metrics")
            #expect(metrics.status == 200)
            #expect(metrics.text.contains(#"admit_token_verifications_total{outcome="valid"} 1"#))
            #expect(metrics.text.contains(#"admit_token_verifications_total{outcome="malformed"} 1"#))
            #expect(metrics.text.contains(#"admit_http_requests_total{method="GET",route="/v2/rooms",status="401"} 1"#))
            #expect(metrics.text.contains("admit_http_request_duration_seconds_bucket"))
        }
    }

    @Test("unknown endpoints and methods answer JSON errors")
    func unknown() async throws {
        try await withServer { server in
            let reply = try await server.call(.get, "/v3/nothing")
            #expect(reply.status == 404)
            #expect(reply.json["statusCode"] == .number("404"))
        }
    }

    @Test("stop the server, start it on the same data: keys, secrets and rooms are there")
    func restartPersistence() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("admit-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let configuration = testConfiguration {
            $0.database = .sqlite(path: directory.appendingPathComponent("admit.sqlite").path)
            $0.masterKey = "mTXp0Qh3gn3Q9uV0bYyJ9yq3S2v0m6Cq0Yx4S9c2XxY="
            // Each start listens on a port of its own: one public URL keeps the rooms' links equal.
            $0.publicURL = "https://admit.example"
        }
        let (key, room) = try await withServer(configuration, mode: .live) { server in
            let key = try await server.createKey()
            return (key, try await server.createRoom(token(key), #"{"customRoomId":"kept"}"#).json)
        }
        try await withServer(configuration, mode: .live) { (server: Harness) async throws -> Void in
            #expect(try await server.room(token(key), "kept").json == room)
            #expect(try await server.admin(.get, "/admin/v1/api-keys").json["data"]?.jsonText.contains(key.apiKey) == true)
        }
        let database = try Data(contentsOf: directory.appendingPathComponent("admit.sqlite"))
        #expect(database.range(of: Data(key.secret.utf8)) == nil, "the secret is sealed at rest")
    }
}

@Suite("two servers on one database")
struct SharedDatabaseTests {
    @Test("a room made on one server is found on the other at once; a deactivation reaches it within the refresh interval")
    func roomCache() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("admit-shared-\(UUID()).sqlite").path
        let configuration = testConfiguration {
            $0.database = .sqlite(path: path)
            $0.masterKey = "mTXp0Qh3gn3Q9uV0bYyJ9yq3S2v0m6Cq0Yx4S9c2XxY="
            $0.refreshInterval = .milliseconds(300)
        }
        let key = try await withServer(configuration, mode: .live) { server in try await server.createKey() }
        let first = try await buildApplication(configuration: configuration)
        let second = try await buildApplication(configuration: configuration)
        try await first.test(.live) { a in
            try await second.test(.live) { b in
                let (serverA, serverB) = (Harness(client: a), Harness(client: b))
                let room = try #require(try await serverA.createRoom(token(key)).json["roomId"]?.stringValue)
                #expect(try await serverB.validate(token(key), room).status == 200)
                #expect(try await serverA.deactivateRoom(token(key), room).status == 200)
                #expect(try await serverA.validate(token(key), room).code == 4052)
                try await Task.sleep(for: .milliseconds(400))
                #expect(try await serverB.validate(token(key), room).code == 4052)
            }
        }
    }
}
