import AdmitCore
import AdmitStore
package import AdmitToken

/// What admission needs to know about the live meetings (the server's hub).
package protocol MeetingDirectory: Sendable {
    var maxParticipants: Int { get }
    var maxLobby: Int { get }
    /// Participants in the meeting and waiting in its lobby now, and whether `participantId` waits there.
    func counts(_ room: RoomRef, waiting participantId: String?) -> (participants: Int, lobby: Int, waiting: Bool)
    /// Whether `participantId` may enter the lobby (it is not in the meeting already).
    func lobbyMayUse(_ room: RoomRef, participantId: String) -> Bool
    /// Promises a seat to a direct join about to be upgraded; false when the meeting is full.
    func reserveSeat(_ room: RoomRef, participantId: String) -> Bool
}

/// A join as `/rtc` and `/rtc/validate` receive it (CONTRACT.md section 4).
package struct JoinQuery: Sendable {
    package var token: String?
    package var roomId: String?
    package var participantId: String?
    package var name: String?
    package var origin: String?
    /// The SDK's own settings on the join URL.
    package var maxSendBitrate: String?
    package var micEnabled: String?
    package var webcamEnabled: String?

    package init(
        token: String?, roomId: String?, participantId: String?, name: String?, origin: String?, maxSendBitrate: String?, micEnabled: String?,
        webcamEnabled: String?
    ) {
        self.token = token
        self.roomId = roomId
        self.participantId = participantId
        self.name = name
        self.origin = origin
        self.maxSendBitrate = maxSendBitrate
        self.micEnabled = micEnabled
        self.webcamEnabled = webcamEnabled
    }
}

/// The SDK's settings on a join URL, checked: `maxSendBitrate` (auto, sd, hd, fullhd), `micEnabled`, `webcamEnabled`.
package struct JoinSettings: Sendable {
    package var maxSendBitrate: String?
    package var mic = false
    package var webcam = false

    package init(maxSendBitrate: String?, micEnabled: String?, webcamEnabled: String?) throws(AppError) {
        if let value = maxSendBitrate {
            guard MediaField.bitrates.contains(value) else { throw AppError.invalid("`maxSendBitrate` must be auto, sd, hd or fullhd.") }
            self.maxSendBitrate = value
        }
        mic = try Self.flag(micEnabled, "micEnabled")
        webcam = try Self.flag(webcamEnabled, "webcamEnabled")
    }

    private static func flag(_ value: String?, _ name: String) throws(AppError) -> Bool {
        guard let value else { return false }
        guard value == "true" || value == "false" else { throw AppError.invalid("`\(name)` must be true or false.") }
        return value == "true"
    }
}

/// An admitted join: who enters which room, the meeting or its lobby, with what.
package struct AdmittedJoin: Sendable {
    package var claims: Claims
    package var room: RoomRef
    package var participantId: String
    package var name: String
    package var lobby: Bool
    package var mic: Bool
    package var webcam: Bool
    /// The effective audio/video settings shown in `meeting-joined.config`.
    package var config: JSONValue
    /// The room's webhook subscribes to `participant-joined` or `participant-left`.
    package var participantHooks: Bool
}

/// The one admission function, for `/rtc` and `/rtc/validate`: steps 1-8 for the token, then
/// step 9 (`Admission.decide`), the lobby's id rule and participant revocations.
package struct JoinService: Sendable {
    let access: Access
    let rooms: RoomCache
    let revocations: RevocationList
    let meetings: any MeetingDirectory

    package init(access: Access, rooms: RoomCache, revocations: RevocationList, meetings: any MeetingDirectory) {
        self.access = access
        self.rooms = rooms
        self.revocations = revocations
        self.meetings = meetings
    }

    /// `reserving`, for the upgrade: a direct join also takes its seat here, so one over the cap
    /// is refused (4009) before any WebSocket.
    package func admit(_ query: JoinQuery, reserving: Bool = false) async throws -> AdmittedJoin {
        try await admit(query, claims: try access.verify(query.token, for: nil), reserving: reserving)
    }

    /// The token's part done (steps 1-8, by this node or by the node the participant connected
    /// to, which relays the join to the room's owner): the rest of admission, on the node that
    /// runs the room's meeting.
    package func admit(_ query: JoinQuery, claims: Claims, reserving: Bool) async throws -> AdmittedJoin {
        guard let roomId = query.roomId, !roomId.isEmpty else { throw AppError.invalid("`roomId` is required.") }
        let settings = try JoinSettings(maxSendBitrate: query.maxSendBitrate, micEnabled: query.micEnabled, webcamEnabled: query.webcamEnabled)
        let dashboard = access.keyRing.settings(for: claims.apiKey)
        let record = try await rooms.room(apiKey: claims.apiKey, id: roomId)
        let key = record.map { RoomRef(apiKey: claims.apiKey, roomId: $0.roomId) }
        let requested = query.participantId
        let facts = record.map { room in
            let counts = meetings.counts(RoomRef(apiKey: claims.apiKey, roomId: room.roomId), waiting: requested ?? claims.participantId)
            return RoomFacts(
                roomId: room.roomId, customRoomId: room.customRoomId, disabled: room.disabled,
                participantCount: counts.participants, maxParticipants: meetings.maxParticipants,
                lobbyCount: counts.lobby, maxLobby: meetings.maxLobby, alreadyWaiting: counts.waiting, whitelist: dashboard.whitelist)
        }
        let verdict = Admission.decide(
            claims: claims, request: JoinRequest(roomId: roomId, participantId: requested, origin: query.origin), room: facts
        ) { Identifiers.hex(8) }
        let participantId: String
        let lobby: Bool
        switch verdict {
        case .refused(let error, let status):
            access.outcome(error.reason.rawValue)
            throw AppError.token(error, status: status)
        case .join(let id): (participantId, lobby) = (id, false)
        case .lobby(let id): (participantId, lobby) = (id, true)
        }
        guard let key else { throw AppError.code(.invalidMeetingID, kind: .notFound) }
        if lobby, !meetings.lobbyMayUse(key, participantId: participantId) {
            throw AppError.code(
                .duplicateParticipant, kind: .conflict,
                message: "participantId \(participantId) is in the meeting; a lobby entrant cannot replace it.")
        }
        var scoped = claims
        scoped.participantId = participantId
        scoped.roomId = key.roomId
        if revocations.isRevoked(scoped) {
            throw AppError.token(TokenError(.invalidToken, .revoked, "participant \(participantId) has been revoked"))
        }
        if reserving, !lobby, !meetings.reserveSeat(key, participantId: participantId) {
            let error = TokenError(.maxParticipantReached, .room, "room \(key.roomId) has \(meetings.maxParticipants) participants")
            access.outcome(error.reason.rawValue)
            throw AppError.token(error, status: 403)
        }
        let name = query.name.flatMap { $0.isEmpty ? nil : String($0.prefix(100)) } ?? participantId
        return AdmittedJoin(
            claims: claims, room: key, participantId: participantId, name: name, lobby: lobby, mic: settings.mic, webcam: settings.webcam,
            config: Precedence.audioVideo(dashboard: dashboard, sdkMaxSendBitrate: settings.maxSendBitrate).json,
            participantHooks: record?.webhook != nil && WebhookRules.subscribesToParticipants(record))
    }
}
