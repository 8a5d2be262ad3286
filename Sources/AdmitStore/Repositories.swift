public import Crypto
public import Foundation

/// API keys. Secrets arrive sealed; the repository never sees them in clear.
public protocol APIKeyRepository: Sendable {
    func insertKey(_ key: APIKeyRecord) async throws
    func key(_ apiKey: String) async throws -> APIKeyRecord?
    /// All keys, oldest first.
    func keys() async throws -> [APIKeyRecord]
    /// Makes `sealedSecret` the key's secret in one atomic step (`APIKeyRecord.rotated`): the
    /// replaced secret stays valid until `previousValidUntil`, and concurrent rotations and
    /// deactivations are never lost. Nil when there is no such key; throws `TooManyLiveSecrets`.
    func rotateKey(apiKey: String, sealedSecret: Data, previousValidUntil: Date, now: Date) async throws -> APIKeyRecord?
    /// Deactivates the key (that column alone, so no concurrent change is undone). Nil when there is no such key.
    func deactivateKey(apiKey: String, now: Date) async throws -> APIKeyRecord?
    /// Replaces the key's settings (JSON text; nil clears them) if they are still `expected`
    /// (compare and swap). False when they changed meanwhile, or there is no such key.
    func updateSettings(apiKey: String, settings: String?, expected: String?) async throws -> Bool
}

/// Rooms, always within one API key.
public protocol RoomRepository: Sendable {
    /// Inserts `room`, or returns the existing room when the key already has one with the same `customRoomId`.
    func insertRoom(_ room: RoomRecord) async throws -> RoomRecord
    /// The key's room whose `roomId` or `customRoomId` is `id`.
    func room(apiKey: String, id: String) async throws -> RoomRecord?
    /// The room whose public `roomId` is `roomId`, whatever its key (room ids are unique).
    func room(roomId: String) async throws -> RoomRecord?
    /// The key's rooms, oldest first; `page` counts from 1.
    func rooms(apiKey: String, page: Int, perPage: Int) async throws -> Page<RoomRecord>
    /// Replaces the stored room with the same `id`.
    func updateRoom(_ room: RoomRecord) async throws
}

/// Revocations, loaded whole into the server's memory.
public protocol RevocationRepository: Sendable {
    func insertRevocation(_ revocation: RevocationRecord) async throws
    func revocations() async throws -> [RevocationRecord]
}

/// Meeting sessions, written on every change while live.
public protocol SessionRepository: Sendable {
    /// Inserts or replaces each session (by `id`) in one write: one statement, one commit, so
    /// the meetings of many rooms share a disk flush. Ids must be distinct.
    func saveSessions(_ sessions: [SessionRecord]) async throws
    func session(apiKey: String, id: String) async throws -> SessionRecord?
    /// The key's sessions, newest first, of one room when `roomId` is given; `page` counts from 1.
    func sessions(apiKey: String, roomId: String?, page: Int, perPage: Int) async throws -> Page<SessionRecord>
}

extension SessionRepository {
    /// Inserts or replaces the session with the same `id`.
    public func saveSession(_ session: SessionRecord) async throws {
        try await saveSessions([session])
    }
}

/// Media worker jobs. At most one active job of a kind per room; workers claim pending work atomically.
public protocol JobRepository: Sendable {
    /// Inserts `job`; false (and nothing stored) when the room already has an active job of its kind.
    func insertJob(_ job: JobRecord) async throws -> Bool
    func job(id: String) async throws -> JobRecord?
    /// The room's active job of `kind`, if any.
    func activeJob(apiKey: String, roomId: String, kind: String) async throws -> JobRecord?
    /// The key's jobs of `kind`, newest first, of one room when `roomId` is given; `page` counts from 1.
    func jobs(apiKey: String, roomId: String?, kind: String, page: Int, perPage: Int) async throws -> Page<JobRecord>
    /// Takes the oldest job with a pending action among `kinds` (all when empty): returns it as it
    /// was (so `pendingAction` says what to do) and clears the action, so no other worker gets it.
    func claimJob(kinds: [String]) async throws -> JobRecord?
    /// Replaces the job if its stored status is still `expectedStatus`; false when it changed meanwhile.
    func updateJob(_ job: JobRecord, expectedStatus: String) async throws -> Bool
}

/// Everything Admit stores, behind one handle.
public typealias Repositories = APIKeyRepository & RoomRepository & RevocationRepository & SessionRepository & JobRepository
    & DashboardSessionRepository & RoomLeaseRepository

