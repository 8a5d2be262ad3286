import AdmitClient
import AdmitCore
import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// A PostgreSQL database for the multi-node tests alone (their nodes share one master key, so
/// keys sealed by other tests must not be in it). CI makes one; locally, point this at a throwaway database.
let multiNodePostgres = ProcessInfo.processInfo.environment["ADMIT_TEST_POSTGRES_NODES_URL"]

/// Two nodes on one PostgreSQL (issue 14): what one node or the CLI changes reaches the others
/// through LISTEN/NOTIFY within a second, though their periodic refresh is ten minutes here.
@Suite(
    "many nodes on one PostgreSQL", .timeLimit(.minutes(1)),
    .enabled(if: multiNodePostgres != nil || ProcessInfo.processInfo.environment["ADMIT_REQUIRE_POSTGRES"] == "1"))
struct MultiNodeTests {
    static func node(_ url: String) -> AppConfiguration {
        testConfiguration {
            $0.database = .postgres(url: url)
            $0.masterKey = "mTXp0Qh3gn3Q9uV0bYyJ9yq3S2v0m6Cq0Yx4S9c2XxY="  // both nodes open each other's sealed secrets
            $0.refreshInterval = .seconds(600)
        }
    }

    /// Polls `condition` every 20 ms for up to a second; the time it took, or nil.
    static func within(_ limit: Duration = .seconds(1), _ condition: () async throws -> Bool) async throws -> Duration? {
        let began = ContinuousClock.now
        while ContinuousClock.now - began < limit {
            if try await condition() { return ContinuousClock.now - began }
            try await Task.sleep(for: .milliseconds(20))
        }
        return nil
    }

    @Test("a key, its settings and a revocation made on one node act on the other within a second, live participants included")
    func changesReachEveryNode() async throws {
        let url = try #require(multiNodePostgres, "ADMIT_TEST_POSTGRES_NODES_URL")
        let a = try await buildApplication(configuration: Self.node(url))
        let b = try await buildApplication(configuration: Self.node(url))
        try await a.test(.live) { clientA in
            try await b.test(.live) { clientB in
                let nodeA = Harness(client: clientA)
                let nodeB = Harness(client: clientB)
                let idA = try await nodeA.call(.get, "/health").json["node"]?["id"]
                let idB = try await nodeB.call(.get, "/health").json["node"]?["id"]
                #expect(idA != nil && idA != idB, "each node names itself in /health")

                // A key made on A: B takes its tokens within a second.
                let key = try await nodeA.createKey("multi-node")
                let keyTook = try await Self.within { try await nodeB.createRoom(token(key)).status == 200 }
                #expect(keyTook != nil, "B did not take A's new key within a second")
                let roomId = try #require(try await nodeB.createRoom(token(key)).json["roomId"]?.stringValue)

                // Settings changed on A: B's effective configuration within a second.
                #expect(try await nodeA.admin(.put, "/admin/v1/api-keys/\(key.apiKey)/settings", body: #"{"maxSendBitrate":"fullhd"}"#).status == 200)
                let settingsTook = try await Self.within {
                    try await nodeB.admin(.get, "/admin/v1/rooms/\(roomId)/effective-config").json["maxSendBitrate"]?["value"] == .string("fullhd")
                }
                #expect(settingsTook != nil, "B did not see A's settings within a second")

                // A room B has cached, deactivated through A: B refuses it within a second (4052).
                #expect(try await nodeB.validate(token(key), roomId).status == 200)
                #expect(try await nodeA.deactivateRoom(token(key), roomId).status == 200)
                let roomTook = try await Self.within { try await nodeB.validate(token(key), roomId).code == 4052 }
                #expect(roomTook != nil, "B still took the room A deactivated after a second")
                let liveRoom = try #require(try await nodeB.createRoom(token(key)).json["roomId"]?.stringValue)

                // A participant on B, revoked through A: removed on B within a second (1010).
                let portB = try #require(clientB.port)
                let bob = Reader(
                    try await AdmitClient(baseURL: URL(string: "http://127.0.0.1:\(portB)")!, token: token(key)).join(
                        roomId: liveRoom, .init(participantId: "bob")))
                _ = try await bob.next("meeting-joined")
                let revokedAt = ContinuousClock.now
                #expect(
                    try await nodeA.admin(.post, "/admin/v1/revocations", body: #"{"apiKey":"\#(key.apiKey)","participantId":"bob"}"#).status == 200)
                let left = try await bob.skip(to: "meeting-left")
                #expect(left.reasonCode == 1010 && ContinuousClock.now - revokedAt < .seconds(1), "bob left after \(ContinuousClock.now - revokedAt)")
                #expect(try await nodeB.createRoom(token(key, participantId: "bob")).status == 401, "B refuses the revoked participant's tokens")

                // A deactivation on A reaches B too.
                #expect(try await nodeA.deactivateKey(key.apiKey).status == 200)
                let deactivatedTook = try await Self.within { try await nodeB.createRoom(token(key)).status != 200 }
                #expect(deactivatedTook != nil, "B still took the deactivated key's tokens after a second")
                print(
                    "multi-node propagation: key \(keyTook.map { "\($0)" } ?? "-"), settings \(settingsTook.map { "\($0)" } ?? "-"), "
                        + "deactivation \(deactivatedTook.map { "\($0)" } ?? "-") (polled every 20 ms)")
            }
        }
    }
}
