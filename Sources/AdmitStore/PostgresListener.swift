import Logging
import PostgresKit

/// One LISTEN kept alive, for the change feed and the node link: connects, LISTENs on
/// `channel`, hands each notification's payload to `received`, and reconnects with growing
/// pauses (from `pauses.first` up to `pauses.most`). A `SELECT 1` every 30 s (10 s to answer)
/// notices a connection that died without a word (a partition, a restarted proxy). LISTEN
/// needs a direct, session-mode connection (not PgBouncer's transaction mode). Returns when
/// its task is cancelled.
enum PostgresListener {
    static func run(
        on channel: String, configuration: PostgresConnection.Configuration, logger: Logger, name: String,
        pauses: (first: Duration, most: Duration),
        listening: () -> Void,
        received: @escaping @Sendable (String, PostgresConnection) async -> Void
    ) async {
        var pause = pauses.first
        var connectionID = 0
        while !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: connectionID, logger: logger)
                do {
                    try await connection.listen(on: channel) { notifications in
                        pause = pauses.first
                        listening()
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for try await notification in notifications { await received(notification.payload, connection) }
                            }
                            group.addTask {
                                while true {
                                    try await Task.sleep(for: .seconds(30))
                                    try await probe(connection, logger: logger, name: name)
                                }
                            }
                            _ = try await group.next()
                            group.cancelAll()
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if !Task.isCancelled { logger.warning("\(name) lost PostgreSQL; retrying", metadata: ["error": "\(error)"]) }
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, pauses.most)
        }
    }

    /// `SELECT 1` with a 10 s limit: throws when the connection does not answer.
    private static func probe(_ connection: PostgresConnection, logger: Logger, name: String) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { _ = try await connection.query("SELECT 1", logger: logger) }
            group.addTask {
                try await Task.sleep(for: .seconds(10))
                throw StoreError("PostgreSQL did not answer \(name)'s probe")
            }
            _ = try await group.next()
            group.cancelAll()
        }
    }
}