/// Which node owns a room's live meeting (issue 14): a lease taken atomically, renewed by its
/// node, and taken over once it lapses. `epoch` grows at every change of owner, so a node
/// that lost a lease can tell (a fencing token). Lease times are the store's clock (PostgreSQL's
/// `clock_timestamp()`, SQLite's `julianday('now')`), never a node's: nodes on hosts whose clocks
/// disagree still agree on who holds a lease.
public protocol RoomLeaseRepository: Sendable {
    /// Takes or renews the room's lease for `node` for `duration` seconds when it is free,
    /// lapsed or `node`'s already; returns the holder after the attempt (another node's lease
    /// when it is still live).
    func takeRoomLease(apiKey: String, roomId: String, node: String, for duration: TimeInterval) async throws -> RoomLease
    /// Extends every lease `node` holds and has not released by `duration` from now; returns
    /// them (a room missing from the answer was taken over: the node must let its meeting go).
    func renewRoomLeases(node: String, for duration: TimeInterval) async throws -> [RoomLease]
    /// Gives the room's lease up, if `node` holds it: it lapses at once (the row stays, so the
    /// next owner's epoch is higher still).
    func releaseRoomLease(apiKey: String, roomId: String, node: String) async throws
    func roomLease(apiKey: String, roomId: String) async throws -> RoomLease?
    /// The leases under `apiKey` (the nodes' own leases, under the empty key), the latest to
    /// lapse first, at most 1,000 (so stale rows of nodes long gone never hide live ones).
    func leases(apiKey: String) async throws -> [RoomLease]
    /// Deletes the leases of `apiKey` that lapsed more than `age` seconds ago (nodes' own leases,
    /// under the empty key, of nodes long gone; a room's row is kept so its epochs never repeat).
    func deleteLapsedLeases(apiKey: String, olderThan age: TimeInterval) async throws
}

public struct RoomLease: Sendable, Equatable {
    public var apiKey: String
    public var roomId: String
    public var node: String
    public var until: Date
    public var epoch: Int64
    /// Whether it was live when read, by the store's clock.
    public var live: Bool

    public init(apiKey: String, roomId: String, node: String, until: Date, epoch: Int64, live: Bool) {
        self.apiKey = apiKey
        self.roomId = roomId
        self.node = node
        self.until = until
        self.epoch = epoch
        self.live = live
    }
}

/// The dashboard's signed-in sessions, shared by every node on one database: a session made
/// on one node works on the others behind a load balancer. Kept by the SHA-256 of the cookie.
public protocol DashboardSessionRepository: Sendable {
    func insertDashboardSession(_ session: DashboardSessionRecord) async throws
    func dashboardSession(digest: String) async throws -> DashboardSessionRecord?
    func deleteDashboardSession(digest: String) async throws
    /// Removes the sessions that expired before `now`.
    func deleteDashboardSessions(expiredBefore now: Date) async throws
}

public struct DashboardSessionRecord: Sendable, Equatable {
    /// Hex SHA-256 of the cookie's value.
    public var digest: String
    public var csrf: String
    public var expiresAt: Date

    public init(digest: String, csrf: String, expiresAt: Date) {
        self.digest = digest
        self.csrf = csrf
        self.expiresAt = expiresAt
    }
}

/// An open store and how to close it.
public struct Store: Sendable {
    public let repositories: any Repositories
    /// What other nodes on the same database changed (PostgreSQL); nil for a store of one node.
    public let changes: (any ChangeFeed)?
    /// Messages between the nodes on the same database (PostgreSQL), for the node named by the
    /// first argument, authenticated with the key given second (derived from the master key);
    /// nil for a store of one node.
    public let nodeLink: (@Sendable (String, SymmetricKey) -> any NodeLink)?
    /// What backs it, for logs: `memory`, `sqlite:PATH` or `postgres://host/db` (no password).
    public let description: String
    private let closer: @Sendable () async throws -> Void

    public init(
        _ repositories: any Repositories, description: String, changes: (any ChangeFeed)? = nil,
        nodeLink: (@Sendable (String, SymmetricKey) -> any NodeLink)? = nil, close: @escaping @Sendable () async throws -> Void = {}
    ) {
        self.repositories = repositories
        self.changes = changes
        self.nodeLink = nodeLink
        self.description = description
        self.closer = close
    }

    public func close() async throws {
        try await closer()
    }

    /// A store that lives in memory, for tests.
    public static func memory() -> Store {
        Store(MemoryRepositories(), description: "memory")
    }
}

/// Why a store could not do what was asked.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
