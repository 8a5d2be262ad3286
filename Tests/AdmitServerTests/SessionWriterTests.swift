import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Logging
import NIOPosix
import Synchronization
import Testing

@testable import AdmitServer

/// Memory repositories whose session writes fail on demand: a statement of more than one
/// session, or any write of the sessions named in `failing`.
final class FlakySessions: Repositories {
    let inner = MemoryRepositories()
    let failBatches = Mutex(true)
    let failing = Mutex<Set<String>>([])
    let statements = Mutex(0)
    /// The number of sessions in each statement, in order.
    let sizes = Mutex<[Int]>([])
    /// While `holding`, a statement waits until it is let go (`release`).
    let gate = Mutex<(holding: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    func hold() { gate.withLock { $0.holding = true } }

    func release() {
        let waiter = gate.withLock { gate in
            defer { gate = (false, nil) }
            return gate.waiter
        }
        waiter?.resume()
    }

    func saveSessions(_ sessions: [SessionRecord]) async throws {
        statements.withLock { $0 += 1 }
        sizes.withLock { $0.append(sessions.count) }
        if gate.withLock({ $0.holding }) {
            await withCheckedContinuation { continuation in
                let held = gate.withLock { gate in
                    if gate.holding { gate.waiter = continuation }
                    return gate.holding
                }
                if !held { continuation.resume() }
            }
        }
        if sessions.count > 1, failBatches.withLock({ $0 }) { throw StoreError("batch refused") }
        if sessions.contains(where: { id in failing.withLock { $0.contains(id.id) } }) { throw StoreError("row refused") }
        try await inner.saveSessions(sessions)
    }
    func session(apiKey: String, id: String) async throws -> SessionRecord? { try await inner.session(apiKey: apiKey, id: id) }
    func sessions(apiKey: String, roomId: String?, page: Int, perPage: Int) async throws -> Page<SessionRecord> {
        try await inner.sessions(apiKey: apiKey, roomId: roomId, page: page, perPage: perPage)
    }
    func insertKey(_ key: APIKeyRecord) async throws { try await inner.insertKey(key) }
    func insertDashboardSession(_ session: DashboardSessionRecord) async throws { try await inner.insertDashboardSession(session) }
    func takeRoomLease(apiKey: String, roomId: String, node: String, for duration: TimeInterval) async throws -> RoomLease {
        try await inner.takeRoomLease(apiKey: apiKey, roomId: roomId, node: node, for: duration)
    }
    func renewRoomLeases(node: String, for duration: TimeInterval) async throws -> [RoomLease] {
        try await inner.renewRoomLeases(node: node, for: duration)
    }
    func releaseRoomLease(apiKey: String, roomId: String, node: String) async throws {
        try await inner.releaseRoomLease(apiKey: apiKey, roomId: roomId, node: node)
    }
    func roomLease(apiKey: String, roomId: String) async throws -> RoomLease? { try await inner.roomLease(apiKey: apiKey, roomId: roomId) }
    func deleteLapsedLeases(apiKey: String, olderThan age: TimeInterval) async throws {
        try await inner.deleteLapsedLeases(apiKey: apiKey, olderThan: age)
    }
    func leases(apiKey: String) async throws -> [RoomLease] { try await inner.leases(apiKey: apiKey) }
    func dashboardSession(digest: String) async throws -> DashboardSessionRecord? { try await inner.dashboardSession(digest: digest) }
    func deleteDashboardSession(digest: String) async throws { try await inner.deleteDashboardSession(digest: digest) }
    func deleteDashboardSessions(expiredBefore now: Date) async throws { try await inner.deleteDashboardSessions(expiredBefore: now) }
    func key(_ apiKey: String) async throws -> APIKeyRecord? { try await inner.key(apiKey) }
    func keys() async throws -> [APIKeyRecord] { try await inner.keys() }
    func rotateKey(apiKey: String, sealedSecret: Data, previousValidUntil: Date, now: Date) async throws -> APIKeyRecord? {
        try await inner.rotateKey(apiKey: apiKey, sealedSecret: sealedSecret, previousValidUntil: previousValidUntil, now: now)
    }
    func deactivateKey(apiKey: String, now: Date) async throws -> APIKeyRecord? { try await inner.deactivateKey(apiKey: apiKey, now: now) }
    func updateSettings(apiKey: String, settings: String?, expected: String?) async throws -> Bool {
        try await inner.updateSettings(apiKey: apiKey, settings: settings, expected: expected)
    }
    func insertRoom(_ room: RoomRecord) async throws -> RoomRecord { try await inner.insertRoom(room) }
    func room(apiKey: String, id: String) async throws -> RoomRecord? { try await inner.room(apiKey: apiKey, id: id) }
    func room(roomId: String) async throws -> RoomRecord? { try await inner.room(roomId: roomId) }
    func rooms(apiKey: String, page: Int, perPage: Int) async throws -> Page<RoomRecord> {
        try await inner.rooms(apiKey: apiKey, page: page, perPage: perPage)
    }
    func updateRoom(_ room: RoomRecord) async throws { try await inner.updateRoom(room) }
    func insertRevocation(_ revocation: RevocationRecord) async throws { try await inner.insertRevocation(revocation) }
    func revocations() async throws -> [RevocationRecord] { try await inner.revocations() }
    func insertJob(_ job: JobRecord) async throws -> Bool { try await inner.insertJob(job) }
    func job(id: String) async throws -> JobRecord? { try await inner.job(id: id) }
    func activeJob(apiKey: String, roomId: String, kind: String) async throws -> JobRecord? {
        try await inner.activeJob(apiKey: apiKey, roomId: roomId, kind: kind)
    }
    func jobs(apiKey: String, roomId: String?, kind: String, page: Int, perPage: Int) async throws -> Page<JobRecord> {
        try await inner.jobs(apiKey: apiKey, roomId: roomId, kind: kind, page: page, perPage: perPage)
    }
    func claimJob(kinds: [String]) async throws -> JobRecord? { try await inner.claimJob(kinds: kinds) }
    func updateJob(_ job: JobRecord, expectedStatus: String) async throws -> Bool { try await inner.updateJob(job, expectedStatus: expectedStatus) }
}

@Suite("session writer: group commit that loses nothing when a statement fails")
struct SessionWriterTests {
    static func session(_ id: String, end: Date? = nil) -> SessionRecord {
        SessionRecord(id: id, apiKey: "k", roomId: "r-\(id)", start: Date(timeIntervalSince1970: 1_795_000_000), end: end, attendees: [])
    }

