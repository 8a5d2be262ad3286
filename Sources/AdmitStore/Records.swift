public import AdmitCore
public import Foundation

/// An API key as stored: its secrets sealed (see `SecretBox`), never in clear.
public struct APIKeyRecord: Sendable, Equatable {
    /// A secret that a rotation replaced, sealed, still valid until `validUntil`.
    public struct PreviousSecret: Sendable, Equatable, Codable {
        public var sealed: Data
        public var validUntil: Date
        public init(sealed: Data, validUntil: Date) {
            self.sealed = sealed
            self.validUntil = validUntil
        }
    }

    /// The most secrets a key keeps valid at once, the current one excepted: rotations within
    /// one another's grace accumulate up to this, and one more is refused (`TooManyLiveSecrets`)
    /// rather than cutting a promised grace short.
    public static let maxPreviousSecrets = 16

    /// The public identifier that tokens name in `apikey`.
    public var apiKey: String
    public var name: String
    /// The current secret, sealed.
    public var sealedSecret: Data
    /// Secrets replaced by rotations whose grace has not run out, newest first. Every secret a
    /// rotation returned stays here for the grace that rotation promised, whatever came after.
    public var previousSecrets: [PreviousSecret]
    public var isDeactivated: Bool
    /// The key's API settings (the dashboard's), as JSON text; nil when none were ever set.
    public var settings: String?
    public var createdAt: Date
    public var updatedAt: Date

    /// Until when the secret replaced by the last rotation stays valid.
    public var previousSecretValidUntil: Date? { previousSecrets.first?.validUntil }

    public init(
        apiKey: String, name: String, sealedSecret: Data, previousSecrets: [PreviousSecret] = [], isDeactivated: Bool = false,
        settings: String? = nil, createdAt: Date, updatedAt: Date
    ) {
        self.settings = settings
        self.apiKey = apiKey
        self.name = name
        self.sealedSecret = sealedSecret
        self.previousSecrets = previousSecrets
        self.isDeactivated = isDeactivated
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// The key after a rotation to `sealedSecret` at `now`: the replaced secret stays valid
    /// until `validUntil`, earlier ones keep theirs, expired ones are dropped. Every store
    /// applies this inside one atomic step.
    public func rotated(to sealedSecret: Data, previousValidUntil validUntil: Date, now: Date) throws(TooManyLiveSecrets) -> APIKeyRecord {
        var next = self
        var previous = previousSecrets.filter { $0.validUntil > now }
        if validUntil > now { previous.insert(PreviousSecret(sealed: self.sealedSecret, validUntil: validUntil), at: 0) }
        guard previous.count <= Self.maxPreviousSecrets else { throw TooManyLiveSecrets() }
        next.previousSecrets = previous
        next.sealedSecret = sealedSecret
        next.updatedAt = now
        return next
    }
}

/// A rotation refused because the key already keeps `APIKeyRecord.maxPreviousSecrets`
/// replaced secrets within their grace.
public struct TooManyLiveSecrets: Error, Sendable, Equatable, CustomStringConvertible {
    public init() {}
    public var description: String {
        "the key already keeps \(APIKeyRecord.maxPreviousSecrets) replaced secrets within their grace; rotate again when one has expired, or with a shorter grace"
    }
}

/// A room (VideoSDK's "meeting"), owned by the API key whose token created it.
public struct RoomRecord: Sendable, Equatable {
    /// Internal identifier (24 hex digits, like VideoSDK's `id`).
    public var id: String
    /// The public room id, `abcd-efgh-ijkl`.
    public var roomId: String
    public var customRoomId: String?
    /// The owning API key; rooms of other keys are invisible.
    public var apiKey: String
    public var disabled: Bool
    /// The `webhook` object of the create request, as JSON text.
    public var webhook: String?
    /// The `autoCloseConfig` object of the create request, as JSON text.
    public var autoCloseConfig: String?
    public var createdAt: Date
    public var updatedAt: Date

