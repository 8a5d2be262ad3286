import AdmitApp
import AdmitClient
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOPosix
import Synchronization
import Testing

@testable import AdmitServer

/// Per-client and per-room structures stay bounded, and address checks say what they should.
@Suite("bounds and address checks")
struct BoundsTests {
    @Test("the rate limiter forgets the least recently seen client, one at a time, never everyone")
    func leastRecentlySeen() {
        let limiter = RateLimiter(perMinute: 2, capacity: 3)
        let now = ContinuousClock.now
        #expect(limiter.allow("busy", now: now))
        #expect(limiter.allow("busy", now: now))
        #expect(!limiter.allow("busy", now: now))
        // An attacker cycling through many addresses: the busy client, seen between them, stays limited.
        for index in 0..<50 {
            _ = limiter.allow("spoof-\(index)", now: now)
            #expect(!limiter.allow("busy", now: now), "the busy client was forgotten after \(index) others")
        }
        #expect(limiter.count == 3)
        // A client not seen for a while is the one forgotten (and comes back with a full bucket).
        let quiet = RateLimiter(perMinute: 1, capacity: 2)
        #expect(quiet.allow("a", now: now))
        #expect(quiet.allow("b", now: now))
        #expect(!quiet.allow("b", now: now))
        #expect(quiet.allow("c", now: now))
        #expect(quiet.allow("a", now: now))
        #expect(!quiet.allow("c", now: now))
    }

    @Test("behind trusted proxies the client is the nearest untrusted address in X-Forwarded-For; otherwise the header is ignored")
    func clientAddress() throws {
        let none = ClientAddress(trustedProxies: [])
        #expect(none.resolve(remote: "203.0.113.9", forwardedFor: "1.2.3.4") == "203.0.113.9")
        let proxied = ClientAddress(trustedProxies: ["10.0.0.2", "10.0.0.3"])
        #expect(proxied.resolve(remote: "10.0.0.2", forwardedFor: "198.51.100.7") == "198.51.100.7")
        #expect(proxied.resolve(remote: "10.0.0.2", forwardedFor: "6.6.6.6, 198.51.100.7, 10.0.0.3") == "198.51.100.7")
        #expect(proxied.resolve(remote: "203.0.113.9", forwardedFor: "198.51.100.7") == "203.0.113.9")
        #expect(proxied.resolve(remote: "10.0.0.2", forwardedFor: nil) == "10.0.0.2")
        #expect(proxied.resolve(remote: "10.0.0.2", forwardedFor: " , ") == "10.0.0.2")
        #expect(proxied.resolve(remote: nil, forwardedFor: "1.1.1.1") == "unknown")
        // An IPv4 proxy seen on a dual-stack socket.
        #expect(proxied.resolve(remote: "::ffff:10.0.0.2", forwardedFor: "198.51.100.7") == "198.51.100.7")
        // A proxy that adds a line of its own: the client's line comes first, the proxy's last.
        var fields = HTTPFields()
        let name = try #require(HTTPField.Name("X-Forwarded-For"))
        fields.append(HTTPField(name: name, value: "6.6.6.6"))
        fields.append(HTTPField(name: name, value: "198.51.100.7"))
        let joined = ClientAddress.forwardedFor(fields)
        #expect(joined == "6.6.6.6,198.51.100.7")
        #expect(proxied.resolve(remote: "10.0.0.2", forwardedFor: joined) == "198.51.100.7")
        #expect(ClientAddress.forwardedFor([:]) == nil)
    }

    @Test("webhook deliveries in flight are bounded: past the limit they are refused, and leaving makes room")
    func deliveryGate() {
        let gate = DeliveryGate()
        #expect((0..<DeliveryGate.limit).allSatisfy { _ in gate.enter() })
        #expect(!gate.enter())
        gate.leave()
        #expect(gate.enter())
    }