    @Test("saves that come together are written together; a refused statement is retried one session at a time")
    func batchRetried() async throws {
        let store = FlakySessions()
        let writer = SessionWriter(repositories: store, logger: Logger(label: "test"))
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<20 { group.addTask { await writer.save(Self.session("s\(index)"), version: 1) } }
        }
        for index in 0..<20 {
            #expect(try await store.session(apiKey: "k", id: "s\(index)") != nil, "s\(index) was lost")
        }
    }

    @Test("changes that come while a write is under way wait for more to share their statement; a flush ends the wait; saves one after another wait for nothing")
    func burstsShareStatements() async throws {
        let store = FlakySessions()
        store.failBatches.withLock { $0 = false }
        // A long wait, so that the saves below surely come within it however slow the machine.
        let writer = SessionWriter(repositories: store, logger: Logger(label: "test"), linger: .seconds(2))
        // One after another: each is written at once.
        for index in 0..<5 { await writer.save(Self.session("q\(index)"), version: 1) }
        #expect(writer.lingers == 0)
        #expect(store.sizes.withLock { $0 } == [1, 1, 1, 1, 1])

        // A burst, queued as the hub queues (nobody waits): the first statement is held; a change
        // comes meanwhile, so the writer is busy and its next statement waits, gathering the
        // changes that come during the wait, until its two seconds pass or someone flushes.
        store.hold()
        writer.enqueue([(Self.session("a"), 1)])
        for _ in 0..<5000 where store.sizes.withLock({ $0.count }) < 6 { try await Task.sleep(for: .milliseconds(1)) }
        try #require(store.sizes.withLock { $0.count } == 6)
        writer.enqueue([(Self.session("b"), 1)])
        store.release()
        for _ in 0..<5000 where writer.lingers < 1 { try await Task.sleep(for: .milliseconds(1)) }
        try #require(writer.lingers == 1)
        writer.enqueue([(Self.session("c"), 1)])
        writer.enqueue([(Self.session("d"), 1)])
        let clock = ContinuousClock()
        let flushed = clock.now
        await writer.flush()
        #expect(clock.now - flushed < .seconds(1), "the flush waited for the writer's whole wait")
        #expect(store.sizes.withLock { Array($0.dropFirst(5)) } == [1, 3])
        #expect(writer.lingers == 1)
        for id in ["a", "b", "c", "d"] { #expect(try await store.session(apiKey: "k", id: id) != nil) }
    }

    @Test("one session the store refuses costs only itself: the others of its statement are written, and no caller waits forever")
    func badRowIsolated() async throws {
        let store = FlakySessions()
        store.failing.withLock { $0 = ["s3"] }
        let writer = SessionWriter(repositories: store, logger: Logger(label: "test"))
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<8 { group.addTask { await writer.save(Self.session("s\(index)"), version: 1) } }
        }
        for index in 0..<8 where index != 3 {
            #expect(try await store.session(apiKey: "k", id: "s\(index)") != nil, "s\(index) was lost with s3")
        }
        #expect(try await store.session(apiKey: "k", id: "s3") == nil)
        // Its next change writes it whole.
        store.failing.withLock { $0 = [] }
        let ended = Self.session("s3", end: Date(timeIntervalSince1970: 1_795_000_060))
        await writer.save(ended, version: 2)
        #expect(try await store.session(apiKey: "k", id: "s3") == ended)
    }

