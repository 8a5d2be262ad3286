import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import Synchronization

/// What changed in the store that every node keeps in memory.
public enum ChangeTopic: String, Sendable, CaseIterable {
    /// API keys and their settings (create, rotate, deactivate, settings).
    case keys
    case revocations
    /// Rooms changed (deactivated, webhook settings): cached copies are dropped.
    case rooms
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
    /// Topics noted and not yet handed on: a burst folds into one of each.
    private let pending = Mutex<Set<ChangeTopic>>([])
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger

    init(configuration: PostgresConnection.Configuration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        (topics, sink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Notes a topic; the consumer gets each pending topic once, however many came.
    private func note(_ topic: ChangeTopic) {
        pending.withLock { _ = $0.insert(topic) }
        wake.yield()
    }

    func run() async {
        await withTaskGroup(of: Void.self) { group in
            // Hands pending topics on, each once per wake-up (a burst of writes: one reload).
            group.addTask {
                for await _ in self.wakes {
                    let due = self.pending.withLock { pending -> [ChangeTopic] in
                        defer { pending.removeAll() }
                        return ChangeTopic.allCases.filter(pending.contains)
                    }
                    for topic in due { self.sink.yield(topic) }
                }
            }
            group.addTask { await self.listen() }
            await group.next()
            group.cancelAll()
        }
        wake.finish()
        sink.finish()
    }

    /// LISTENs (`PostgresListener`): after each (re)connect, a resync, as changes may have
    /// been missed meanwhile.
    private func listen() async {
        await PostgresListener.run(
            on: Self.channel, configuration: configuration, logger: logger, name: "the change feed",
            pauses: (.milliseconds(250), .seconds(5)), listening: { note(.resync) }
        ) { payload, _ in self.note(ChangeTopic(rawValue: payload) ?? .resync) }
    }

    /// Announces a change to every listener (this node's included), on any pooled connection.
    static func announce(_ topic: ChangeTopic, on database: any SQLDatabase, logger: Logger) async {
        do {
            try await database.raw("SELECT pg_notify(\(bind: channel), \(bind: topic.rawValue))").run()
        } catch {
            // The other nodes then see the change at their periodic refresh.
            logger.warning("could not tell the other nodes of a change", metadata: ["topic": "\(topic.rawValue)", "error": "\(error)"])
        }
    }
}
