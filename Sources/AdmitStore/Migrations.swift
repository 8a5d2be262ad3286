import SQLKit

/// The schema, as numbered steps applied once each, in order, recorded in `admit_migrations`.
/// Each step is plain SQL that SQLite and PostgreSQL both accept; `BLOB` is spelled per dialect.
enum Migrations {
    static func steps(blob: String) -> [(version: Int, statements: [String])] {
        [
            (
                1,
                [
                    """
                    CREATE TABLE api_keys (
                        api_key TEXT PRIMARY KEY, name TEXT NOT NULL, sealed_secret \(blob) NOT NULL,
                        previous_sealed_secret \(blob), previous_valid_until BIGINT, deactivated INTEGER NOT NULL,
                        created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                    """,
                    """
                    CREATE TABLE rooms (
                        id TEXT PRIMARY KEY, room_id TEXT NOT NULL, custom_room_id TEXT, api_key TEXT NOT NULL,
                        disabled INTEGER NOT NULL, webhook TEXT, auto_close_config TEXT,
                        created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                    """,
                    "CREATE UNIQUE INDEX rooms_room_id ON rooms (room_id)",
                    "CREATE UNIQUE INDEX rooms_custom_room_id ON rooms (api_key, custom_room_id)",
                    "CREATE INDEX rooms_api_key ON rooms (api_key, created_at)",
                    """
                    CREATE TABLE revocations (
                        id TEXT PRIMARY KEY, api_key TEXT NOT NULL, jti TEXT, participant_id TEXT, room_id TEXT,
                        issued_before BIGINT, created_at BIGINT NOT NULL)
                    """,
                ]
            ),
            (
                2,
                [
                    """
                    CREATE TABLE sessions (
                        id TEXT PRIMARY KEY, api_key TEXT NOT NULL, room_id TEXT NOT NULL, start_at BIGINT NOT NULL,
                        end_at BIGINT, attendees TEXT NOT NULL)
                    """,
                    "CREATE INDEX sessions_room ON sessions (api_key, room_id, start_at)",
                ]
            ),
            (
                3,
                [
                    "ALTER TABLE api_keys ADD COLUMN settings TEXT",
                    // `active_slot` is `apiKey|roomId|kind` while the job is active and NULL after:
                    // the unique index keeps one active job of a kind per room, across servers.
                    """
                    CREATE TABLE jobs (
                        id TEXT PRIMARY KEY, api_key TEXT NOT NULL, room_id TEXT NOT NULL, session_id TEXT NOT NULL,
                        kind TEXT NOT NULL, status TEXT NOT NULL, pending_action TEXT, active_slot TEXT,
                        config TEXT NOT NULL, request TEXT NOT NULL, file_url TEXT, playback_hls_url TEXT,
                        livestream_url TEXT, error TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL)
                    """,
                    "CREATE UNIQUE INDEX jobs_active_slot ON jobs (active_slot)",
                    "CREATE INDEX jobs_room ON jobs (api_key, room_id, kind, created_at)",
                    "CREATE INDEX jobs_pending ON jobs (pending_action, created_at)",
                ]
            ),
            (
                4,
                [
                    // Every secret a rotation replaced, each with its own grace (JSON); the two
                    // previous_* columns of step 1 are read only for keys rotated before this step.
                    "ALTER TABLE api_keys ADD COLUMN previous_secrets TEXT"
                ]
            ),
            (
                5,
                [
                    // The file a worker reported (JSON) and when the job ended, for the v2 lists.
                    "ALTER TABLE jobs ADD COLUMN file TEXT",
                    "ALTER TABLE jobs ADD COLUMN ended_at BIGINT",
                    // Jobs that ended before this step: their last change was their end.
                    "UPDATE jobs SET ended_at = updated_at WHERE status IN ('stopped', 'failed')",
                ]
            ),
            (
                6,
                [
                    // The dashboard's sessions, shared by the nodes on one database (by the cookie's SHA-256).
                    "CREATE TABLE dashboard_sessions (digest TEXT PRIMARY KEY, csrf TEXT NOT NULL, expires_at BIGINT NOT NULL)"
                ]
            ),
            (
                7,
                [
                    // Which node owns each room's live meeting, until when (issue 14).
                    """
                    CREATE TABLE room_leases (api_key TEXT NOT NULL, room_id TEXT NOT NULL, node_id TEXT NOT NULL,
                        lease_until BIGINT NOT NULL, epoch BIGINT NOT NULL, PRIMARY KEY (api_key, room_id))
                    """,
                    "CREATE INDEX room_leases_node ON room_leases (node_id)",
                ]
            ),
            (
                8,
                [
                    // Node-to-node messages too large for a NOTIFY payload, named by the notification (issue 14).
                    "CREATE TABLE relay_messages (id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at BIGINT NOT NULL)"
                ]
            ),
        ]
    }

    /// Applies the steps not yet recorded. On PostgreSQL an advisory lock held on one
    /// session serialises servers (and tests) that start at the same time on one database.
    static func run(on database: any SQLDatabase, blob: String, postgres: Bool) async throws {
        try await database.withSession { session in
            if postgres { try await session.raw("SELECT pg_advisory_lock(\(literal: lockKey))").run() }
            do {
                try await apply(on: session, blob: blob)
            } catch {
                if postgres { try? await session.raw("SELECT pg_advisory_unlock(\(literal: lockKey))").run() }
                throw error
            }
            if postgres { try await session.raw("SELECT pg_advisory_unlock(\(literal: lockKey))").run() }
        }
    }

    /// "admit" as a number, naming the migration lock.
    private static let lockKey = 0x61_64_6d_69_74

    private static func apply(on session: any SQLDatabase, blob: String) async throws {
        try await session.raw("CREATE TABLE IF NOT EXISTS admit_migrations (version BIGINT PRIMARY KEY)").run()
        let applied = Set(try await session.raw("SELECT version FROM admit_migrations").all().map { try $0.decode(column: "version", as: Int.self) })
        for step in steps(blob: blob) where !applied.contains(step.version) {
            try await session.raw("BEGIN").run()
            do {
                for statement in step.statements { try await session.raw(SQLQueryString(statement)).run() }
                try await session.raw("INSERT INTO admit_migrations (version) VALUES (\(bind: step.version))").run()
                try await session.raw("COMMIT").run()
            } catch {
                try? await session.raw("ROLLBACK").run()
                throw error
            }
        }
    }
}
