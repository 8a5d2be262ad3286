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

    /// Two live nodes on the multi-node database: each one's harness and port.
    static func withTwoNodes(
        _ body: @escaping @Sendable (_ nodeA: Harness, _ portA: Int, _ nodeB: Harness, _ portB: Int) async throws -> Void
    ) async throws {
        let url = try #require(multiNodePostgres, "ADMIT_TEST_POSTGRES_NODES_URL")
        let a = try await buildApplication(configuration: node(url))
        let b = try await buildApplication(configuration: node(url))
        try await a.test(.live) { clientA in
            try await b.test(.live) { clientB in
                try await body(Harness(client: clientA), try #require(clientA.port), Harness(client: clientB), try #require(clientB.port))
            }
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
        try await Self.withTwoNodes { nodeA, portA, nodeB, portB in
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

    /// A member of a meeting through `port`'s node.
    static func join(
        _ port: Int, _ key: (apiKey: String, secret: String), _ roomId: String, _ participantId: String, permissions: Permissions = .allowJoin
    ) async throws -> Reader {
        let client = AdmitClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: token(key, permissions: permissions))
        return Reader(try await client.join(roomId: roomId, .init(participantId: participantId)))
    }

    @Test("one room, one meeting and one session across two nodes: lobby, moderation, revocation and the server API act wherever each participant is")
    func oneMeetingAcrossNodes() async throws {
        try await Self.withTwoNodes { nodeA, portA, nodeB, portB in
            let key = try await nodeA.createKey("one-meeting")
            #expect(try await Self.within { try await nodeB.createRoom(token(key)).status == 200 } != nil)
            let roomId = try #require(try await nodeA.createRoom(token(key)).json["roomId"]?.stringValue)

            // The host joins on A (A owns the room); a guest asks on B: the host on A hears it and admits it.
            let host = try await Self.join(portA, key, roomId, "host", permissions: [.allowJoin, .allowMod])
            _ = try await host.next("meeting-joined")
            let guest = try await Self.join(portB, key, roomId, "guest", permissions: .askJoin)
            #expect(try await host.next("entry-requested").participantId == "guest", "the host on A hears the guest waiting on B")
            try await host.connection.respondEntry(participantId: "guest", allowed: true)
            #expect(try await guest.next("entry-responded").body["decision"] == .string("allowed"))
            #expect(try await host.next("entry-responded").body["decision"] == .string("allowed"))
            let joined = try await guest.next("meeting-joined")
            #expect(joined.body["participants"]?.jsonText.contains("host") == true, "the guest on B sees the host on A: \(joined)")
            #expect(try await host.next("participant-joined").participantId == "guest")

            // A moderator on B turns the host's mic off on A: both hear it.
            let moderator = try await Self.join(portB, key, roomId, "moderator", permissions: [.allowJoin, .allowMod])
            _ = try await moderator.next("meeting-joined")
            #expect(try await host.next("participant-joined").participantId == "moderator")
            _ = try await guest.next("participant-joined")
            try await moderator.connection.disableMic(participantId: "host")
            let muted = try await host.next("mic-changed")
            #expect(muted.participantId == "host" && muted.body["enabled"] == .bool(false))
            #expect(try await moderator.skip(to: "mic-changed").participantId == "host")

            // A request too large for one notification (an offer of 12 KB) crosses through the
            // relay table, and its answer comes back: no SFU here, so 4090.
            let padding = (0..<120).map { "a=x-padding-\($0):" + String(repeating: "p", count: 80) }.joined(separator: "\r\n")
            let large = CannedSDP.offer + padding + "\r\n"
            #expect(large.utf8.count > 10_000)
            do {
                _ = try await moderator.connection.publish(offer: large)
                Issue.record("publish without an SFU was answered ok")
            } catch let failure as MeetingConnection.RequestFailed {
                #expect(failure.code == 4090, "the relayed large request's answer: \(failure)")
            }

            // One live session, whichever node is asked, with everyone in it.
            for node in [nodeA, nodeB] {
                let sessions = try await node.call(.get, "/v2/sessions?roomId=\(roomId)", token: token(key)).json["data"]
                guard case .array(let items)? = sessions else {
                    Issue.record("no session list: \(String(describing: sessions))")
                    continue
                }
                let live = items.filter { $0["status"] == .string("ongoing") }
                #expect(items.count == 1 && live.count == 1, "one session, live: \(items.map(\.jsonText))")
                let attendees = live.first?["participants"]?.jsonText ?? ""
                #expect(["host", "guest", "moderator"].allSatisfy(attendees.contains), "attendees: \(attendees)")
            }

            // B's dashboard shows the meeting A runs, and admits a guest waiting on A.
            let late = try await Self.join(portA, key, roomId, "late", permissions: .askJoin)
            _ = try await host.skip(to: "entry-requested")
            let overview = try await nodeB.admin(.get, "/admin/v1/rooms").json["rooms"]
            guard case .array(let rooms)? = overview, let shown = rooms.first(where: { $0["roomId"] == .string(roomId) }) else {
                Issue.record("B's overview lacks the room: \(String(describing: overview))")
                return
            }
            let people = shown["live"]?["participants"]?.jsonText ?? ""
            #expect(["host", "guest", "moderator"].allSatisfy(people.contains), "B's overview of A's meeting: \(shown.jsonText)")
            #expect(shown["live"]?["lobby"]?.jsonText.contains("late") == true)
            #expect(
                try await nodeB.admin(.post, "/admin/v1/rooms/\(roomId)/lobby", body: #"{"participantId":"late","allow":true}"#).status == 204)
            _ = try await late.skip(to: "meeting-joined")

            // A recording started through B (the server API) and its worker's report to B reach the host on A.
            let started = try await nodeB.call(.post, "/v2/recordings/start", token: token(key), body: #"{"roomId":"\#(roomId)"}"#)
            #expect(started.status == 200, "recording start through B: \(started.text)")
            #expect(try await host.skip(to: "recording-state-changed").body["status"] == .string("RECORDING_STARTING"))
            // This database outlives test runs: earlier runs' jobs may be claimed first.
            var jobId: String?
            for _ in 0..<50 where jobId == nil {
                let claimed = try await nodeB.admin(.post, "/admin/v1/jobs/claim", body: #"{"kinds":["recording"]}"#).json
                guard let id = claimed["id"]?.stringValue else { break }
                if claimed["roomId"] == .string(roomId) { jobId = id }
            }
            let ownJob = try #require(jobId, "a worker on B claims the job")
            #expect(try await nodeB.admin(.post, "/admin/v1/jobs/\(ownJob)/status", body: #"{"status":"started"}"#).status == 200)
            #expect(try await host.skip(to: "recording-state-changed").body["status"] == .string("RECORDING_STARTED"))

            // Revoked through A, the guest on B leaves within a second (1010).
            let revokedAt = ContinuousClock.now
            #expect(
                try await nodeA.admin(.post, "/admin/v1/revocations", body: #"{"apiKey":"\#(key.apiKey)","participantId":"guest"}"#).status == 200
            )
            let revoked = try await guest.skip(to: "meeting-left")
            #expect(
                revoked.reasonCode == 1010 && ContinuousClock.now - revokedAt < .seconds(1), "guest left after \(ContinuousClock.now - revokedAt)"
            )
            #expect(try await host.skip(to: "participant-left").participantId == "guest")

            // The server API's end through B ends the meeting A owns, for everyone (1009).
            #expect(try await nodeB.call(.post, "/v2/sessions/end", token: token(key), body: #"{"roomId":"\#(roomId)"}"#).status == 200)
            #expect(try await host.skip(to: "meeting-left").reasonCode == 1009)
            #expect(try await moderator.skip(to: "meeting-left").reasonCode == 1009)
        }
    }

    @Test("concurrent joins to one room on two nodes: one meeting, one session, everyone sees everyone")
    func concurrentJoins() async throws {
        try await Self.withTwoNodes { nodeA, portA, nodeB, portB in
            let ports = [portA, portB]
            let key = try await nodeA.createKey("concurrent")
            #expect(try await Self.within { try await nodeB.createRoom(token(key)).status == 200 } != nil)
            for round in 0..<3 {
                let roomId = try #require(try await nodeB.createRoom(token(key)).json["roomId"]?.stringValue)
                let count = 8
                let readers = try await withThrowingTaskGroup(of: Reader.self) { group in
                    for index in 0..<count {
                        group.addTask { try await Self.join(ports[index % 2], key, roomId, "p\(index)") }
                    }
                    return try await group.reduce(into: [Reader]()) { $0.append($1) }
                }
                // Each sees the meeting-joined, then hears of everyone who came after it: together, all.
                for reader in readers {
                    let joined = try await reader.next("meeting-joined")
                    guard case .array(let present)? = joined.body["participants"] else {
                        Issue.record("no participants in \(joined)")
                        continue
                    }
                    // Others, and itself.
                    var seen = Set(present.compactMap { $0["participantId"]?.stringValue } + [joined.participantId ?? ""])
                    while seen.count < count {
                        let event = try await reader.next("participant-joined")
                        if let id = event.participantId { seen.insert(id) }
                    }
                    #expect(seen.count == count)
                }
                let sessions = try await nodeA.call(.get, "/v2/sessions?roomId=\(roomId)", token: token(key)).json["data"]
                guard case .array(let items)? = sessions else {
                    Issue.record("no session list")
                    return
                }
                #expect(items.count == 1, "round \(round): one session, not \(items.count)")
                for reader in readers { reader.connection.close() }
            }
        }
    }
}
