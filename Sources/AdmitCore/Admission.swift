public import AdmitToken
import Foundation

/// What the join request asks for, besides the token.
public struct JoinRequest: Sendable, Equatable {
    /// The room as named in the request (room id or custom room id).
    public var roomId: String
    /// The participant id in the query; nil when the query names none.
    public var participantId: String?
    /// The `Origin` header, when the request carries one.
    public var origin: String?

    public init(roomId: String, participantId: String? = nil, origin: String? = nil) {
        self.roomId = roomId
        self.participantId = participantId
        self.origin = origin
    }
}

/// What admission needs to know of the room and its meeting.
public struct RoomFacts: Sendable, Equatable {
    public var roomId: String
    public var customRoomId: String?
    public var disabled: Bool
    /// Participants in the meeting now (not those waiting in the lobby).
    public var participantCount: Int
    public var maxParticipants: Int
    /// Participants waiting in the room's lobby now, and how many may.
    public var lobbyCount: Int
    public var maxLobby: Int
    /// The joining participant id already waits in the lobby (a reconnect takes its own place).
    public var alreadyWaiting: Bool
    /// The API key's domain whitelist (`https://host[:port]`); empty allows any origin.
    public var whitelist: [String]

    public init(
        roomId: String, customRoomId: String? = nil, disabled: Bool = false, participantCount: Int = 0, maxParticipants: Int = 100,
        lobbyCount: Int = 0, maxLobby: Int = 200, alreadyWaiting: Bool = false, whitelist: [String] = []
    ) {
        self.alreadyWaiting = alreadyWaiting
        self.lobbyCount = lobbyCount
        self.maxLobby = maxLobby
        self.roomId = roomId
        self.customRoomId = customRoomId
        self.disabled = disabled
        self.participantCount = participantCount
        self.maxParticipants = maxParticipants
        self.whitelist = whitelist
    }
}

/// The admission verdict for a verified token.
public enum Verdict: Sendable, Equatable {
    /// Joins the meeting directly (`allow_join`).
    case join(participantId: String)
    /// Waits in the lobby until someone holding `allow_join` answers (`ask_join`, or `allow_mod` alone).
    case lobby(participantId: String)
    /// Refused with a contract code; `status` is the HTTP status of the refusal.
    case refused(TokenError, status: Int)
}

/// The admission decision (CONTRACT.md section 1, step 9 for a meeting join), shared by the
/// WebSocket upgrade and `/rtc/validate` so that the two cannot disagree.
public enum Admission {
    /// Decides for claims that passed steps 1-8. `room` is nil when no such room exists.
    /// `generateId` supplies a participant id when neither the query nor the token has one.
    public static func decide(
        claims: Claims, request: JoinRequest, room: RoomFacts?, generateId: () -> String
    ) -> Verdict {
        guard let room else {
            return .refused(TokenError(.invalidMeetingID, .room, "no room \(request.roomId)"), status: 404)
        }
        guard !room.disabled else {
            return .refused(TokenError(.meetingIDDisabled, .room, "room \(room.roomId) is disabled"), status: 403)
        }
        // The token's room may name the room by its id or its custom id.
        let named = claims.roomId == room.customRoomId && room.customRoomId != nil ? room.customRoomId : room.roomId
        do throws(TokenError) {
            try TokenUse.join(roomId: named, participantId: request.participantId).check(claims)
        } catch {
            return .refused(error, status: error.httpStatus)
        }
        if let origin = request.origin, !Whitelist.allows(origin: origin, whitelist: room.whitelist) {
            return .refused(TokenError(.unauthorizedRequest, .origin, "origin \(origin) is not in the API key's whitelist"), status: 403)
        }
        let participantId = request.participantId ?? claims.participantId ?? generateId()
        let direct = claims.permissions.contains(.allowJoin)
        if direct, room.participantCount >= room.maxParticipants {
            return .refused(TokenError(.maxParticipantReached, .room, "room \(room.roomId) has \(room.maxParticipants) participants"), status: 403)
        }
        if !direct, !room.alreadyWaiting, room.lobbyCount >= room.maxLobby {
            return .refused(
                TokenError(.lobbyFull, .room, "the lobby of room \(room.roomId) holds \(room.maxLobby) waiting participants"), status: 403)
        }
        return direct ? .join(participantId: participantId) : .lobby(participantId: participantId)
    }
}

/// The domain whitelist (CONTRACT.md section 5): scheme, host and port compared exactly,
/// a default port equal to none, host case-insensitive.
public enum Whitelist {
    public static func allows(origin: String, whitelist: [String]) -> Bool {
        guard !whitelist.isEmpty else { return true }
        guard let given = Origin(origin) else { return false }
        return whitelist.contains { Origin($0) == given }
    }

    /// A parsed `scheme://host[:port]`.
    struct Origin: Equatable {
        var scheme: String
        var host: String
        var port: Int

        init?(_ text: String) {
            guard let schemeEnd = text.range(of: "://") else { return nil }
            scheme = text[..<schemeEnd.lowerBound].lowercased()
            var rest = text[schemeEnd.upperBound...]
            if rest.hasSuffix("/") { rest = rest.dropLast() }
            guard !rest.isEmpty, !rest.contains(where: { "/@?#* \t".contains($0) }) else { return nil }
            let defaultPort: Int
            switch scheme {
            case "https": defaultPort = 443
            case "http": defaultPort = 80
            default: return nil
            }
            if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
                guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else { return nil }
                port = number
                host = rest[..<colon].lowercased()
            } else {
                port = defaultPort
                host = rest.lowercased()
            }
            guard !host.isEmpty else { return nil }
        }

        /// `scheme://host[:port]`, lower case, without a default port.
        var canonical: String {
            port == (scheme == "https" ? 443 : 80) ? "\(scheme)://\(host)" : "\(scheme)://\(host):\(port)"
        }
    }
}
