import AdmitClient
import AdmitCore
import AdmitToken
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

@testable import AdmitServer

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
        try #require(try await m.sfuState("up", within: .seconds(2)) == .string("up"), "the fake Janus never came up")
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
                // Hangups about strangers still change nothing: the publisher still counts as up
                // (a new subscription to it works); the publisher's own hangup stops its streams.
                await janus.push(Self.event("hangup", sender: .number("1")))
                await janus.push(Self.event("detached", sender: .number("2")))
                try await Task.sleep(for: .milliseconds(100))
                try await host.connection.unsubscribe(subscription.subscriptionId)
                let again = try await host.connection.subscribe(to: "guest")
                #expect(again.subscriptionId != subscription.subscriptionId)
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
                // Long enough that "answered at once" holds on a loaded machine (400 ms failed once
                // in a full run), short enough to wait out twice.
                $0.mediaAnswerTimeout = .seconds(1)
            }) { m in
                try await Self.up(m)
                let (host, _, handle) = try await Self.publishing(janus, m)
                await janus.push(Self.event("webrtcup", sender: handle))
                _ = try await host.skip(to: "stream-enabled")
                let left = try await host.connection.subscribe(to: "guest")
                // The subscriber's handle: the one its `join` as a subscriber went to.
                let subscriberHandle = try #require(
                    janus.requests("message").last { $0["body"]?["ptype"] == .string("subscriber") }?["handle_id"])
                #expect(!janus.requests("detach").contains { $0["handle_id"] == subscriberHandle })
                try await Task.sleep(for: .milliseconds(2200))
                let late = try await #require(throws: MeetingConnection.RequestFailed.self) {
                    try await host.connection.subscribeAnswer(left.subscriptionId, answer: CannedSDP.answer(to: left.offer))
                }
                #expect(late.code == 4092)
                // The detach goes to Janus on the bridge's own queue: allow it a moment on a loaded machine.
                for _ in 0..<100 where !janus.requests("detach").contains(where: { $0["handle_id"] == subscriberHandle }) {
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(janus.requests("detach").contains { $0["handle_id"] == subscriberHandle })
                // Answered at once: still there after the timeout.
                let kept = try await host.connection.subscribe(to: "guest")
                try await host.connection.subscribeAnswer(kept.subscriptionId, answer: CannedSDP.answer(to: kept.offer))
                try await Task.sleep(for: .milliseconds(2200))
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
                // The last room's creation takes 300 ms, then its destroy: allow a loaded machine 5 s.
                var created: Set<String> = []
                var destroyed: Set<String> = []
                for _ in 0..<250 {
                    created = Set(janus.plugin("create").compactMap { $0["room"]?.jsonText })
                    destroyed = Set(janus.plugin("destroy").compactMap { $0["room"]?.jsonText })
                    if !created.isEmpty, created == destroyed { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                // A session that ended before its turn in the room's queue gets no room at all.
                #expect(!created.isEmpty)
                #expect(created == destroyed, "left in Janus: \(created.subtracting(destroyed))")
            }
        }
    }
}

extension MediaBridgeTests {
    @Test("a hung SFU holds up neither the connection's other requests nor its departure; at most 32 media requests wait (4029)")
    func mediaOffTheReadLoop() async throws {
        try await FakeJanus.with { janus in
            try await withMeeting({ $0.janusURL = janus.url }) { m in
                try await Self.up(m)
                let (host, guest, _) = try await Self.publishing(janus, m)
                let roomA = try #require(janus.janusRoom(of: m.roomId))
                janus.state.withLock { _ = $0.slowRooms.insert(roomA) }
                // Renegotiations now take Janus 2 s each: one runs, 32 wait, the rest are refused.
                let (results, sink) = AsyncStream<Int>.makeStream()
                let burst = Task {
                    await withTaskGroup(of: Void.self) { group in
                        for _ in 0..<40 {
                            group.addTask {
                                do {
                                    _ = try await guest.connection.publish(offer: CannedSDP.offer)
                                    sink.yield(0)
                                } catch let failure as MeetingConnection.RequestFailed {
                                    sink.yield(failure.code)
                                } catch {
                                    sink.yield(-1)
                                }
                            }
                        }
                    }
                }
                var refused = 0
                for await code in results {
                    if code == 4029 { refused += 1 }
                    if refused == 7 { break }
                }
                #expect(refused == 7, "40 publishes: one in flight, 32 waiting, 7 refused")
                // The connection's meeting requests still answer at once. Behind the 33 media
                // requests (2 s each) they would wait over a minute; the bound leaves room for a
                // loaded run (the whole suite in parallel took 1.7 s once).
                let began = ContinuousClock.now
                try await guest.connection.setMic(true)
                #expect(ContinuousClock.now - began < .seconds(5))
                // And its departure is not held up by the media requests waiting.
                let leaving = ContinuousClock.now
                try await guest.connection.leave()
                _ = try await host.skip(to: "participant-left")
                #expect(ContinuousClock.now - leaving < .seconds(5))
                burst.cancel()
                sink.finish()
            }
        }
    }
}

@Suite("Janus's HTTP client: failures are errors, never hangs or unbounded reads", .timeLimit(.minutes(1)))
struct JanusHTTPTests {
    @Test("a status other than 200, a body over 1 MiB, a server that never answers, a closed port")
    func failures() async throws {
        let router = Router()
        router.post("/janus/status") { _, _ in Response(status: .internalServerError) }
        router.get("/janus/big") { _, _ in String(repeating: "x", count: 2 << 20) }
        router.get("/janus/slow") { _, _ in
            try await Task.sleep(for: .seconds(10))
            return "late"
        }
        router.get("/janus/ok") { _, _ in #"{"janus":"keepalive"}"# }
        let app = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let endpoint = try #require(JanusHTTP.Endpoint("http://127.0.0.1:\(port)/janus"))
            #expect(endpoint.base == "/janus" && endpoint.port == port)
            #expect(try await JanusHTTP.exchange(endpoint, path: "/janus/ok", body: nil, timeout: .seconds(5)) == #"{"janus":"keepalive"}"#)
            await #expect(throws: (any Error).self) {
                try await JanusHTTP.exchange(endpoint, path: "/janus/status", body: "{}", timeout: .seconds(5))
            }
            await #expect(throws: (any Error).self) { try await JanusHTTP.exchange(endpoint, path: "/janus/big", body: nil, timeout: .seconds(5)) }
            let began = ContinuousClock.now
            await #expect(throws: (any Error).self) {
                try await JanusHTTP.exchange(endpoint, path: "/janus/slow", body: nil, timeout: .milliseconds(300))
            }
            #expect(ContinuousClock.now - began < .seconds(3))
        }
        let closed = try #require(JanusHTTP.Endpoint("http://127.0.0.1:1/janus"))
        await #expect(throws: (any Error).self) { try await JanusHTTP.exchange(closed, path: "/janus", body: "{}", timeout: .seconds(2)) }
        #expect(JanusHTTP.Endpoint("ftp://x/janus") == nil && JanusHTTP.Endpoint("http://x/janus?a=b") == nil)
        #expect(JanusHTTP.Endpoint("https://janus.internal:8089")?.base == "/janus")
    }
}
