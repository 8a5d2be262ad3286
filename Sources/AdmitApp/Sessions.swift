package import AdmitCore
package import AdmitStore
package import AdmitToken

/// What the sessions API needs from the live meetings (the server's hub).
package protocol LiveMeetings: Sendable {
    /// The id of the room's live session, if any (wherever its meeting runs).
    func liveSessionId(_ room: RoomRef) async -> String?
    /// Ends the room's meeting for everyone with `reason`; false when nobody is in it.
    func end(_ room: RoomRef, reason: LeaveReason) async -> Bool
    /// Removes one participant (1010); false when absent.
    func remove(_ room: RoomRef, participantId: String) async -> Bool
    /// Waits until every session change this server's meetings made so far is in the store
    /// (sessions are written behind the events).
    func sessionsWritten() async
}

/// The v2 sessions API's use cases: sessions as meetings recorded them, and the two actions on
/// live meetings (end with 1009, remove a participant with 1010), each within the token's scope.
package struct SessionService: Sendable {
    let repositories: any Repositories
    let rooms: RoomService
    let meetings: any LiveMeetings

    package init(repositories: any Repositories, rooms: RoomService, meetings: any LiveMeetings) {
        self.repositories = repositories
        self.rooms = rooms
        self.meetings = meetings
    }

    /// The key's sessions, newest first: of the room named by `roomId` (id or custom id), or a
    /// room-scoped token's own room, or all.
    package func list(_ claims: Claims, roomId: String?, origin: String?, page: Int, perPage: Int) async throws -> Page<SessionRecord> {
        var room: String?
        if let id = roomId ?? claims.roomId { room = try await rooms.find(claims, id, origin: origin).roomId }
        await meetings.sessionsWritten()
        return try await repositories.sessions(apiKey: claims.apiKey, roomId: room, page: page, perPage: perPage)
    }

    /// One session of the key, within a room-scoped token's room.
    package func session(_ claims: Claims, id: String, origin: String?) async throws -> SessionRecord {
        await meetings.sessionsWritten()
        guard let found = try await repositories.session(apiKey: claims.apiKey, id: id) else { throw AppError.notFound("No session \(id).") }
        if claims.roomId != nil { _ = try await rooms.find(claims, found.roomId, origin: origin) }
        return found
    }

    /// Ends the room's live session (`sessionId`, when given, must be it); the ended session as stored.
    package func end(_ claims: Claims, roomId: String, sessionId: String?, origin: String?) async throws -> SessionRecord {
        let room = try await rooms.find(claims, roomId, origin: origin)
        let key = RoomRef(apiKey: claims.apiKey, roomId: room.roomId)
        guard let live = await meetings.liveSessionId(key), sessionId == nil || sessionId == live else {
            throw AppError.conflict("Room \(room.roomId) has no live session\(sessionId.map { " \($0)" } ?? "").")
        }
        guard await meetings.end(key, reason: .meetingEndAPI), let ended = try await repositories.session(apiKey: claims.apiKey, id: live) else {
            throw AppError.conflict("Room \(room.roomId) has no live session.")
        }
        return ended
    }

    /// Removes a participant from the room's meeting; the room's id and the live session's.
    package func remove(
        _ claims: Claims, roomId: String, participantId: String, sessionId: String?, origin: String?
    ) async throws -> (roomId: String, sessionId: String?) {
        let room = try await rooms.find(claims, roomId, origin: origin)
        let key = RoomRef(apiKey: claims.apiKey, roomId: room.roomId)
        let live = await meetings.liveSessionId(key)
        if let sessionId, sessionId != live {
            throw AppError.conflict("Session \(sessionId) is not live in room \(room.roomId).")
        }
        guard await meetings.remove(key, participantId: participantId) else {
            throw AppError.notFound("Participant \(participantId) is not in room \(room.roomId).")
        }
        return (room.roomId, live)
    }
}
