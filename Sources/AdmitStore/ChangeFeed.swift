import Foundation
public import Logging
import NIOCore
import NIOPosix
import PostgresKit
import Synchronization

/// What changed in the store that every node keeps in memory.
public enum ChangeTopic: String, Sendable, CaseIterable {
    /// API keys and their settings (create, rotate, deactivate, settings).
    case keys
    case revocations
    /// The feed (re)connected: notifications may have been missed, reload everything.
    case resync
}

/// Tells every node that shares the store what changed, so it reloads at once instead of at
/// its next periodic refresh (kept as a safety net). With PostgreSQL: `NOTIFY` on the channel
/// `admit_changes` (sent in the writing statement's wake by the repositories, whoever wrote:
/// a server or the CLI), and a connection of its own that `LISTEN`s.
public protocol ChangeFeed: Sendable {
    /// Topics as they come, to one consumer; `.resync` first, and after every reconnect.
    var topics: AsyncStream<ChangeTopic> { get }
    /// Listens until cancelled, reconnecting with growing pauses.
    func run() async
}

/// PostgreSQL's LISTEN/NOTIFY as a `ChangeFeed`.
final class PostgresChangeFeed: ChangeFeed {
    static let channel = "admit_changes"
    let topics: AsyncStream<ChangeTopic>
    private let sink: AsyncStream<ChangeTopic>.Continuation
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        // A burst of the same topic needs one reload: the newest few are enough.
        (topics, sink) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(64))
    }

    func run() async {
        var pause: Duration = .milliseconds(250)
        var connectionID = 0
        while !Task.isCancelled {
            connectionID += 1
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: connectionID, logger: logger)
                defer { Task { try? await connection.close() } }
                try await connection.listen(on: Self.channel) { notifications in
                    pause = .milliseconds(250)
                    sink.yield(.resync)
                    for try await notification in notifications {
                        sink.yield(ChangeTopic(rawValue: notification.payload) ?? .resync)
                    }
                }
            } catch {
                if !Task.isCancelled { logger.warning("the change feed lost PostgreSQL; retrying", metadata: ["error": "\(error)"]) }
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(5))
        }
        sink.finish()
    }

    /// Announces a change to every listener (this node's included), on any pooled connection.
    static func announce(_ topic: ChangeTopic, on database: any SQLDatabase) async {
        _ = try? await database.raw("SELECT pg_notify(\(bind: channel), \(bind: topic.rawValue))").run()
    }
}
