/// What a valid token is about to be used for: the token's part of step 9.
///
/// The server checks room existence, room state, origin and capacity around these
/// checks; this type checks only what the token itself decides.
public enum TokenUse: Sendable, Hashable {
    /// Joining a meeting. `roomId` nil skips the room check (a command-line check without a room);
    /// `participantId` is the one asked for in the join, nil when the join names none.
    case join(roomId: String?, participantId: String?)
    /// Calling the server API, for `roomId` when the call touches one room.
    case serverAPI(roomId: String?)

    /// Throws the first reason the token may not be used this way, in the contract's order.
    public func check(_ claims: Claims) throws(TokenError) {
        switch self {
        case .join(let roomId, let participantId):
            if let id = participantId ?? claims.participantId, !Self.isValidParticipantID(id) {
                throw TokenError(.invalidParticipantID, .participant, "participantId must be non-empty and contain no whitespace")
            }
            if let roles = claims.roles, !roles.contains(.rtc) {
                throw TokenError(.unauthorizedRole, .role, "the token's roles do not include rtc, so it cannot join meetings")
            }
            if let roomId, let scoped = claims.roomId, scoped != roomId {
                throw TokenError(.unauthorizedMeetingID, .room, "the token is for room \(scoped), not \(roomId)")
            }
            if let participantId, let scoped = claims.participantId, scoped != participantId {
                throw TokenError(.unauthorizedParticipantID, .participant, "the token is for participant \(scoped), not \(participantId)")
            }
        case .serverAPI(let roomId):
            if let roles = claims.roles, !roles.contains(.crawler) {
                throw TokenError(.unauthorizedRole, .role, "the token's roles do not include crawler, so it cannot call the server API")
            }
            if let roomId, let scoped = claims.roomId, scoped != roomId {
                throw TokenError(.unauthorizedMeetingID, .room, "the token is for room \(scoped), not \(roomId)")
            }
        }
    }

    /// A participant id is non-empty and has no whitespace (4004).
    public static func isValidParticipantID(_ id: String) -> Bool {
        !id.isEmpty && !id.unicodeScalars.contains { $0.properties.isWhitespace }
    }
}
