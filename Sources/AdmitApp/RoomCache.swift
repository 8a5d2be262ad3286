package import AdmitStore
import Foundation
import Synchronization

/// Rooms read through a short-lived cache: validate and every join look a room up, and the
/// store answers from another thread. Writes made through this server update the cache at
/// once; changes made by another server on the same PostgreSQL clear it on its change
/// notification (`forgetAll`), and otherwise are seen within `lifetime` (the periodic refresh's
/// bound). Unknown rooms are not cached, so a room made elsewhere is found at once.
package final class RoomCache: Sendable {
    private struct Key: Hashable {
        var apiKey: String
        var id: String
    }

    private let repositories: any Repositories
    private let lifetime: Duration
    private struct Entry {
        var room: RoomRecord
        var until: ContinuousClock.Instant
        /// The room as the API shows it, encoded once: validate answers with these bytes.
        var json: [UInt8]
    }

    private let entries = Mutex<[Key: Entry]>([:])
    /// The room as the API shows it (the server's encoding), kept with each entry.
    private let encode: @Sendable (RoomRecord) -> [UInt8]

    package init(repositories: any Repositories, lifetime: Duration, encode: @escaping @Sendable (RoomRecord) -> [UInt8]) {
        self.repositories = repositories
        self.lifetime = lifetime
        self.encode = encode
    }

    /// The key's room named `id` (room id or custom room id).
    package func room(apiKey: String, id: String) async throws -> RoomRecord? {
        let now = ContinuousClock.now
        if let hit = cachedWithJSON(apiKey: apiKey, id: id, now: now) { return hit.room }
        guard let room = try await repositories.room(apiKey: apiKey, id: id) else { return nil }
        remember(room, now: now)
        return room
    }

    /// The room with its API JSON, when the cache holds it, still fresh; nil means "ask
    /// `room(apiKey:id:)`".
    package func cachedWithJSON(apiKey: String, id: String, now: ContinuousClock.Instant = .now) -> (room: RoomRecord, json: [UInt8])? {
        guard let hit = entries.withLock({ $0[Key(apiKey: apiKey, id: id)] }), hit.until > now else { return nil }
        return (hit.room, hit.json)
    }

    package func insert(_ room: RoomRecord) async throws -> RoomRecord {
        let stored = try await repositories.insertRoom(room)
        remember(stored, now: .now)
        return stored
    }

    package func update(_ room: RoomRecord) async throws {
        try await repositories.updateRoom(room)
        remember(room, now: .now)
    }

    /// Drops every cached room (another node changed one): the next lookups read the store.
    package func forgetAll() {
        entries.withLock { $0.removeAll() }
    }

    private func remember(_ room: RoomRecord, now: ContinuousClock.Instant) {
        let entry = Entry(room: room, until: now + lifetime, json: encode(room))
        entries.withLock { entries in
            if entries.count > 100_000 { entries.removeAll() }  // bounded
            entries[Key(apiKey: room.apiKey, id: room.roomId)] = entry
            if let custom = room.customRoomId { entries[Key(apiKey: room.apiKey, id: custom)] = entry }
        }
    }
}
