public import Foundation
import Synchronization

/// In-memory repositories with the same behaviour as the SQL ones (one shared test suite checks both).
public final class MemoryRepositories: Repositories {
    private struct State {
        var keys: [APIKeyRecord] = []
        var rooms: [RoomRecord] = []
        var revocations: [RevocationRecord] = []
        var sessions: [SessionRecord] = []
        var jobs: [JobRecord] = []
        var dashboardSessions: [String: DashboardSessionRecord] = [:]
        var leases: [String: RoomLease] = [:]
    }

    private let state = Mutex(State())

    public init() {}

    public func insertKey(_ key: APIKeyRecord) async throws {
        try state.withLock { state in
            guard !state.keys.contains(where: { $0.apiKey == key.apiKey }) else { throw StoreError("API key \(key.apiKey) exists") }
            state.keys.append(key)
        }
    }

    public func key(_ apiKey: String) async throws -> APIKeyRecord? {
        state.withLock { $0.keys.first { $0.apiKey == apiKey } }
    }

    public func keys() async throws -> [APIKeyRecord] {
        state.withLock { $0.keys }
    }

    public func rotateKey(apiKey: String, sealedSecret: Data, previousValidUntil: Date, now: Date) async throws -> APIKeyRecord? {
        try state.withLock { state in
            guard let index = state.keys.firstIndex(where: { $0.apiKey == apiKey }) else { return nil }
            state.keys[index] = try state.keys[index].rotated(to: sealedSecret, previousValidUntil: previousValidUntil, now: now)
            return state.keys[index]
        }
    }

    public func deactivateKey(apiKey: String, now: Date) async throws -> APIKeyRecord? {
        state.withLock { state in
            guard let index = state.keys.firstIndex(where: { $0.apiKey == apiKey }) else { return nil }
            state.keys[index].isDeactivated = true
            state.keys[index].updatedAt = now
            return state.keys[index]
        }
    }

    public func updateSettings(apiKey: String, settings: String?, expected: String?) async throws -> Bool {
        state.withLock { state in
            guard let index = state.keys.firstIndex(where: { $0.apiKey == apiKey }), state.keys[index].settings == expected else { return false }
            state.keys[index].settings = settings
            return true
        }
    }

    public func insertRoom(_ room: RoomRecord) async throws -> RoomRecord {
        state.withLock { state in
            if let custom = room.customRoomId,
                let existing = state.rooms.first(where: { $0.apiKey == room.apiKey && $0.customRoomId == custom })
            {
                return existing
            }
            state.rooms.append(room)
            return room
        }
    }

    public func room(apiKey: String, id: String) async throws -> RoomRecord? {
        state.withLock { state in
            state.rooms.first { $0.apiKey == apiKey && $0.roomId == id }
                ?? state.rooms.first { $0.apiKey == apiKey && $0.customRoomId == id }
        }
    }

    public func room(roomId: String) async throws -> RoomRecord? {
        state.withLock { $0.rooms.first { $0.roomId == roomId } }
    }

    public func rooms(apiKey: String, page: Int, perPage: Int) async throws -> Page<RoomRecord> {
        state.withLock { state in
            let all = state.rooms.filter { $0.apiKey == apiKey }
            let start = min(all.count, (page - 1) * perPage)
            return Page(items: Array(all[start..<min(all.count, start + perPage)]), total: all.count)
        }
    }

    public func updateRoom(_ room: RoomRecord) async throws {
        state.withLock { state in
            if let index = state.rooms.firstIndex(where: { $0.id == room.id }) { state.rooms[index] = room }
        }
    }

    public func takeRoomLease(apiKey: String, roomId: String, node: String, for duration: TimeInterval) async throws -> RoomLease {
        let now = Date()
        return state.withLock { state in
            let key = apiKey + "\u{0}" + roomId
            if var current = state.leases[key], current.node != node, current.until >= now {
                current.live = true
                return current
            }
            let epoch = state.leases[key].map { $0.node == node ? $0.epoch : $0.epoch + 1 } ?? 1
            let lease = RoomLease(apiKey: apiKey, roomId: roomId, node: node, until: now.addingTimeInterval(duration), epoch: epoch, live: true)
            state.leases[key] = lease
            return lease
        }
    }

    public func renewRoomLeases(node: String, for duration: TimeInterval) async throws -> [RoomLease] {
        let until = Date().addingTimeInterval(duration)
        return state.withLock { state in
            var renewed: [RoomLease] = []
            for (key, var lease) in state.leases where lease.node == node && lease.until.timeIntervalSince1970 > 0 {
                lease.until = until
                lease.live = true
                state.leases[key] = lease
                renewed.append(lease)
            }
            return renewed
        }
    }

    public func releaseRoomLease(apiKey: String, roomId: String, node: String) async throws {
        state.withLock { state in
            let key = apiKey + "\u{0}" + roomId
            if state.leases[key]?.node == node { state.leases[key]?.until = Date(timeIntervalSince1970: 0) }
        }
    }