    @Test("addresses: loopback, private, link-local, CGNAT, multicast, documentation and embedded forms are not public")
    func addressClasses() {
        func v4(_ text: String) -> [UInt8] { text.split(separator: ".").compactMap { UInt8($0) } }
        for address in [
            "127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.0.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
            "224.0.0.1", "255.255.255.255", "192.0.2.1", "198.18.0.1",
        ] {
            #expect(!AddressClass.isPublic(v4(address)), "\(address)")
        }
        for address in ["93.184.216.34", "8.8.8.8", "172.32.0.1", "100.128.0.1", "1.1.1.1"] {
            #expect(AddressClass.isPublic(v4(address)), "\(address)")
        }
        for literal in [
            "::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "fd12::1", "fe80::1", "ff02::1", "2001:db8::1", "64:ff9b::a00:1", "2002:7f00:1::1",
        ] {
            let bytes = WebhookTarget.numericAddresses(literal)?.first ?? []
            #expect(bytes.count == 16 && !AddressClass.isPublic(bytes), "\(literal)")
        }
        for literal in ["2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808"] {
            #expect(AddressClass.isPublic(WebhookTarget.numericAddresses(literal)?.first ?? []), "\(literal)")
        }
        // Legacy IPv4 forms are read as the resolver reads them.
        #expect(WebhookTarget.numericAddresses("2130706433")?.first == [127, 0, 0, 1])
        #expect(WebhookTarget.numericAddresses("127.1")?.first == [127, 0, 0, 1])
        #expect(WebhookTarget.numericAddresses("example.com") == nil)
    }

