import AdmitClient
import AdmitCore
import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// The media bridge against a scripted Janus (`FakeJanus`): what a real one will not do on
/// demand. Media itself is tested against the real Janus (MediaTests, Tests/media).
@Suite("media bridge: Janus's events, subscriptions left unanswered, rooms apart", .timeLimit(.minutes(1)))
struct MediaBridgeTests {
    /// A meeting on the fake Janus: host and a publishing guest, the guest's publisher handle.
    static func publishing(
        _ janus: FakeJanus, _ m: MeetingHarness, roomId: String? = nil
    ) async throws -> (host: Reader, guest: Reader, handle: JSONValue) {
        let room = roomId ?? m.roomId
        let host = Reader(try await m.client().join(roomId: room, .init(participantId: "host")))
        _ = try await host.next("meeting-joined")
        let guest = Reader(try await m.client().join(roomId: room, .init(participantId: "guest", micEnabled: true, webcamEnabled: true)))
        _ = try await guest.next("meeting-joined")
        _ = try await host.skip(to: "participant-joined")
        let before = janus.plugin("publish").count
        _ = try await guest.connection.publish(offer: CannedSDP.offer)
        let published = janus.state.withLock { $0.requests }.filter { $0["body"]?["request"]?.stringValue == "publish" }
        #expect(published.count == before + 1)
        return (host, guest, try #require(published.last?["handle_id"]))
    }

    static func event(_ kind: String, sender: JSONValue) -> JSONValue {
        .object([JSONMember("janus", .string(kind)), JSONMember("session_id", .number("1001")), JSONMember("sender", sender)])
    }

    static func up(_ m: MeetingHarness) async throws {
        for _ in 0..<100 {
            if try await m.admin.call(.get, "/health").json["sfu"]?["state"] == .string("up") { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        Issue.record("the fake Janus never came up")
    }

    @Test("an event about a handle Admit did not make is ignored; Admit's own publisher's are followed")
    func unknownHandles() async throws {
        try await FakeJanus.with { janus in
            try await withMeeting({ $0.janusURL = janus.url }) { m in
                try await Self.up(m)
                let (host, _, handle) = try await Self.publishing(janus, m)
                // Events about handles Admit never attached: no stream is announced, nothing stops.
                for kind in ["webrtcup", "hangup", "detached", "media"] {
                    await janus.push(Self.event(kind, sender: .number("987654321")))
                }
                let early = try await #require(throws: MeetingConnection.RequestFailed.self) { try await host.connection.subscribe(to: "guest") }
                #expect(early.code == 4092)
                // The publisher's own PeerConnection coming up: the room hears both streams, and may subscribe.
                await janus.push(Self.event("webrtcup", sender: handle))
                let first = try await host.next("stream-enabled").body
                let second = try await host.next("stream-enabled").body
                #expect(
                    Set([first["kind"]?.stringValue, second["kind"]?.stringValue]) == ["audio", "video"] && first["participantId"] == .string("guest")
                )
                let subscription = try await host.connection.subscribe(to: "guest")
                #expect(!subscription.subscriptionId.isEmpty)
                // Hangups about strangers still change nothing; the publisher's own stops its streams.
                await janus.push(Self.event("hangup", sender: .number("1")))
                await janus.push(Self.event("hangup", sender: handle))
                let stopped = try await host.next("stream-disabled").body
                #expect(stopped["participantId"] == .string("guest"))
            }
        }
    }

    @Test("a subscription left unanswered is detached after the answer timeout; an answered one stays")
    func unansweredSubscriptions() async throws {
        try await FakeJanus.with { janus in
            try await withMeeting({
                $0.janusURL = janus.url
                $0.mediaAnswerTimeout = .milliseconds(400)
            }) { m in
                try await Self.up(m)
                let (host, _, handle) = try await Self.publishing(janus, m)
                await janus.push(Self.event("webrtcup", sender: handle))
                _ = try await host.skip(to: "stream-enabled")
                let attachesBefore = janus.requests("attach").count
                let left = try await host.connection.subscribe(to: "guest")
                let leftHandle = try #require(janus.requests("attach").count > attachesBefore ? janus.plugin("join").last : nil)
                #expect(leftHandle["ptype"] == .string("subscriber"))
                try await Task.sleep(for: .milliseconds(900))
                let late = try await #require(throws: MeetingConnection.RequestFailed.self) {
                    try await host.connection.subscribeAnswer(left.subscriptionId, answer: CannedSDP.answer(to: left.offer))
                }
                #expect(late.code == 4092)
                let detached = janus.requests("detach").count
                #expect(detached >= 1)
                // Answered at once: still there after the timeout.
                let kept = try await host.connection.subscribe(to: "guest")
                try await host.connection.subscribeAnswer(kept.subscriptionId, answer: CannedSDP.answer(to: kept.offer))
                try await Task.sleep(for: .milliseconds(900))
                try await host.connection.unsubscribe(kept.subscriptionId)
            }
        }
    }

    @Test("a slow room holds up no other: moderation in room B reaches Janus while room A's waits")
    func roomsApart() async throws {
        try await FakeJanus.with { janus in
            try await withMeeting({ $0.janusURL = janus.url }) { m in
                try await Self.up(m)
                let other = try #require(try await m.client().createRoom(customRoomId: "other")["roomId"]?.stringValue)
                let a = try await Self.publishing(janus, m)
                let b = try await Self.publishing(janus, m, roomId: other)
                let roomA = try #require(janus.janusRoom(of: m.roomId))
                let roomB = try #require(janus.janusRoom(of: other))
                janus.state.withLock { _ = $0.slowRooms.insert(roomA) }
                let moderatedBefore = janus.plugin("moderate").count
                try await a.host.connection.disableWebcam(participantId: "guest")
                try await Task.sleep(for: .milliseconds(100))
                try await b.host.connection.disableWebcam(participantId: "guest")
                let began = ContinuousClock.now
                var reachedB = false
                while ContinuousClock.now - began < .seconds(1.5) {
                    let moderated = janus.plugin("moderate").dropFirst(moderatedBefore)
                    if moderated.contains(where: { $0["room"].flatMap { UInt64($0.jsonText) } == roomB }) {
                        reachedB = true
                        break
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(reachedB, "room B's moderation waited behind room A's")
                #expect(janus.plugin("moderate").dropFirst(moderatedBefore).contains { $0["room"].flatMap { UInt64($0.jsonText) } == roomA })
            }
        }
    }

    @Test("every VideoRoom created is destroyed once its session ends, its creation still under way and a publish racing the end")
    func endRaces() async throws {
        try await FakeJanus.with { janus in
            try await withMeeting({ $0.janusURL = janus.url }) { m in
                try await Self.up(m)
                // Each room is still being created when the publish and the end come.
                janus.state.withLock { $0.slowCreates = .milliseconds(300) }
                for round in 0..<3 {
                    let host = Reader(try await m.client().join(roomId: m.roomId, .init(participantId: "host\(round)")))
                    _ = try await host.next("meeting-joined")
                    let guest = Reader(try await m.client().join(roomId: m.roomId, .init(participantId: "guest\(round)")))
                    _ = try await guest.next("meeting-joined")
                    async let publishing: String? = try? guest.connection.publish(offer: CannedSDP.offer)
                    try await host.connection.end()
                    _ = await publishing
                    #expect(try await host.skip(to: "meeting-left").reasonCode == 1006)
                }
                try await Task.sleep(for: .milliseconds(500))
                let created = Set(janus.plugin("create").compactMap { $0["room"]?.jsonText })
                let destroyed = Set(janus.plugin("destroy").compactMap { $0["room"]?.jsonText })
                // A session that ended before its turn in the room's queue gets no room at all.
                #expect(!created.isEmpty)
                #expect(created == destroyed, "left in Janus: \(created.subtracting(destroyed))")
            }
        }
    }
}
