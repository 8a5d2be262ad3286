import AdmitCore
import Foundation
import Logging
import Testing

@testable import AdmitStore

/// Which backends the shared suite runs on.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case memory, sqlite, postgres
    var testDescription: String { rawValue }

    static let postgresURL = ProcessInfo.processInfo.environment["ADMIT_TEST_POSTGRES_URL"]
    /// CI sets ADMIT_REQUIRE_POSTGRES=1 so that a missing database fails instead of skipping.
    static let requirePostgres = ProcessInfo.processInfo.environment["ADMIT_REQUIRE_POSTGRES"] == "1"

    static var available: [Backend] {
        postgresURL != nil || requirePostgres ? allCases : [.memory, .sqlite]
    }

    func open() async throws -> Store {
        let logger = Logger(label: "test")
        switch self {
        case .memory: return .memory()
        case .sqlite: return try await .sqlite(path: temporaryPath(), logger: logger)
        case .postgres:
            guard let url = Self.postgresURL else { throw StoreError("ADMIT_TEST_POSTGRES_URL is not set") }
            return try await .postgres(url: url, logger: logger)
        }
    }
}

func temporaryPath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("admit-test-\(UUID().uuidString).sqlite").path
}

/// Runs `body` with a fresh store of `backend` and closes it.
func withStore(_ backend: Backend, _ body: (any Repositories) async throws -> Void) async throws {
    let store = try await backend.open()
    do {
        try await body(store.repositories)
    } catch {
        try? await store.close()
        throw error
    }
    try await store.close()
}

/// A time with whole milliseconds, as the SQL stores keep.
func instant(_ seconds: Double) -> Date { Date(timeIntervalSince1970: seconds) }

func room(_ apiKey: String, _ roomId: String, custom: String? = nil, at seconds: Double = 1_795_000_000) -> RoomRecord {
    RoomRecord(
        id: UUID().uuidString, roomId: roomId, customRoomId: custom, apiKey: apiKey, webhook: #"{"endPoint":"https://x"}"#,
        createdAt: instant(seconds), updatedAt: instant(seconds))
}

