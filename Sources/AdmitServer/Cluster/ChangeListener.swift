import AdmitApp
import AdmitStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Revocations reach live meetings on every node: whichever node stored a revocation, each
/// node removes the matching participants it holds when it next loads the list (at once on a
/// change notification, or at the periodic refresh). Records seen already are not applied again.
final class LiveRevocations: Sendable {
    private let applied: Mutex<Set<String>>
    private let services: Services
    private let hub: MeetingHub

    init(services: Services, hub: MeetingHub) {
        self.services = services
        self.hub = hub
        // What exists at start has no live meeting to act on yet.
        applied = Mutex(Set(services.revocations.all.map(\.id)))
    }

    /// Reloads the list and applies the revocations this node has not applied yet.
    func sync() async throws {
        try await services.revocations.reload()
        let fresh = applied.withLock { applied in
            let new = services.revocations.all.filter { !applied.contains($0.id) }
            applied.formUnion(new.map(\.id))
            return new
        }
        for record in fresh { await hub.revoke(record) }
    }

    /// A revocation this node stored and applied itself.
    func noteApplied(_ id: String) {
        _ = applied.withLock { $0.insert(id) }
    }
}

/// Follows the store's change feed (PostgreSQL's LISTEN/NOTIFY): keys and settings, and
/// revocations, changed by any node or the CLI, are reloaded within moments instead of at the
/// next periodic refresh (which stays, as a safety net).
struct ChangeListener: Service {
    let feed: any ChangeFeed
    let services: Services
    let revocations: LiveRevocations
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await feed.run() }
                group.addTask {
                    for await topic in feed.topics {
                        do {
                            switch topic {
                            case .keys: try await services.keyRing.reload()
                            case .revocations: try await revocations.sync()
                            case .rooms: services.rooms.forgetAll()
                            case .resync:
                                services.rooms.forgetAll()
                                try await services.keyRing.reload()
                                try await revocations.sync()
                            }
                        } catch {
                            logger.warning("could not reload after a change", metadata: ["topic": "\(topic.rawValue)", "error": "\(error)"])
                        }
                    }
                }
                await group.waitForAll()
            }
        }
    }
}

extension AppConfiguration {
    /// This process's name among the nodes: random (`/health` answers anyone, so no host name).
    static func defaultNodeId() -> String {
        "node-\(Identifiers.hex(8))"
    }
}