    public init(
        id: String, roomId: String, customRoomId: String?, apiKey: String, disabled: Bool = false,
        webhook: String? = nil, autoCloseConfig: String? = nil, createdAt: Date, updatedAt: Date
    ) {
        self.id = id
        self.roomId = roomId
        self.customRoomId = customRoomId
        self.apiKey = apiKey
        self.disabled = disabled
        self.webhook = webhook
        self.autoCloseConfig = autoCloseConfig
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }
}

/// A revocation of an API key's tokens: by `jti`, by participant, by room, or all issued before a time.
public struct RevocationRecord: Sendable, Equatable {
    public var id: String
    public var apiKey: String
    public var jwtID: String?
    public var participantId: String?
    public var roomId: String?
    public var issuedBefore: Date?
    public var createdAt: Date

    public init(
        id: String, apiKey: String, jwtID: String? = nil, participantId: String? = nil, roomId: String? = nil,
        issuedBefore: Date? = nil, createdAt: Date
    ) {
        self.id = id
        self.apiKey = apiKey
        self.jwtID = jwtID
        self.participantId = participantId
        self.roomId = roomId
        self.issuedBefore = issuedBefore
        self.createdAt = createdAt
    }
}

/// A meeting session as stored: the meeting's `Session` (who attended, when, in order of first
/// join) with the API key it belongs to.
public struct SessionRecord: Sendable, Equatable, Codable {
    public typealias Stay = Session.Stay
    public typealias Attendee = Session.Attendee

    public var id: String
    public var apiKey: String
    /// The room's public id.
    public var roomId: String
    public var start: Date
    public var end: Date?
    public var attendees: [Attendee]

    public init(id: String, apiKey: String, roomId: String, start: Date, end: Date? = nil, attendees: [Attendee]) {
        self.id = id
        self.apiKey = apiKey
        self.roomId = roomId
        self.start = start
        self.end = end
        self.attendees = attendees
    }

    /// The meeting's session, kept for `apiKey`.
    public init(_ session: Session, apiKey: String) {
        self.init(id: session.id, apiKey: apiKey, roomId: session.roomId, start: session.start, end: session.end, attendees: session.attendees)
    }
}

/// A recording, HLS, livestream or transcription job: what a media worker must do for a room.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var apiKey: String
    /// The room's public id.
    public var roomId: String
    /// The session that was live when the job started.
    public var sessionId: String
    /// `recording`, `hls`, `livestream` or `transcription`.
    public var kind: String
    /// `starting`, `started`, `playable`, `stopping`, `stopped` or `failed`.
    public var status: String
    /// `start` or `stop` while a worker has yet to pick that up (`claim`); nil otherwise.
    public var pendingAction: String?
    /// The resolved configuration, every value with its source, as JSON text.
    public var config: String
    /// The rest of the start request (outputs, webhookUrl, awsDirPath, transcription), as JSON text.
    public var request: String
    public var fileUrl: String?
    public var playbackHlsUrl: String?
    public var livestreamUrl: String?
    public var error: String?
    /// The file a worker reported (`{meta, filePath, size, type, fileUrl, id}`), as JSON text.
    public var file: String?
    public var createdAt: Date
    public var updatedAt: Date
    /// When the job stopped or failed; nil while it is active.
    public var endedAt: Date?

    public init(
        id: String, apiKey: String, roomId: String, sessionId: String, kind: String, status: String, pendingAction: String?, config: String,
        request: String, fileUrl: String? = nil, playbackHlsUrl: String? = nil, livestreamUrl: String? = nil, error: String? = nil,
        file: String? = nil, createdAt: Date, updatedAt: Date, endedAt: Date? = nil
    ) {
        self.id = id
        self.apiKey = apiKey
        self.roomId = roomId
        self.sessionId = sessionId
        self.kind = kind
        self.status = status
        self.pendingAction = pendingAction
        self.config = config
        self.request = request
        self.fileUrl = fileUrl
        self.playbackHlsUrl = playbackHlsUrl
        self.livestreamUrl = livestreamUrl
        self.error = error
        self.file = file
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.endedAt = endedAt
    }

    /// Stopped and failed jobs no longer hold their room's slot for the kind.
    public var isActive: Bool { status != "stopped" && status != "failed" }
}

/// One page of a list and the total count.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var total: Int

    public init(items: [Item], total: Int) {
        self.items = items
        self.total = total
    }
}

extension Date {
    /// Now, in whole milliseconds: the precision the stores keep and the API shows, so a
    /// record reads back exactly as it was first answered.
    public static func stamp() -> Date {
        Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded(.down) / 1000)
    }
}
