import AdmitApp
import AdmitStore
import Foundation
import Hummingbird

/// A room as the VideoSDK v2 API shows it.
struct RoomResponse: ResponseEncodable, Sendable {
    struct Links: Encodable, Sendable {
        var get_room: String
        var get_session: String

        /// The room, and the room's sessions.
        init(_ links: PublicLinks, roomId: String) {
            get_room = links.room(roomId)
            get_session = links.sessions(roomId: roomId)
        }
    }

    /// The API key's owner, as VideoSDK shows the account: Admit knows the key's name only.
    struct User: Encodable, Sendable {
        var id: String
        var name: String?
        var email: String?
        var discontinuedReason: String?

        private enum CodingKeys: String, CodingKey { case id, name, email, discontinuedReason }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(name, forKey: .name)  // null when unknown, as every field here
            try container.encode(email, forKey: .email)
            try container.encode(discontinuedReason, forKey: .discontinuedReason)
        }
    }

    var roomId: String
    var customRoomId: String?
    var userId: String
    var user: User
    var disabled: Bool
    var createdAt: Date
    var updatedAt: Date
    var id: String
    var links: Links
    var webhook: RoomRequest.Webhook?
    var autoCloseConfig: RoomRequest.AutoClose?
    /// `POST /create-meeting` also answers the room id as `meetingId`, as the official examples read it.
    var meetingId: String?

    /// `owner`: the name of the room's API key, when known.
    init(_ room: RoomRecord, links: PublicLinks, owner: String?) {
        roomId = room.roomId
        customRoomId = room.customRoomId
        userId = room.apiKey
        user = User(id: room.apiKey, name: owner)
        disabled = room.disabled
        createdAt = room.createdAt
        updatedAt = room.updatedAt
        id = room.id
        self.links = Links(links, roomId: room.roomId)
        webhook = room.webhook.flatMap { try? JSONDecoder().decode(RoomRequest.Webhook.self, from: Data($0.utf8)) }
        autoCloseConfig = room.autoCloseConfig.flatMap { try? JSONDecoder().decode(RoomRequest.AutoClose.self, from: Data($0.utf8)) }
    }

    private enum CodingKeys: String, CodingKey {
        case roomId, customRoomId, userId, user, disabled, createdAt, updatedAt, id, links, webhook, autoCloseConfig, meetingId
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(roomId, forKey: .roomId)
        try container.encode(customRoomId, forKey: .customRoomId)  // null when none, as in the contract's shape
        try container.encode(userId, forKey: .userId)
        try container.encode(user, forKey: .user)
        try container.encode(disabled, forKey: .disabled)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(id, forKey: .id)
        try container.encode(links, forKey: .links)
        try container.encodeIfPresent(webhook, forKey: .webhook)
        try container.encodeIfPresent(autoCloseConfig, forKey: .autoCloseConfig)
        try container.encodeIfPresent(meetingId, forKey: .meetingId)
    }
}

extension RoomResponse {
    /// The room as a response body, by the encoder every JSON response uses (the room cache keeps it).
    static func json(_ room: RoomRecord, links: PublicLinks, owner: String?) -> [UInt8] {
        Array((try? AppContext.encoder.encode(RoomResponse(room, links: links, owner: owner))) ?? Data())
    }
}

/// `POST /v2/rooms`: every field optional, each checked.
struct RoomRequest: Decodable, Sendable {
    struct Webhook: Codable, Sendable {
        var endPoint: String
        var events: [String]

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            endPoint = try container.decode(String.self, forKey: .endPoint)
            events = try container.decodeIfPresent([String].self, forKey: .events) ?? []
            // The address rule needs the server's configuration: `RoomsController.createRoom` applies it.
            guard case .success = WebhookTarget.check(endPoint, allowPrivate: true) else {
                throw decoder.invalid("`webhook.endPoint` must be an http or https URL.")
            }
        }
    }

    struct AutoClose: Codable, Sendable {
        /// `session-ends` or `session-end-and-deactivate`.
        var type: String
        /// Minutes.
        var duration: Int?

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            type = try container.decode(String.self, forKey: .type)
            duration = try container.decodeIfPresent(Int.self, forKey: .duration)
            guard ["session-ends", "session-end-and-deactivate"].contains(type) else {
                throw decoder.invalid("`autoCloseConfig.type` must be session-ends or session-end-and-deactivate.")
            }
            if let duration, duration < 1 { throw decoder.invalid("`autoCloseConfig.duration` must be at least 1 (minutes).") }
        }
    }

    var customRoomId: String?
    var webhook: Webhook?
    var autoCloseConfig: AutoClose?

    private enum CodingKeys: String, CodingKey { case customRoomId, webhook, autoCloseConfig }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        customRoomId = try container.decodeIfPresent(String.self, forKey: .customRoomId)
        webhook = try container.decodeIfPresent(Webhook.self, forKey: .webhook)
        autoCloseConfig = try container.decodeIfPresent(AutoClose.self, forKey: .autoCloseConfig)
        if let customRoomId, customRoomId.isEmpty || customRoomId.count > 128 || customRoomId.contains(where: \.isWhitespace) {
            throw decoder.invalid("`customRoomId` must be 1 to 128 characters without whitespace.")
        }
    }

    init() {}

    /// What the application layer creates.
    func newRoom() throws -> NewRoom {
        let encoder = JSONEncoder()
        return NewRoom(
            customRoomId: customRoomId, webhook: try webhook.map { String(decoding: try encoder.encode($0), as: UTF8.self) },
            webhookEndPoint: webhook?.endPoint, autoCloseConfig: try autoCloseConfig.map { String(decoding: try encoder.encode($0), as: UTF8.self) })
    }
}

/// `{roomId}` bodies (`/v2/rooms/deactivate`).
struct RoomIdRequest: Decodable, Sendable {
    var roomId: String
}