    @Test("at delivery a name that resolves to an internal address is refused, whatever it looked like when given")
    func deliveryResolves() async throws {
        let target = WebhookTarget(scheme: "http", host: "localhost", port: 9, target: "/", isLiteral: false)
        #expect(target.resolve(allowPrivate: false) == .failure(.privateAddress))
        guard case .success = target.resolve(allowPrivate: true) else {
            Issue.record("localhost did not resolve")
            return
        }
        // The client refuses before connecting; allowed, it posts and reads the status line.
        let received = Mutex(0)
        let router = Router()
        router.post("/hook") { _, _ -> HTTPResponse.Status in
            received.withLock { $0 += 1 }
            return .accepted
        }
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await receiver.test(.live) { client in
            let port = try #require(client.port)
            let local = WebhookTarget(scheme: "http", host: "localhost", port: port, target: "/hook", isLiteral: false)
            await #expect(throws: WebhookClient.Failure.self) {
                try await WebhookClient.post(local, headers: [], body: Array("{}".utf8), allowPrivate: false)
            }
            #expect(received.withLock { $0 } == 0)
            #expect(
                try await WebhookClient.post(local, headers: [("Content-Type", "application/json")], body: Array("{}".utf8), allowPrivate: true)
                    == 202)
            #expect(received.withLock { $0 } == 1)
        }
    }

    @Test("the session writer remembers live sessions and a bounded ring of ended ones; a stale save of an ended session is skipped")
    func sessionWriterBounded() async throws {
        let repositories = MemoryRepositories()
        let writer = SessionWriter(repositories: repositories, logger: Logger(label: "test"))
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        var version: UInt64 = 0
        for index in 0..<(SessionWriter.endedMemory + 500) {
            version += 1
            let live = SessionRecord(id: "s\(index)", apiKey: "k", roomId: "r", start: start, end: nil, attendees: [])
            await writer.save(live, version: version)
            version += 1
            var ended = live
            ended.end = start.addingTimeInterval(60)
            await writer.save(ended, version: version)
            // A save made before the end, arriving after it, must not reopen the session.
            await writer.save(live, version: version - 1)
        }
        #expect(writer.remembered <= SessionWriter.endedMemory)
        let last = try await repositories.session(apiKey: "k", id: "s\(SessionWriter.endedMemory + 499)")
        #expect(last?.end != nil)
    }

    @Test("a lobby timer is cancelled when its connection goes, so waiters that leave hold no task")
    func lobbyTimersCancelled() async throws {
        let hub = MeetingHub(lobbyTimeout: 300, maxParticipants: 100, repositories: MemoryRepositories(), logger: Logger(label: "test"))
        let room = RoomRef(apiKey: "k", roomId: "r")
        let guest = Claims(apiKey: "k", permissions: .askJoin, lifetime: 600, now: Date().timeIntervalSince1970)
        var connections: [ConnectionID] = []
        for index in 0..<50 {
            let connection = hub.open(
                room: room, config: .object([]), outlet: FrameOutlet.recording(on: MultiThreadedEventLoopGroup.singleton.next()).0)
            await hub.arrive(connection, lobby: true, participantId: "g\(index)", name: "G", claims: guest, mic: false, webcam: false)
            connections.append(connection)
        }
        #expect(hub.lobbyTimerCount == 50)
        for connection in connections { await hub.disconnected(connection) }
        #expect(hub.lobbyTimerCount == 0)
        #expect(hub.counts(room, waiting: nil).lobby == 0)
    }

    @Test("a lobby timeout no clock can reach is clamped, not trapped on, when an embedder sets it")
    func lobbyTimeoutClamped() async {
        for timeout in [Double.infinity, .nan, 1e300, -5] {
            let hub = MeetingHub(lobbyTimeout: timeout, maxParticipants: 10, repositories: MemoryRepositories(), logger: Logger(label: "test"))
            #expect(hub.lobbyTimeout >= 0 && hub.lobbyTimeout <= 86_400)
            let room = RoomRef(apiKey: "k", roomId: "r")
            let connection = hub.open(
                room: room, config: .object([]), outlet: FrameOutlet.recording(on: MultiThreadedEventLoopGroup.singleton.next()).0)
            let guest = Claims(apiKey: "k", permissions: .askJoin, lifetime: 600, now: Date().timeIntervalSince1970)
            await hub.arrive(connection, lobby: true, participantId: "g", name: "G", claims: guest, mic: false, webcam: false)
            await hub.disconnected(connection)
        }
    }

    @Test("the Swift client reads codes and ids as exact integers: 1e300 from a server is no code, not a trap")
    func clientNumbers() {
        let failure = AdmitClient.Failure(status: 400, body: .object([JSONMember("code", .number("1e300"))]))
        #expect(failure.code == nil)
        #expect(AdmitClient.Failure(status: 401, body: .object([JSONMember("code", .number("4002"))])).code == 4002)
    }

    @Test("concurrent seat promises and joins never pass the cap; a joiner's first event is its meeting-joined")
    func concurrentJoinsCap() async throws {
        let hub = MeetingHub(lobbyTimeout: 300, maxParticipants: 3, repositories: MemoryRepositories(), logger: Logger(label: "test"))
        let room = RoomRef(apiKey: "k", roomId: "r")
        let granted = await withTaskGroup(of: Bool.self) { group in
            for index in 0..<40 { group.addTask { hub.reserveSeat(room, participantId: "p\(index)") } }
            return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        #expect(granted == 3)
        // Joins that come without a promise (or after others took the seats) are refused inside the meeting.
        let member = Claims(apiKey: "k", permissions: .allowJoin, lifetime: 600, now: Date().timeIntervalSince1970)
        let recorders = await withTaskGroup(of: FrameRecorder.self) { group in
            for index in 0..<40 {
                group.addTask {
                    let (outlet, recorder) = FrameOutlet.recording(on: MultiThreadedEventLoopGroup.singleton.next())
                    let connection = hub.open(room: room, config: .object([]), outlet: outlet)
                    await hub.arrive(connection, lobby: false, participantId: "p\(index)", name: "P", claims: member, mic: false, webcam: false)
                    return recorder
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(hub.counts(room, waiting: nil).participants == 3)
        // Every loop has run what was handed to it before this.
        for loop in MultiThreadedEventLoopGroup.singleton.makeIterator() { try await loop.submit {}.get() }
        var joined = 0
        for recorder in recorders {
            guard let first = recorder.texts.first else {
                Issue.record("a connection got nothing")
                continue
            }
            if first.contains(#""event":"meeting-joined""#) {
                joined += 1
            } else {
                #expect(first.contains("4009"), "\(first)")
                #expect(recorder.isClosed)
            }
        }
        #expect(joined == 3)
    }

    @Test("reloads that overlap install in the order they started")
    func reloadOrder() {
        let order = ReloadOrder()
        let first = order.begin()
        let second = order.begin()
        var installed: [Int] = []
        order.install(second) { installed.append(2) }
        order.install(first) { installed.append(1) }
        #expect(installed == [2])
    }
}