@Suite("store (shared by every backend)")
struct StoreTests {
    @Test("API keys round-trip, update, and refuse a duplicate", arguments: Backend.available)
    func keys(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let id = "key-\(UUID().uuidString)"
            var key = APIKeyRecord(
                apiKey: id, name: "first", sealedSecret: Data([1, 2, 3]), createdAt: instant(1_795_000_000.123), updatedAt: instant(1_795_000_000.123)
            )
            try await store.insertKey(key)
            #expect(try await store.key(id) == key)
            await #expect(throws: (any Error).self) { try await store.insertKey(key) }
            key = try #require(
                try await store.rotateKey(
                    apiKey: id, sealedSecret: Data([4, 5, 6]), previousValidUntil: instant(1_795_003_600), now: instant(1_795_000_100)))
            #expect(key.previousSecrets == [.init(sealed: Data([1, 2, 3]), validUntil: instant(1_795_003_600))])
            #expect(key.sealedSecret == Data([4, 5, 6]))
            #expect(try await store.key(id) == key)
            key = try #require(try await store.deactivateKey(apiKey: id, now: instant(1_795_000_200)))
            #expect(key.isDeactivated)
            #expect(try await store.key(id) == key)
            #expect(try await store.rotateKey(apiKey: "missing", sealedSecret: Data([1]), previousValidUntil: instant(0), now: instant(0)) == nil)
            #expect(try await store.deactivateKey(apiKey: "missing", now: instant(0)) == nil)
            #expect(try await store.keys().contains(key))
            #expect(try await store.key("missing-\(UUID().uuidString)") == nil)
        }
    }

    @Test("a customRoomId names one room per key; other keys cannot see it", arguments: Backend.available)
    func customRoomIdempotence(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = "k-\(UUID().uuidString)", other = "k-\(UUID().uuidString)"
            let first = try await store.insertRoom(room(key, "aaaa-bbbb-\(UUID().uuidString.prefix(4))", custom: "standup"))
            let second = try await store.insertRoom(room(key, "cccc-dddd-\(UUID().uuidString.prefix(4))", custom: "standup"))
            #expect(second == first)
            #expect(try await store.room(apiKey: key, id: "standup") == first)
            #expect(try await store.room(apiKey: key, id: first.roomId) == first)
            #expect(try await store.room(apiKey: other, id: first.roomId) == nil)
            #expect(try await store.room(roomId: first.roomId) == first)
            #expect(try await store.room(roomId: "standup") == nil)
            let theirs = try await store.insertRoom(room(other, "eeee-ffff-\(UUID().uuidString.prefix(4))", custom: "standup"))
            #expect(theirs != first)
        }
    }

    @Test("rooms list in creation order, page by page, with the total", arguments: Backend.available)
    func pagination(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = "k-\(UUID().uuidString)"
            var made: [RoomRecord] = []
            for index in 0..<5 {
                made.append(try await store.insertRoom(room(key, "room-\(index)-\(UUID().uuidString.prefix(8))", at: 1_795_000_000 + Double(index))))
            }
            let firstPage = try await store.rooms(apiKey: key, page: 1, perPage: 2)
            #expect(firstPage.total == 5)
            #expect(firstPage.items == Array(made[0..<2]))
            #expect(try await store.rooms(apiKey: key, page: 3, perPage: 2).items == [made[4]])
            #expect(try await store.rooms(apiKey: key, page: 4, perPage: 2).items.isEmpty)
            #expect(try await store.rooms(apiKey: key, page: 1, perPage: 20).items == made)
        }
    }

    @Test("a room update is kept", arguments: Backend.available)
    func roomUpdate(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = "k-\(UUID().uuidString)"
            var stored = try await store.insertRoom(room(key, "r-\(UUID().uuidString.prefix(8))"))
            stored.disabled = true
            stored.updatedAt = instant(1_795_000_500)
            try await store.updateRoom(stored)
            #expect(try await store.room(apiKey: key, id: stored.roomId) == stored)
        }
    }

    @Test("revocations round-trip", arguments: Backend.available)
    func revocations(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = "k-\(UUID().uuidString)"
            let made = [
                RevocationRecord(id: UUID().uuidString, apiKey: key, jwtID: "t-1", createdAt: instant(1_795_000_000)),
                RevocationRecord(id: UUID().uuidString, apiKey: key, participantId: "p", roomId: "r", createdAt: instant(1_795_000_001)),
                RevocationRecord(id: UUID().uuidString, apiKey: key, issuedBefore: instant(1_795_000_000), createdAt: instant(1_795_000_002)),
            ]
            for revocation in made { try await store.insertRevocation(revocation) }
            #expect(try await store.revocations().filter { $0.apiKey == key } == made)
        }
    }

    @Test("dashboard sessions round-trip, end, and expire", arguments: Backend.available)
    func dashboardSessions(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let live = DashboardSessionRecord(digest: "d-\(UUID().uuidString)", csrf: "c1", expiresAt: instant(4_000_000_000))
            let old = DashboardSessionRecord(digest: "d-\(UUID().uuidString)", csrf: "c2", expiresAt: instant(1_000_000_000))
            try await store.insertDashboardSession(live)
            try await store.insertDashboardSession(old)
            #expect(try await store.dashboardSession(digest: live.digest) == live)
            try await store.deleteDashboardSessions(expiredBefore: instant(2_000_000_000))
            #expect(try await store.dashboardSession(digest: old.digest) == nil)
            #expect(try await store.dashboardSession(digest: live.digest) == live)
            try await store.deleteDashboardSession(digest: live.digest)
            #expect(try await store.dashboardSession(digest: live.digest) == nil)
        }
    }

    @Test(
        "a room's lease: one holder among nodes taking it at once, renewed by its holder, taken over when it lapses (epoch up), on the store's clock",
        arguments: Backend.available)
    func roomLeases(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = "k-\(UUID().uuidString)"
            let before = Date()
            let holders = try await withThrowingTaskGroup(of: String.self) { group in
                for node in 0..<8 {
                    group.addTask { try await store.takeRoomLease(apiKey: key, roomId: "r", node: "n\(node)", for: 10).node }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(Set(holders).count == 1, "every taker sees the one holder: \(holders)")
            let holder = try #require(holders.first)
            let first = try #require(try await store.roomLease(apiKey: key, roomId: "r"))
            #expect(first.node == holder && first.epoch == 1 && first.live)
            // Its lease runs on the store's clock (the same host's here): ten seconds from when it was taken.
            #expect(first.until >= before.addingTimeInterval(9.5) && first.until <= Date().addingTimeInterval(10.5), "until \(first.until)")
            // Its holder renews; another node cannot take a live lease.
            let renewed = try await store.renewRoomLeases(node: holder, for: 20).filter { $0.apiKey == key }  // other runs' leases of these names
            #expect(renewed.map(\.roomId) == ["r"] && renewed.first?.node == holder)
            let refused = try await store.takeRoomLease(apiKey: key, roomId: "r", node: "other", for: 30)
            #expect(refused.node == holder && refused.live)
            // Lapsed: renewed for a moment and left; then taken over, the epoch up (a fencing token).
            _ = try await store.renewRoomLeases(node: holder, for: 0.2)
            try await Task.sleep(for: .milliseconds(400))
            #expect(try await store.roomLease(apiKey: key, roomId: "r")?.live == false)
            let taken = try await store.takeRoomLease(apiKey: key, roomId: "r", node: "other", for: 40)
            #expect(taken.node == "other" && taken.epoch == 2 && taken.live)
            // Retaking one's own keeps the epoch.
            let again = try await store.takeRoomLease(apiKey: key, roomId: "r", node: "other", for: 50)
            #expect(again.node == "other" && again.epoch == 2 && again.until > taken.until)
            // The old holder's release is a no-op.
            try await store.releaseRoomLease(apiKey: key, roomId: "r", node: holder)
            #expect(try await store.roomLease(apiKey: key, roomId: "r")?.node == "other")
            // Released: it lapses at once, and the next owner's epoch is higher still (never repeated).
            try await store.releaseRoomLease(apiKey: key, roomId: "r", node: "other")
            #expect(try await store.roomLease(apiKey: key, roomId: "r")?.live == false)
            // A released lease is not renewed (renewing would undo the release).
            #expect(try await store.renewRoomLeases(node: "other", for: 70).filter { $0.apiKey == key }.isEmpty)
            let next = try await store.takeRoomLease(apiKey: key, roomId: "r", node: holder, for: 60)
            #expect(next.node == holder && next.epoch == 3)
            // Listed under its key; lapsed ones deleted by age.
            let listed = try await store.leases(apiKey: key)
            #expect(listed.map(\.roomId) == ["r"] && listed.first?.live == true)
            _ = try await store.renewRoomLeases(node: holder, for: 0)  // lapsing now
            try await store.deleteLapsedLeases(apiKey: key, olderThan: 3600)
            #expect(try await store.leases(apiKey: key).count == 1, "lapsed only just: kept")
            try await Task.sleep(for: .milliseconds(20))
            try await store.deleteLapsedLeases(apiKey: key, olderThan: 0)
            #expect(try await store.leases(apiKey: key).isEmpty)
        }
    }

    @Test("an SQLite store keeps its data across a close and reopen")
    func sqlitePersistence() async throws {
        let path = temporaryPath()
        let logger = Logger(label: "test")
        let first = try await Store.sqlite(path: path, logger: logger)
        let key = APIKeyRecord(apiKey: "persist", name: "p", sealedSecret: Data([7]), createdAt: instant(1), updatedAt: instant(1))
        try await first.repositories.insertKey(key)
        let made = try await first.repositories.insertRoom(room("persist", "abcd-efgh-ijkl", custom: "c"))
        try await first.close()
        let second = try await Store.sqlite(path: path, logger: logger)
        #expect(try await second.repositories.key("persist") == key)
        #expect(try await second.repositories.room(apiKey: "persist", id: "c") == made)
        try await second.close()
    }

    @Test("PostgreSQL is reachable when CI requires it", .enabled(if: Backend.requirePostgres))
    func postgresRequired() async throws {
        try #require(Backend.postgresURL != nil, "ADMIT_REQUIRE_POSTGRES=1 but ADMIT_TEST_POSTGRES_URL is unset")
        let store = try await Backend.postgres.open()
        try await store.close()
    }
}