    public func leases(apiKey: String) async throws -> [RoomLease] {
        let now = Date()
        return state.withLock { state in
            state.leases.values.filter { $0.apiKey == apiKey }.sorted { $0.until > $1.until }.prefix(1000).map { Self.read($0, now: now) }
        }
    }

    public func deleteLapsedLeases(apiKey: String, olderThan age: TimeInterval) async throws {
        let before = Date().addingTimeInterval(-age)
        state.withLock { state in state.leases = state.leases.filter { $0.value.apiKey != apiKey || $0.value.until >= before } }
    }

    public func roomLease(apiKey: String, roomId: String) async throws -> RoomLease? {
        let now = Date()
        return state.withLock { $0.leases[apiKey + "\u{0}" + roomId] }.map { Self.read($0, now: now) }
    }

    private static func read(_ lease: RoomLease, now: Date) -> RoomLease {
        var lease = lease
        lease.live = lease.until >= now
        return lease
    }

    public func insertDashboardSession(_ session: DashboardSessionRecord) async throws {
        state.withLock { $0.dashboardSessions[session.digest] = session }
    }

    public func dashboardSession(digest: String) async throws -> DashboardSessionRecord? {
        state.withLock { $0.dashboardSessions[digest] }
    }

    public func deleteDashboardSession(digest: String) async throws {
        _ = state.withLock { $0.dashboardSessions.removeValue(forKey: digest) }
    }

    public func deleteDashboardSessions(expiredBefore now: Date) async throws {
        state.withLock { $0.dashboardSessions = $0.dashboardSessions.filter { $0.value.expiresAt >= now } }
    }

    public func insertRevocation(_ revocation: RevocationRecord) async throws {
        state.withLock { $0.revocations.append(revocation) }
    }

    public func revocations() async throws -> [RevocationRecord] {
        state.withLock { $0.revocations }
    }

    public func saveSessions(_ sessions: [SessionRecord]) async throws {
        state.withLock { state in
            for session in sessions {
                if let index = state.sessions.firstIndex(where: { $0.id == session.id }) {
                    // An ended session is final (as in SQL).
                    if state.sessions[index].end == nil { state.sessions[index] = session }
                } else {
                    state.sessions.append(session)
                }
            }
        }
    }

    public func session(apiKey: String, id: String) async throws -> SessionRecord? {
        state.withLock { $0.sessions.first { $0.apiKey == apiKey && $0.id == id } }
    }

    public func sessions(apiKey: String, roomId: String?, page: Int, perPage: Int) async throws -> Page<SessionRecord> {
        state.withLock { state in
            let all = state.sessions.filter { $0.apiKey == apiKey && (roomId == nil || $0.roomId == roomId) }
                .sorted { ($0.start, $0.id) > ($1.start, $1.id) }
            let start = min(all.count, (page - 1) * perPage)
            return Page(items: Array(all[start..<min(all.count, start + perPage)]), total: all.count)
        }
    }

    public func insertJob(_ job: JobRecord) async throws -> Bool {
        state.withLock { state in
            if job.isActive, state.jobs.contains(where: { $0.isActive && Self.sameSlot($0, job) }) { return false }
            state.jobs.append(job)
            return true
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        state.withLock { $0.jobs.first { $0.id == id } }
    }

    public func activeJob(apiKey: String, roomId: String, kind: String) async throws -> JobRecord? {
        state.withLock { $0.jobs.first { $0.isActive && $0.apiKey == apiKey && $0.roomId == roomId && $0.kind == kind } }
    }

    public func jobs(apiKey: String, roomId: String?, kind: String, page: Int, perPage: Int) async throws -> Page<JobRecord> {
        state.withLock { state in
            let all = state.jobs.filter { $0.apiKey == apiKey && $0.kind == kind && (roomId == nil || $0.roomId == roomId) }
                .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
            let start = min(all.count, (page - 1) * perPage)
            return Page(items: Array(all[start..<min(all.count, start + perPage)]), total: all.count)
        }
    }

    public func claimJob(kinds: [String]) async throws -> JobRecord? {
        state.withLock { state in
            let candidates = state.jobs.indices.filter {
                state.jobs[$0].pendingAction != nil && (kinds.isEmpty || kinds.contains(state.jobs[$0].kind))
            }
            guard let index = candidates.min(by: { (state.jobs[$0].updatedAt, state.jobs[$0].id) < (state.jobs[$1].updatedAt, state.jobs[$1].id) })
            else { return nil }
            let job = state.jobs[index]
            state.jobs[index].pendingAction = nil
            return job
        }
    }

    public func updateJob(_ job: JobRecord, expectedStatus: String) async throws -> Bool {
        state.withLock { state in
            guard let index = state.jobs.firstIndex(where: { $0.id == job.id }), state.jobs[index].status == expectedStatus else { return false }
            state.jobs[index] = job
            return true
        }
    }

    private static func sameSlot(_ a: JobRecord, _ b: JobRecord) -> Bool {
        a.apiKey == b.apiKey && a.roomId == b.roomId && a.kind == b.kind
    }
}
