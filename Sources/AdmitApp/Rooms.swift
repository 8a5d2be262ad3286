import AdmitCore
package import AdmitStore
package import AdmitToken
import Foundation

/// A room to create: what the request asked for, already parsed.
package struct NewRoom: Sendable {
    package var customRoomId: String?
    /// The webhook as JSON text, and its `endPoint` (checked here).
    package var webhook: String?
    package var webhookEndPoint: String?
    package var autoCloseConfig: String?

    package init(customRoomId: String? = nil, webhook: String? = nil, webhookEndPoint: String? = nil, autoCloseConfig: String? = nil) {
        self.customRoomId = customRoomId
        self.webhook = webhook
        self.webhookEndPoint = webhookEndPoint
        self.autoCloseConfig = autoCloseConfig
    }
}

/// Rooms for the server API and the examples' endpoints: create (idempotent by custom id),
/// find within a token's scope, validate, deactivate.
package struct RoomService: Sendable {
    package let cache: RoomCache
    let access: Access
    /// Why a webhook URL is refused (nil: accepted), by the server's address rules.
    let webhookRefusal: @Sendable (String) -> String?

    package init(cache: RoomCache, access: Access, webhookRefusal: @escaping @Sendable (String) -> String?) {
        self.cache = cache
        self.access = access
        self.webhookRefusal = webhookRefusal
    }

    /// Creates a room for the token's key; a room-scoped token may only (re)create its own custom room.
    package func create(_ new: NewRoom, claims: Claims, origin: String?) async throws -> RoomRecord {
        if let scoped = claims.roomId, new.customRoomId != scoped {
            throw AppError.token(TokenError(.unauthorizedMeetingID, .room, "a token for room \(scoped) cannot create other rooms"))
        }
        try access.requireOrigin(origin, apiKey: claims.apiKey)
        if let endPoint = new.webhookEndPoint, let refusal = webhookRefusal(endPoint) {
            throw AppError.invalid("`webhook.endPoint` \(refusal).")
        }
        let now = Date.stamp()
        var roomId = Identifiers.roomId()
        while try await cache.room(apiKey: claims.apiKey, id: roomId) != nil { roomId = Identifiers.roomId() }
        let record = RoomRecord(
            id: Identifiers.recordId(), roomId: roomId, customRoomId: new.customRoomId, apiKey: claims.apiKey, webhook: new.webhook,
            autoCloseConfig: new.autoCloseConfig, createdAt: now, updatedAt: now)
        return try await cache.insert(record)
    }

    /// The key's room named `id` (room id or custom id), within the token's scope and from an
    /// origin the whitelist allows; not found otherwise.
    package func find(_ claims: Claims, _ id: String, origin: String?) async throws -> RoomRecord {
        guard let room = try await cache.room(apiKey: claims.apiKey, id: id) else { throw AppError.notFound("No room \(id).") }
        try access.requireRoom(claims, room, origin: origin)
        return room
    }

    /// A room-scoped token's own room, if it exists.
    package func scoped(_ claims: Claims) async throws -> RoomRecord? {
        guard let scoped = claims.roomId else { return nil }
        return try await cache.room(apiKey: claims.apiKey, id: scoped)
    }

    /// Validate: the room when it exists and is enabled.
    package func valid(_ claims: Claims, _ id: String, origin: String?) async throws -> RoomRecord {
        try validRoom(claims, try await cache.room(apiKey: claims.apiKey, id: id), origin: origin)
    }

    /// Validate's answer once the room is looked up (nil: no such room), shared with the fast
    /// path: unknown (4003), another room than the token's (4022), a refused origin (4025),
    /// disabled (4052).
    package func validRoom(_ claims: Claims, _ room: RoomRecord?, origin: String?) throws(AppError) -> RoomRecord {
        guard let room else { throw AppError.code(.invalidMeetingID, kind: .invalid) }
        try access.requireRoom(claims, room, origin: origin)
        guard !room.disabled else { throw AppError.code(.meetingIDDisabled, kind: .invalid) }
        return room
    }

    /// Deactivates the room (its joins are refused with 4052 from now on).
    package func deactivate(_ claims: Claims, _ id: String, origin: String?) async throws -> RoomRecord {
        var room = try await find(claims, id, origin: origin)
        if !room.disabled {
            room.disabled = true
            room.updatedAt = .stamp()
            try await cache.update(room)
        }
        return room
    }
}
