import AdmitCore
import AdmitToken
public import Foundation
import SQLKit

/// The repositories over any SQLKit database: each query is written once and runs on
/// SQLite and PostgreSQL alike. Times are stored as milliseconds since 1970.
public final class SQLRepositories: Repositories {
    let database: any SQLDatabase
    /// Tells the other nodes what a write changed (PostgreSQL's NOTIFY); nil for SQLite.
    let announce: (@Sendable (ChangeTopic) async -> Void)?

    init(_ database: any SQLDatabase, announce: (@Sendable (ChangeTopic) async -> Void)? = nil) {
        self.database = database
        self.announce = announce
    }

    // MARK: API keys

    public func insertKey(_ key: APIKeyRecord) async throws {
        try await database.raw(
            """
            INSERT INTO api_keys (api_key, name, sealed_secret, previous_secrets, deactivated, settings, created_at, updated_at)
            VALUES (\(bind: key.apiKey), \(bind: key.name), \(bind: key.sealedSecret), \(bind: try Self.previousText(key.previousSecrets)),
                    \(bind: key.isDeactivated ? 1 : 0), \(bind: key.settings), \(bind: Self.millis(key.createdAt)), \(bind: Self.millis(key.updatedAt)))
            """
        ).run()
        await announce?(.keys)
    }

    public func key(_ apiKey: String) async throws -> APIKeyRecord? {
        try await database.raw("SELECT * FROM api_keys WHERE api_key = \(bind: apiKey)").first().map(Self.key)
    }

    public func keys() async throws -> [APIKeyRecord] {
        try await database.raw("SELECT * FROM api_keys ORDER BY created_at, api_key").all().map(Self.key)
    }

    /// Compare and swap on the current secret: the update applies only while the secret it
    /// replaces is still the current one, so of two rotations at once the second is computed
    /// again from the first's result (and keeps its secret within the grace). It writes only
    /// the secret columns, so a deactivation at the same time is never undone.
    public func rotateKey(apiKey: String, sealedSecret: Data, previousValidUntil: Date, now: Date) async throws -> APIKeyRecord? {
        for _ in 0..<64 {
            guard let current = try await key(apiKey) else { return nil }
            let next = try current.rotated(to: sealedSecret, previousValidUntil: previousValidUntil, now: now)
            let rows = try await database.raw(
                """
                UPDATE api_keys SET sealed_secret = \(bind: next.sealedSecret), previous_secrets = \(bind: try Self.previousText(next.previousSecrets)),
                    previous_sealed_secret = NULL, previous_valid_until = NULL, updated_at = \(bind: Self.millis(now))
                WHERE api_key = \(bind: apiKey) AND sealed_secret = \(bind: current.sealedSecret)
                RETURNING api_key
                """
            ).all()
            if !rows.isEmpty {
                await announce?(.keys)
                return next
            }
        }
        throw StoreError("API key \(apiKey) kept changing during its rotation; try again")
    }

    public func deactivateKey(apiKey: String, now: Date) async throws -> APIKeyRecord? {
        let rows = try await database.raw(
            """
            UPDATE api_keys SET deactivated = 1, updated_at = \(bind: Self.millis(now)) WHERE api_key = \(bind: apiKey) RETURNING api_key
            """
        ).all()
        if !rows.isEmpty { await announce?(.keys) }
        return rows.isEmpty ? nil : try await key(apiKey)
    }

    public func updateSettings(apiKey: String, settings: String?, expected: String?) async throws -> Bool {
        // `= NULL` is never true: an absent document is matched with IS NULL (a NULL parameter
        // would leave PostgreSQL unable to tell its type).
        let unchanged: SQLQueryString = expected.map { "settings = \(bind: $0)" } ?? "settings IS NULL"
        let updated = try await !database.raw(
            "UPDATE api_keys SET settings = \(bind: settings) WHERE api_key = \(bind: apiKey) AND \(unchanged) RETURNING api_key"
        ).all().isEmpty
        if updated { await announce?(.keys) }
        return updated
    }