@Suite("secret box")
struct SecretBoxTests {
    @Test("a sealed secret opens with the same key and API key, and holds no clear text")
    func roundTrip() throws {
        let box = try SecretBox(base64: SecretBox.generateMasterKey())
        let sealed = try box.seal("super-secret-value", apiKey: "k1")
        #expect(try box.open(sealed, apiKey: "k1") == "super-secret-value")
        #expect(sealed.range(of: Data("super-secret-value".utf8)) == nil)
    }

    @Test("another master key or another API key cannot open it")
    func refusesOthers() throws {
        let box = try SecretBox(base64: SecretBox.generateMasterKey())
        let sealed = try box.seal("s", apiKey: "k1")
        #expect(throws: StoreError.self) { try box.open(sealed, apiKey: "k2") }
        #expect(throws: StoreError.self) { try SecretBox(base64: SecretBox.generateMasterKey()).open(sealed, apiKey: "k1") }
    }

    @Test("master keys must be 32 bytes of base64")
    func badMasterKey() {
        #expect(throws: StoreError.self) { try SecretBox(base64: "not base64!") }
        #expect(throws: StoreError.self) { try SecretBox(base64: Data(repeating: 1, count: 16).base64EncodedString()) }
    }
}

@Suite("store: sessions (shared by every backend)")
struct SessionStoreTests {
    @Test("sessions upsert, list newest first per room, and keep time logs to the millisecond", arguments: Backend.available)
    func sessions(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = "k-\(UUID().uuidString)"
            var first = SessionRecord(
                id: UUID().uuidString, apiKey: key, roomId: "room-a", start: instant(1_795_000_000.5),
                attendees: [.init(participantId: "p1", name: "P One", timelog: [.init(start: instant(1_795_000_000.5))])])
            try await store.saveSession(first)
            first.attendees[0].timelog[0].end = instant(1_795_000_010.25)
            first.end = instant(1_795_000_010.25)
            try await store.saveSession(first)
            let second = SessionRecord(id: UUID().uuidString, apiKey: key, roomId: "room-a", start: instant(1_795_000_100), attendees: [])
            let other = SessionRecord(id: UUID().uuidString, apiKey: key, roomId: "room-b", start: instant(1_795_000_200), attendees: [])
            try await store.saveSession(second)
            try await store.saveSession(other)
            #expect(try await store.session(apiKey: key, id: first.id) == first)
            #expect(try await store.session(apiKey: "someone-else", id: first.id) == nil)
            let roomA = try await store.sessions(apiKey: key, roomId: "room-a", page: 1, perPage: 10)
            #expect(roomA.items == [second, first])
            #expect(roomA.total == 2)
            #expect(try await store.sessions(apiKey: key, roomId: nil, page: 1, perPage: 1).items == [other])
            #expect(try await store.sessions(apiKey: key, roomId: nil, page: 1, perPage: 1).total == 3)
        }
    }

    @Test("many sessions in one write, with names that need escaping, read back as written", arguments: Backend.available)
    func manyAtOnce(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = "k-\(UUID().uuidString)"
            let names = ["quote \" and \\ backslash", "line\nbreak\ttab\r", "control \u{01}\u{1F}", "ünïcødé 🎥", "</script>", ""]
            var sessions = (0..<40).map { index in
                SessionRecord(
                    id: UUID().uuidString, apiKey: key, roomId: "room-\(index % 3)", start: instant(1_795_000_000 + Double(index)),
                    attendees: names.enumerated().map { offset, name in
                        .init(
                            participantId: "p\(offset)", name: name,
                            timelog: [.init(start: instant(1_795_000_000.125), end: instant(1_795_000_001.5)), .init(start: instant(1_795_000_002))])
                    })
            }
            try await store.saveSessions(sessions)
            sessions[7].end = instant(1_795_000_009)
            sessions[7].attendees[0].timelog[1].end = instant(1_795_000_009)
            try await store.saveSessions([sessions[7], sessions[8]])
            for session in sessions {
                #expect(try await store.session(apiKey: key, id: session.id) == session)
            }
            #expect(try await store.sessions(apiKey: key, roomId: nil, page: 1, perPage: 100).total == 40)
        }
    }
}