    /// Waits (at most five seconds) until `condition` holds.
    static func eventually(_ condition: () -> Bool) async throws -> Bool {
        for _ in 0..<5000 where !condition() { try await Task.sleep(for: .milliseconds(1)) }
        return condition()
    }

    @Test("sessions are written behind: a join's events go out while its statement waits, a read waits for the store, an end returns stored")
    func writtenBehind() async throws {
        let store = FlakySessions()
        store.failBatches.withLock { $0 = false }
        let hub = MeetingHub(lobbyTimeout: 300, maxParticipants: 10, repositories: store, logger: Logger(label: "test"))
        let room = RoomRef(apiKey: "k", roomId: "r")
        let member = Claims(apiKey: "k", permissions: .allowJoin, lifetime: 600, now: Date().timeIntervalSince1970)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let (firstOutlet, first) = FrameOutlet.recording(on: loop)
        await hub.arrive(
            hub.open(room: room, config: .object([]), outlet: firstOutlet), lobby: false, participantId: "p1", name: "P1", claims: member, mic: false,
            webcam: false)
        let sessionId = try #require(hub.liveSession(room)?.id)

        // The store holds every statement from here: the second join's events go out regardless.
        store.hold()
        let (secondOutlet, second) = FrameOutlet.recording(on: loop)
        let arrived = Task {
            await hub.arrive(
                hub.open(room: room, config: .object([]), outlet: secondOutlet), lobby: false, participantId: "p2", name: "P2", claims: member,
                mic: false, webcam: false)
        }
        let delivered = try await Self.eventually {
            second.texts.first?.contains(#""event":"meeting-joined""#) == true
                && first.texts.contains { $0.contains(#""event":"participant-joined""#) }
        }
        #expect(delivered, "the events waited for the store")
        try #require(try await Self.eventually { store.gate.withLock { $0.waiter != nil } })

        // A read through the sessions API waits for the store, then sees what the events said.
        let written = Mutex(false)
        let read = Task { () -> SessionRecord? in
            await hub.sessionsWritten()
            written.withLock { $0 = true }
            return try await store.session(apiKey: "k", id: sessionId)
        }
        try await Task.sleep(for: .milliseconds(50))
        #expect(!written.withLock { $0 }, "a read went on while the statement was held")
        store.release()
        await arrived.value
        let seen = try await read.value
        #expect(seen?.attendees.map(\.participantId).sorted() == ["p1", "p2"])

        // A call that ends the meeting returns only once the ended session is stored.
        store.hold()
        let ended = Mutex(false)
        let ending = Task {
            let done = await hub.end(room, reason: .meetingEndAPI)
            ended.withLock { $0 = true }
            return done
        }
        try #require(try await Self.eventually { store.gate.withLock { $0.waiter != nil } })
        try await Task.sleep(for: .milliseconds(50))
        #expect(!ended.withLock { $0 }, "end returned before the ended session was stored")
        store.release()
        #expect(await ending.value)
        #expect(try await store.session(apiKey: "k", id: sessionId)?.end != nil)
    }

    @Test("shutdown closes the store after the sessions written behind; a store that stopped answering delays it by the patience only")
    func storeClosesAfterSessions() async throws {
        let store = FlakySessions()
        store.failBatches.withLock { $0 = false }
        let writer = SessionWriter(repositories: store, logger: Logger(label: "test"))
        let closedWith = Mutex<[String]?>(nil)
        let closable = Store(store, description: "test", close: {
            let stored = try await store.sessions(apiKey: "k", roomId: nil, page: 1, perPage: 10).items.map(\.id)
            closedWith.withLock { $0 = stored.sorted() }
        })

        // Answering: the close waits for what was queued.
        store.hold()
        writer.enqueue([(Self.session("a"), 1)])
        writer.enqueue([(Self.session("b"), 1)])
        let closing = Task { try await StoreCloser(store: closable, before: { await writer.flush() }, patience: .seconds(30)).close() }
        try #require(try await Self.eventually { store.gate.withLock { $0.waiter != nil } })
        try await Task.sleep(for: .milliseconds(50))
        #expect(closedWith.withLock { $0 } == nil, "the store closed before the sessions were written")
        store.release()
        try await closing.value
        #expect(closedWith.withLock { $0 } == ["a", "b"])

        // Not answering: the close comes after the patience, without the held change.
        closedWith.withLock { $0 = nil }
        store.hold()
        writer.enqueue([(Self.session("c"), 1)])
        try #require(try await Self.eventually { store.gate.withLock { $0.waiter != nil } })
        let clock = ContinuousClock()
        let started = clock.now
        // In a task, so that a close that waits for the store fails this test instead of hanging it.
        let bounded = Task { try await StoreCloser(store: closable, before: { await writer.flush() }, patience: .milliseconds(200)).close() }
        for _ in 0..<1000 where closedWith.withLock({ $0 }) == nil { try await Task.sleep(for: .milliseconds(10)) }
        #expect(closedWith.withLock { $0 } == ["a", "b"], "the store was not closed within 10 s")
        #expect(clock.now - started >= .milliseconds(200))
        store.release()
        try await bounded.value
    }
}