    private static func key(_ row: any SQLRow) throws -> APIKeyRecord {
        let apiKey = try row.decode(column: "api_key", as: String.self)
        var previous: [APIKeyRecord.PreviousSecret] = []
        if let text = try row.decode(column: "previous_secrets", as: String?.self) {
            previous = try decoder.decode([APIKeyRecord.PreviousSecret].self, from: Data(text.utf8))
        } else if let sealed = try row.decode(column: "previous_sealed_secret", as: Data?.self),
            let until = try row.decode(column: "previous_valid_until", as: Int64?.self)
        {
            // Written before migration 4: one previous secret in its own columns.
            previous = [APIKeyRecord.PreviousSecret(sealed: sealed, validUntil: date(until))]
        }
        return APIKeyRecord(
            apiKey: apiKey,
            name: try row.decode(column: "name", as: String.self),
            sealedSecret: try row.decode(column: "sealed_secret", as: Data.self),
            previousSecrets: previous,
            isDeactivated: try row.decode(column: "deactivated", as: Int.self) != 0,
            settings: try row.decode(column: "settings", as: String?.self),
            createdAt: date(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: date(try row.decode(column: "updated_at", as: Int64.self)))
    }

    /// Previous secrets as JSON text (sealed bytes in base64, times in milliseconds); nil for none.
    private static func previousText(_ secrets: [APIKeyRecord.PreviousSecret]) throws -> String? {
        secrets.isEmpty ? nil : String(decoding: try encoder.encode(secrets), as: UTF8.self)
    }

    // MARK: Rooms

    public func insertRoom(_ room: RoomRecord) async throws -> RoomRecord {
        if let custom = room.customRoomId, let existing = try await customRoom(apiKey: room.apiKey, custom) { return existing }
        do {
            try await database.raw(
                """
                INSERT INTO rooms (id, room_id, custom_room_id, api_key, disabled, webhook, auto_close_config, created_at, updated_at)
                VALUES (\(bind: room.id), \(bind: room.roomId), \(bind: room.customRoomId), \(bind: room.apiKey),
                        \(bind: room.disabled ? 1 : 0), \(bind: room.webhook), \(bind: room.autoCloseConfig),
                        \(bind: Self.millis(room.createdAt)), \(bind: Self.millis(room.updatedAt)))
                """
            ).run()
            return room
        } catch {
            // Two creates with one customRoomId raced: the unique index kept the first.
            if let custom = room.customRoomId, let existing = try await customRoom(apiKey: room.apiKey, custom) { return existing }
            throw error
        }
    }

    private func customRoom(apiKey: String, _ custom: String) async throws -> RoomRecord? {
        try await database.raw("SELECT * FROM rooms WHERE api_key = \(bind: apiKey) AND custom_room_id = \(bind: custom)")
            .first().map(Self.room)
    }

    public func room(apiKey: String, id: String) async throws -> RoomRecord? {
        let rows = try await database.raw(
            "SELECT * FROM rooms WHERE api_key = \(bind: apiKey) AND (room_id = \(bind: id) OR custom_room_id = \(bind: id))"
        ).all().map(Self.room)
        return rows.first { $0.roomId == id } ?? rows.first
    }

    public func room(roomId: String) async throws -> RoomRecord? {
        try await database.raw("SELECT * FROM rooms WHERE room_id = \(bind: roomId)").first().map(Self.room)
    }

    public func rooms(apiKey: String, page: Int, perPage: Int) async throws -> Page<RoomRecord> {
        let total =
            try await database.raw("SELECT COUNT(*) AS n FROM rooms WHERE api_key = \(bind: apiKey)")
            .first().map { try $0.decode(column: "n", as: Int.self) } ?? 0
        let items = try await database.raw(
            """
            SELECT * FROM rooms WHERE api_key = \(bind: apiKey) ORDER BY created_at, id
            LIMIT \(bind: perPage) OFFSET \(bind: (page - 1) * perPage)
            """
        ).all().map(Self.room)
        return Page(items: items, total: total)
    }

    public func updateRoom(_ room: RoomRecord) async throws {
        try await database.raw(
            """
            UPDATE rooms SET disabled = \(bind: room.disabled ? 1 : 0), webhook = \(bind: room.webhook),
                auto_close_config = \(bind: room.autoCloseConfig), updated_at = \(bind: Self.millis(room.updatedAt))
            WHERE id = \(bind: room.id)
            """
        ).run()
        await announce?(.rooms)
    }

    private static func room(_ row: any SQLRow) throws -> RoomRecord {
        RoomRecord(
            id: try row.decode(column: "id", as: String.self),
            roomId: try row.decode(column: "room_id", as: String.self),
            customRoomId: try row.decode(column: "custom_room_id", as: String?.self),
            apiKey: try row.decode(column: "api_key", as: String.self),
            disabled: try row.decode(column: "disabled", as: Int.self) != 0,
            webhook: try row.decode(column: "webhook", as: String?.self),
            autoCloseConfig: try row.decode(column: "auto_close_config", as: String?.self),
            createdAt: date(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: date(try row.decode(column: "updated_at", as: Int64.self)))
    }

    // MARK: Room leases

    /// The store's clock in milliseconds, as SQL: every lease time comes from it.
    private var nowMillis: SQLQueryString {
        database.dialect.name == "sqlite"
            ? "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)"
            : "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)"
    }

    private static let leaseColumns: SQLQueryString = "api_key, room_id, node_id, lease_until, epoch"

    public func takeRoomLease(apiKey: String, roomId: String, node: String, for duration: TimeInterval) async throws -> RoomLease {
        // One statement: PostgreSQL and SQLite both apply an upsert's condition to the row they
        // conflict on atomically, so of two nodes taking a free or lapsed lease at once one wins.
        let millis = Self.durationMillis(duration)
        let taken = try await database.raw(
            """
            INSERT INTO room_leases (api_key, room_id, node_id, lease_until, epoch)
            VALUES (\(bind: apiKey), \(bind: roomId), \(bind: node), \(nowMillis) + \(bind: millis), 1)
            ON CONFLICT (api_key, room_id) DO UPDATE SET node_id = excluded.node_id, lease_until = excluded.lease_until,
                epoch = room_leases.epoch + CASE WHEN room_leases.node_id = excluded.node_id THEN 0 ELSE 1 END
            WHERE room_leases.node_id = excluded.node_id OR room_leases.lease_until < \(nowMillis)
            RETURNING \(Self.leaseColumns), 1 AS live
            """
        ).first().map(Self.lease)
        if let taken { return taken }
        guard let holder = try await roomLease(apiKey: apiKey, roomId: roomId) else {
            throw StoreError("the lease of room \(roomId) changed while it was taken; try again")
        }
        return holder
    }

    // A released lease keeps its row, lapsed (so its epoch keeps growing: a fencing token
    // never repeats for a room).

    public func renewRoomLeases(node: String, for duration: TimeInterval) async throws -> [RoomLease] {
        // A released lease (0) stays released: renewing it would undo the release.
        try await database.raw(
            """
            UPDATE room_leases SET lease_until = \(nowMillis) + \(bind: Self.durationMillis(duration))
            WHERE node_id = \(bind: node) AND lease_until > 0
            RETURNING \(Self.leaseColumns), 1 AS live
            """
        ).all().map(Self.lease)
    }

    public func releaseRoomLease(apiKey: String, roomId: String, node: String) async throws {
        try await database.raw(
            "UPDATE room_leases SET lease_until = 0 WHERE api_key = \(bind: apiKey) AND room_id = \(bind: roomId) AND node_id = \(bind: node)"
        ).run()
    }

    public func leases(apiKey: String) async throws -> [RoomLease] {
        try await database.raw(
            """
            SELECT \(Self.leaseColumns), CASE WHEN lease_until >= \(nowMillis) THEN 1 ELSE 0 END AS live
            FROM room_leases WHERE api_key = \(bind: apiKey) ORDER BY lease_until DESC LIMIT 1000
            """
        ).all().map(Self.lease)
    }

    public func deleteLapsedLeases(apiKey: String, olderThan age: TimeInterval) async throws {
        try await database.raw(
            "DELETE FROM room_leases WHERE api_key = \(bind: apiKey) AND lease_until < \(nowMillis) - \(bind: Self.durationMillis(age))"
        ).run()
    }

    public func roomLease(apiKey: String, roomId: String) async throws -> RoomLease? {
        try await database.raw(
            """
            SELECT \(Self.leaseColumns), CASE WHEN lease_until >= \(nowMillis) THEN 1 ELSE 0 END AS live
            FROM room_leases WHERE api_key = \(bind: apiKey) AND room_id = \(bind: roomId)
            """
        ).first().map(Self.lease)
    }

    /// Milliseconds for a duration, clamped to a day (no lease lasts longer; no overflow).
    private static func durationMillis(_ seconds: TimeInterval) -> Int64 {
        guard seconds.isFinite else { return 0 }
        return Int64((min(max(seconds, 0), 86_400) * 1000).rounded())
    }

    private static func lease(_ row: any SQLRow) throws -> RoomLease {
        RoomLease(
            apiKey: try row.decode(column: "api_key", as: String.self), roomId: try row.decode(column: "room_id", as: String.self),
            node: try row.decode(column: "node_id", as: String.self), until: date(try row.decode(column: "lease_until", as: Int64.self)),
            epoch: try row.decode(column: "epoch", as: Int64.self), live: try row.decode(column: "live", as: Int64.self) != 0)
    }

    // MARK: Dashboard sessions

    public func insertDashboardSession(_ session: DashboardSessionRecord) async throws {
        try await database.raw(
            """
            INSERT INTO dashboard_sessions (digest, csrf, expires_at)
            VALUES (\(bind: session.digest), \(bind: session.csrf), \(bind: Self.millis(session.expiresAt)))
            """
        ).run()
    }

    public func dashboardSession(digest: String) async throws -> DashboardSessionRecord? {
        try await database.raw("SELECT * FROM dashboard_sessions WHERE digest = \(bind: digest)").first().map { row in
            DashboardSessionRecord(
                digest: try row.decode(column: "digest", as: String.self), csrf: try row.decode(column: "csrf", as: String.self),
                expiresAt: Self.date(try row.decode(column: "expires_at", as: Int64.self)))
        }
    }

    public func deleteDashboardSession(digest: String) async throws {
        try await database.raw("DELETE FROM dashboard_sessions WHERE digest = \(bind: digest)").run()
    }

    public func deleteDashboardSessions(expiredBefore now: Date) async throws {
        try await database.raw("DELETE FROM dashboard_sessions WHERE expires_at < \(bind: Self.millis(now))").run()
    }

    // MARK: Revocations

    public func insertRevocation(_ revocation: RevocationRecord) async throws {
        try await database.raw(
            """
            INSERT INTO revocations (id, api_key, jti, participant_id, room_id, issued_before, created_at)
            VALUES (\(bind: revocation.id), \(bind: revocation.apiKey), \(bind: revocation.jwtID), \(bind: revocation.participantId),
                    \(bind: revocation.roomId), \(bind: revocation.issuedBefore.map(Self.millis)), \(bind: Self.millis(revocation.createdAt)))
            """
        ).run()
        await announce?(.revocations)
    }

    public func revocations() async throws -> [RevocationRecord] {
        try await database.raw("SELECT * FROM revocations ORDER BY created_at, id").all().map { row in
            RevocationRecord(
                id: try row.decode(column: "id", as: String.self),
                apiKey: try row.decode(column: "api_key", as: String.self),
                jwtID: try row.decode(column: "jti", as: String?.self),
                participantId: try row.decode(column: "participant_id", as: String?.self),
                roomId: try row.decode(column: "room_id", as: String?.self),
                issuedBefore: try row.decode(column: "issued_before", as: Int64?.self).map(Self.date),
                createdAt: Self.date(try row.decode(column: "created_at", as: Int64.self)))
        }
    }

    // MARK: Sessions

    public func saveSessions(_ sessions: [SessionRecord]) async throws {
        guard !sessions.isEmpty else { return }
        let rows: [SQLQueryString] = sessions.map { session in
            """
            (\(bind: session.id), \(bind: session.apiKey), \(bind: session.roomId), \(bind: Self.millis(session.start)),
             \(bind: session.end.map(Self.millis)), \(bind: Self.attendeesText(session.attendees)))
            """
        }
        var query: SQLQueryString = "INSERT INTO sessions (id, api_key, room_id, start_at, end_at, attendees) VALUES "
        query += rows.joined(separator: ", ")
        // An ended session is final: a late write (a node that lost the room's lease and did not
        // know yet) cannot bring it back to life or rewrite its time log.
        query.appendLiteral(" ON CONFLICT (id) DO UPDATE SET end_at = excluded.end_at, attendees = excluded.attendees WHERE sessions.end_at IS NULL")
        try await database.raw(query).run()
    }

    /// The attendees as JSON (times in milliseconds, like the columns), written directly: a live
    /// session is written on every change, and Foundation's encoder was a tenth of a join's cost.
    /// Read back with `JSONDecoder` (`decoder`), which a test holds it to.
    static func attendeesText(_ attendees: [SessionRecord.Attendee]) -> String {
        // Bytes, then one String: appending to a String piece by piece was a fifth of a save.
        var out: [UInt8] = []
        out.reserveCapacity(attendees.reduce(2) { $0 + 80 + $1.participantId.utf8.count + $1.name.utf8.count + 40 * $1.timelog.count })
        out.append(UInt8(ascii: "["))
        for (index, attendee) in attendees.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"participantId":"#.utf8)
            JSONValue.appendQuoted(attendee.participantId, to: &out)
            out.append(contentsOf: #","name":"#.utf8)
            JSONValue.appendQuoted(attendee.name, to: &out)
            out.append(contentsOf: #","timelog":["#.utf8)
            for (stayIndex, stay) in attendee.timelog.enumerated() {
                if stayIndex > 0 { out.append(UInt8(ascii: ",")) }
                out.append(contentsOf: #"{"start":"#.utf8)
                out.append(contentsOf: String(millis(stay.start)).utf8)
                if let end = stay.end {
                    out.append(contentsOf: #","end":"#.utf8)
                    out.append(contentsOf: String(millis(end)).utf8)
                }
                out.append(UInt8(ascii: "}"))
            }
            out.append(contentsOf: "]}".utf8)
        }
        out.append(UInt8(ascii: "]"))
        return String(decoding: out, as: UTF8.self)
    }

    public func session(apiKey: String, id: String) async throws -> SessionRecord? {
        try await database.raw("SELECT * FROM sessions WHERE api_key = \(bind: apiKey) AND id = \(bind: id)").first().map(Self.session)
    }

    public func sessions(apiKey: String, roomId: String?, page: Int, perPage: Int) async throws -> Page<SessionRecord> {
        let filter: SQLQueryString = roomId.map { "AND room_id = \(bind: $0)" } ?? ""
        let total =
            try await database.raw("SELECT COUNT(*) AS n FROM sessions WHERE api_key = \(bind: apiKey) \(filter)")
            .first().map { try $0.decode(column: "n", as: Int.self) } ?? 0
        let items = try await database.raw(
            """
            SELECT * FROM sessions WHERE api_key = \(bind: apiKey) \(filter) ORDER BY start_at DESC, id DESC
            LIMIT \(bind: perPage) OFFSET \(bind: (page - 1) * perPage)
            """
        ).all().map(Self.session)
        return Page(items: items, total: total)
    }

    private static func session(_ row: any SQLRow) throws -> SessionRecord {
        SessionRecord(
            id: try row.decode(column: "id", as: String.self),
            apiKey: try row.decode(column: "api_key", as: String.self),
            roomId: try row.decode(column: "room_id", as: String.self),
            start: date(try row.decode(column: "start_at", as: Int64.self)),
            end: try row.decode(column: "end_at", as: Int64?.self).map(date),
            attendees: try decoder.decode([SessionRecord.Attendee].self, from: Data(try row.decode(column: "attendees", as: String.self).utf8)))
    }

    /// Times in JSON columns are milliseconds, like the columns.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .millisecondsSince1970
        return encoder
    }()
    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .millisecondsSince1970
        return decoder
    }()

    // MARK: Jobs

    public func insertJob(_ job: JobRecord) async throws -> Bool {
        do {
            try await database.raw(
                """
                INSERT INTO jobs (id, api_key, room_id, session_id, kind, status, pending_action, active_slot, config, request,
                                  file_url, playback_hls_url, livestream_url, error, file, created_at, updated_at, ended_at)
                VALUES (\(bind: job.id), \(bind: job.apiKey), \(bind: job.roomId), \(bind: job.sessionId), \(bind: job.kind),
                        \(bind: job.status), \(bind: job.pendingAction), \(bind: Self.slot(job)), \(bind: job.config), \(bind: job.request),
                        \(bind: job.fileUrl), \(bind: job.playbackHlsUrl), \(bind: job.livestreamUrl), \(bind: job.error), \(bind: job.file),
                        \(bind: Self.millis(job.createdAt)), \(bind: Self.millis(job.updatedAt)), \(bind: job.endedAt.map(Self.millis)))
                """
            ).run()
            return true
        } catch {
            // The unique slot index refused a second active job of the kind.
            if try await activeJob(apiKey: job.apiKey, roomId: job.roomId, kind: job.kind) != nil { return false }
            throw error
        }
    }

    public func job(id: String) async throws -> JobRecord? {
        try await database.raw("SELECT * FROM jobs WHERE id = \(bind: id)").first().map(Self.job)
    }

    public func activeJob(apiKey: String, roomId: String, kind: String) async throws -> JobRecord? {
        let slot = "\(apiKey)|\(roomId)|\(kind)"
        return try await database.raw("SELECT * FROM jobs WHERE active_slot = \(bind: slot)").first().map(Self.job)
    }

    public func jobs(apiKey: String, roomId: String?, kind: String, page: Int, perPage: Int) async throws -> Page<JobRecord> {
        let filter: SQLQueryString = roomId.map { "AND room_id = \(bind: $0)" } ?? ""
        let total =
            try await database.raw("SELECT COUNT(*) AS n FROM jobs WHERE api_key = \(bind: apiKey) AND kind = \(bind: kind) \(filter)")
            .first().map { try $0.decode(column: "n", as: Int.self) } ?? 0
        let items = try await database.raw(
            """
            SELECT * FROM jobs WHERE api_key = \(bind: apiKey) AND kind = \(bind: kind) \(filter) ORDER BY created_at DESC, id DESC
            LIMIT \(bind: perPage) OFFSET \(bind: (page - 1) * perPage)
            """
        ).all().map(Self.job)
        return Page(items: items, total: total)
    }

    public func claimJob(kinds: [String]) async throws -> JobRecord? {
        var filter: SQLQueryString = ""
        if !kinds.isEmpty {
            filter = "AND kind IN (\(kinds.map { "\(bind: $0)" as SQLQueryString }.joined(separator: ", ")))"
        }
        // Another worker may take the candidate between the read and the update: the update
        // only succeeds while the action is still pending, otherwise try the next one.
        for _ in 0..<16 {
            guard
                let candidate = try await database.raw(
                    "SELECT * FROM jobs WHERE pending_action IS NOT NULL \(filter) ORDER BY updated_at, id LIMIT 1"
                ).first().map(Self.job)
            else { return nil }
            let taken = try await database.raw(
                """
                UPDATE jobs SET pending_action = NULL WHERE id = \(bind: candidate.id) AND pending_action = \(bind: candidate.pendingAction)
                RETURNING id
                """
            ).all()
            if !taken.isEmpty { return candidate }
        }
        return nil
    }

    public func updateJob(_ job: JobRecord, expectedStatus: String) async throws -> Bool {
        let rows = try await database.raw(
            """
            UPDATE jobs SET status = \(bind: job.status), pending_action = \(bind: job.pendingAction), active_slot = \(bind: Self.slot(job)),
                config = \(bind: job.config), request = \(bind: job.request), file_url = \(bind: job.fileUrl),
                playback_hls_url = \(bind: job.playbackHlsUrl), livestream_url = \(bind: job.livestreamUrl), error = \(bind: job.error),
                file = \(bind: job.file), updated_at = \(bind: Self.millis(job.updatedAt)), ended_at = \(bind: job.endedAt.map(Self.millis))
            WHERE id = \(bind: job.id) AND status = \(bind: expectedStatus)
            RETURNING id
            """
        ).all()
        return !rows.isEmpty
    }

    private static func slot(_ job: JobRecord) -> String? {
        job.isActive ? "\(job.apiKey)|\(job.roomId)|\(job.kind)" : nil
    }

    private static func job(_ row: any SQLRow) throws -> JobRecord {
        JobRecord(
            id: try row.decode(column: "id", as: String.self),
            apiKey: try row.decode(column: "api_key", as: String.self),
            roomId: try row.decode(column: "room_id", as: String.self),
            sessionId: try row.decode(column: "session_id", as: String.self),
            kind: try row.decode(column: "kind", as: String.self),
            status: try row.decode(column: "status", as: String.self),
            pendingAction: try row.decode(column: "pending_action", as: String?.self),
            config: try row.decode(column: "config", as: String.self),
            request: try row.decode(column: "request", as: String.self),
            fileUrl: try row.decode(column: "file_url", as: String?.self),
            playbackHlsUrl: try row.decode(column: "playback_hls_url", as: String?.self),
            livestreamUrl: try row.decode(column: "livestream_url", as: String?.self),
            error: try row.decode(column: "error", as: String?.self),
            file: try row.decode(column: "file", as: String?.self),
            createdAt: date(try row.decode(column: "created_at", as: Int64.self)),
            updatedAt: date(try row.decode(column: "updated_at", as: Int64.self)),
            endedAt: try row.decode(column: "ended_at", as: Int64?.self).map(date))
    }

    // MARK: Helpers

    /// Milliseconds, to the nearest: times are stamped in whole milliseconds (`Date.stamp`), so they read back exactly.
    /// Saturating: the API range-checks every time a client sends, and the store never traps on one it missed.
    static func millis(_ date: Date) -> Int64 {
        let value = (date.timeIntervalSince1970 * 1000).rounded()
        return Int64(exactly: value) ?? (value > 0 ? .max : .min)
    }
    static func date(_ millis: Int64) -> Date { Date(timeIntervalSince1970: Double(millis) / 1000) }
}