@Suite("store: settings and jobs (shared by every backend)")
struct JobStoreTests {
    @Test("settings are kept apart from key updates, and written only over what the writer read", arguments: Backend.available)
    func settings(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let id = "key-\(UUID().uuidString)"
            let key = APIKeyRecord(
                apiKey: id, name: "k", sealedSecret: Data([1]), createdAt: instant(1_795_000_000), updatedAt: instant(1_795_000_000))
            try await store.insertKey(key)
            #expect(try await store.key(id)?.settings == nil)
            #expect(try await store.updateSettings(apiKey: id, settings: #"{"maxSendBitrate":"hd"}"#, expected: nil))
            // A writer that read something else (or nothing, when there is something) writes nothing.
            #expect(try await store.updateSettings(apiKey: id, settings: "{}", expected: nil) == false)
            #expect(try await store.updateSettings(apiKey: id, settings: "{}", expected: #"{"maxSendBitrate":"sd"}"#) == false)
            #expect(try await store.updateSettings(apiKey: "no-such-key", settings: "{}", expected: nil) == false)
            _ = try await store.rotateKey(
                apiKey: id, sealedSecret: Data([2]), previousValidUntil: instant(1_795_000_060), now: instant(1_795_000_000))
            _ = try await store.deactivateKey(apiKey: id, now: instant(1_795_000_001))
            #expect(try await store.key(id)?.settings == #"{"maxSendBitrate":"hd"}"#)
            #expect(try await store.key(id)?.sealedSecret == Data([2]))
            #expect(try await store.updateSettings(apiKey: id, settings: nil, expected: #"{"maxSendBitrate":"hd"}"#))
            #expect(try await store.key(id)?.settings == nil)
        }
    }

    @Test("one active job per kind and room; claims hand each pending action out once, oldest first", arguments: Backend.available)
    func jobs(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = "key-\(UUID().uuidString)"
            // A kind of its own, so that claims see only this test's jobs on a shared database.
            let kind = "recording-\(UUID().uuidString.prefix(8))"
            func job(_ id: String, room: String, at seconds: Double) -> JobRecord {
                JobRecord(
                    id: id, apiKey: key, roomId: room, sessionId: "s", kind: kind, status: "starting", pendingAction: "start",
                    config: #"{"quality":{"value":"low","source":"api"}}"#, request: "{}", createdAt: instant(seconds), updatedAt: instant(seconds))
            }
            let first = job("\(key)-1", room: "r1", at: 1_795_000_000)
            #expect(try await store.insertJob(first))
            #expect(try await store.insertJob(job("\(key)-2", room: "r1", at: 1_795_000_001)) == false)
            #expect(try await store.job(id: "\(key)-2") == nil)
            let second = job("\(key)-3", room: "r2", at: 1_795_000_002)
            #expect(try await store.insertJob(second))
            #expect(try await store.activeJob(apiKey: key, roomId: "r1", kind: kind) == first)

            #expect(try await store.claimJob(kinds: [kind]) == first)
            #expect(try await store.claimJob(kinds: [kind]) == second)
            #expect(try await store.claimJob(kinds: [kind]) == nil)
            #expect(try await store.job(id: first.id)?.pendingAction == nil)

            var started = first
            started.pendingAction = nil
            started.status = "started"
            started.fileUrl = "https://files/1.mp4"
            started.updatedAt = instant(1_795_000_010)
            #expect(try await store.updateJob(started, expectedStatus: "starting"))
            #expect(try await store.updateJob(started, expectedStatus: "starting") == false)
            #expect(try await store.job(id: first.id) == started)

            var stopped = started
            stopped.status = "stopped"
            stopped.file = #"{"meta":null,"filePath":"a/1.mp4","size":1048576,"type":"video/mp4","fileUrl":"https://files/1.mp4","id":"f"}"#
            stopped.endedAt = instant(1_795_000_015)
            #expect(try await store.updateJob(stopped, expectedStatus: "started"))
            #expect(try await store.activeJob(apiKey: key, roomId: "r1", kind: kind) == nil)
            // The file and the end (migration 5) read back as written.
            #expect(try await store.job(id: first.id) == stopped)
            let again = job("\(key)-4", room: "r1", at: 1_795_000_020)
            #expect(try await store.insertJob(again))
            let page = try await store.jobs(apiKey: key, roomId: "r1", kind: kind, page: 1, perPage: 1)
            #expect(page.items == [again] && page.total == 2 && page.items.first?.endedAt == nil && page.items.first?.file == nil)
            #expect(try await store.jobs(apiKey: key, roomId: nil, kind: kind, page: 1, perPage: 10).total == 3)
            #expect(try await store.claimJob(kinds: ["\(kind)-other"]) == nil)
        }
    }

    @Test("concurrent claims hand each pending action to exactly one worker", arguments: Backend.available)
    func concurrentClaims(_ backend: Backend) async throws {
        try await withStore(backend) { store in
            let key = "key-\(UUID().uuidString)"
            let kind = "hls-\(UUID().uuidString.prefix(8))"
            for index in 0..<20 {
                let job = JobRecord(
                    id: "\(key)-\(index)", apiKey: key, roomId: "room-\(index)", sessionId: "s", kind: kind, status: "starting",
                    pendingAction: "start", config: "{}", request: "{}", createdAt: instant(1_795_000_000 + Double(index)),
                    updatedAt: instant(1_795_000_000 + Double(index)))
                #expect(try await store.insertJob(job))
            }
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        var mine: [String] = []
                        while let job = try await store.claimJob(kinds: [kind]) { mine.append(job.id) }
                        return mine
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(claimed.count == 20)
            #expect(Set(claimed).count == 20)
        }
    }
}
