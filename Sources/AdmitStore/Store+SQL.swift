import Foundation
public import Logging
import NIOCore
import NIOPosix
import PostgresKit
import SQLKit
import SQLiteKit

extension Store {
    /// An SQLite store in the file at `path` (created with its schema when missing).
    public static func sqlite(path: String, logger: Logger) async throws -> Store {
        // Owner only: the file holds sealed secrets, rooms and who attended what. SQLite gives
        // its -wal and -shm files the database file's permissions.
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw StoreError("Cannot create the database file \(path).")
            }
        }
        for file in [path, path + "-wal", path + "-shm"] where FileManager.default.fileExists(atPath: file) {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        }
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let database = connection.sql(queryLogLevel: .trace)
        do {
            try await database.raw("PRAGMA journal_mode = WAL").run()
            try await database.raw("PRAGMA busy_timeout = 5000").run()
            try await Migrations.run(on: database, blob: "BLOB", postgres: false)
        } catch {
            try? await connection.close()
            throw error
        }
        return Store(SQLRepositories(database), description: "sqlite:\(path)", close: { try await connection.close() })
    }

    /// A PostgreSQL store at `url` (`postgres://user:password@host:port/database`), migrated on open.
    public static func postgres(url: String, logger: Logger) async throws -> Store {
        let configuration = try SQLPostgresConfiguration(url: url)
        let pool = EventLoopGroupConnectionPool(
            source: PostgresConnectionSource(sqlConfiguration: configuration),
            maxConnectionsPerEventLoop: 4,
            on: MultiThreadedEventLoopGroup.singleton)
        let database = pool.database(logger: logger).sql(queryLogLevel: .trace)
        do {
            try await Migrations.run(on: database, blob: "BYTEA", postgres: true)
        } catch {
            try? await pool.shutdownAsync()
            throw error
        }
        // The pool is thread-safe (every use goes through its event loops) but AsyncKit does not say so.
        nonisolated(unsafe) let shared = pool
        let safe = URL(string: url).map { "postgres://\($0.host ?? "?")\($0.port.map { ":\($0)" } ?? "")\($0.path)" } ?? "postgres"
        let feed = PostgresChangeFeed(configuration: configuration.coreConfiguration, logger: logger)
        let repositories = SQLRepositories(database) { topic in await PostgresChangeFeed.announce(topic, on: database, logger: logger) }
        let core = configuration.coreConfiguration
        return Store(
            repositories, description: safe, changes: feed, nodeLink: { PostgresNodeLink(node: $0, key: $1, configuration: core, logger: logger) },
            close: { try await shared.shutdownAsync() })
    }
}
