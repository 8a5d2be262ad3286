import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Crypto
import Foundation
import Hummingbird

/// The v2 sessions API: sessions as meetings recorded them, and the two actions on live
/// meetings (end with 1009, remove a participant with 1010).
struct SessionsController {
    let services: Services
    let sessions: SessionService

    /// A session as the v2 API shows it (one shape for the list, the single session and `end`).
    struct SessionResponse: ResponseEncodable, Sendable {
        var id: String
        var roomId: String
        var customRoomId: String?
        var userId: String
        var start: Date
        var end: Date?
        var status: String
        /// Seconds from the start to the end, or to now while the session is live.
        var activeDuration: Int
        var links: RoomResponse.Links
        var participants: [ParticipantResponse]

        init(_ session: SessionRecord, customRoomId: String?, links: PublicLinks, now: Date = Date()) {
            id = session.id
            roomId = session.roomId
            self.customRoomId = customRoomId
            userId = session.apiKey
            start = session.start
            end = session.end
            status = session.end == nil ? "ongoing" : "ended"
            let seconds = (session.end ?? now).timeIntervalSince(session.start)
            activeDuration = seconds.isFinite && seconds > 0 ? Int(min(seconds, Double(Int32.max))) : 0
            self.links = RoomResponse.Links(links, roomId: session.roomId)
            participants = session.attendees.map { ParticipantResponse($0, sessionId: session.id) }
        }

        private enum CodingKeys: String, CodingKey {
            case id, roomId, customRoomId, userId, start, end, status, activeDuration, chatLink, links, participants
        }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(roomId, forKey: .roomId)
            try container.encode(customRoomId, forKey: .customRoomId)  // null when the room has none
            try container.encode(userId, forKey: .userId)
            try container.encode(start, forKey: .start)
            try container.encode(end, forKey: .end)  // null while ongoing
            try container.encode(status, forKey: .status)
            try container.encode(activeDuration, forKey: .activeDuration)
            try container.encodeNil(forKey: .chatLink)  // Admit keeps no chat
            try container.encode(links, forKey: .links)
            try container.encode(participants, forKey: .participants)
        }
    }

    struct ParticipantResponse: Encodable, Sendable {
        struct Stay: Encodable, Sendable {
            var start: Date
            var end: Date?
            private enum CodingKeys: String, CodingKey { case start, end }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(start, forKey: .start)
                try container.encode(end, forKey: .end)
            }
        }
        /// The participant's record in this session: 24 hex digits, the same on every read.
        var _id: String
        var participantId: String
        var name: String
        var timelog: [Stay]

        init(_ attendee: SessionRecord.Attendee, sessionId: String) {
            _id = Self.recordId(sessionId: sessionId, participantId: attendee.participantId)
            participantId = attendee.participantId
            name = attendee.name
            timelog = attendee.timelog.map { Stay(start: $0.start, end: $0.end) }
        }

        /// Derived, not stored: the first 12 bytes of SHA-256 over the session and participant ids.
        static func recordId(sessionId: String, participantId: String) -> String {
            SHA256.hash(data: Data("\(sessionId)\u{0}\(participantId)".utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
        }
    }

    struct EndBody: Decodable {
        var roomId: String
        var sessionId: String?
    }

    struct RemoveBody: Decodable {
        var roomId: String
        var participantId: String
        var sessionId: String?
    }

    struct Removed: ResponseEncodable, Sendable {
        var roomId: String
        var participantId: String
        var sessionId: String?
    }

    func register(on router: Router<AppContext>) {
        router.get("/v2/sessions") { request, _ in
            let claims = try services.requireServerAPI(request)
            let (page, perPage) = try pagination(request)
            let found = try await sessions.list(
                claims, roomId: FormQuery(request.uri.query?[...])["roomId"], origin: request.headers[.origin], page: page, perPage: perPage
            )
            return PageResponse(items: await responses(found.items), page: page, perPage: perPage, total: found.total)
        }
        router.get("/v2/sessions/:sessionId") { request, context in
            await response(try await session(request, context))
        }
        router.get("/v2/sessions/:sessionId/participants") { request, context in
            let (page, perPage) = try pagination(request)
            let found = try await session(request, context)
            return participantsPage(found, found.attendees, page: page, perPage: perPage)
        }
        router.get("/v2/sessions/:sessionId/participants/active") { request, context in
            let (page, perPage) = try pagination(request)
            let found = try await session(request, context)
            let active = found.end != nil ? [] : found.attendees.filter { $0.timelog.last?.end == nil }
            return participantsPage(found, active, page: page, perPage: perPage)
        }
        router.post("/v2/sessions/end") { request, context in
            let claims = try services.requireServerAPI(request)
            let body = try await decodeBody(EndBody.self, request, context)
            return await response(
                try await sessions.end(claims, roomId: body.roomId, sessionId: body.sessionId, origin: request.headers[.origin]))
        }
        router.post("/v2/sessions/participants/remove") { request, context in
            let claims = try services.requireServerAPI(request)
            let body = try await decodeBody(RemoveBody.self, request, context)
            let removed = try await sessions.remove(
                claims, roomId: body.roomId, participantId: body.participantId, sessionId: body.sessionId, origin: request.headers[.origin])
            return Removed(roomId: removed.roomId, participantId: body.participantId, sessionId: removed.sessionId)
        }
    }

    /// The session named in the path, within the token's key and room scope.
    private func session(_ request: Request, _ context: AppContext) async throws -> SessionRecord {
        let claims = try services.requireServerAPI(request)
        return try await sessions.session(claims, id: try context.parameters.require("sessionId"), origin: request.headers[.origin])
    }

    private func participantsPage(_ session: SessionRecord, _ attendees: [SessionRecord.Attendee], page: Int, perPage: Int)
        -> PageResponse<ParticipantResponse>
    {
        let start = min(attendees.count, (page - 1) * perPage)
        return PageResponse(
            items: attendees[start..<min(attendees.count, start + perPage)].map { ParticipantResponse($0, sessionId: session.id) }, page: page,
            perPage: perPage, total: attendees.count)
    }

    private func response(_ session: SessionRecord) async -> SessionResponse {
        await responses([session])[0]
    }

    /// The sessions as answers, each with its room's customRoomId (one lookup per room, cached).
    /// A lookup that fails shows null rather than failing the answer: `end` has happened by then.
    private func responses(_ found: [SessionRecord]) async -> [SessionResponse] {
        var rooms: [String: RoomRecord] = [:]
        var answers: [SessionResponse] = []
        for session in found {
            if rooms[session.roomId] == nil, let room = try? await services.rooms.room(apiKey: session.apiKey, id: session.roomId) {
                rooms[session.roomId] = room
            }
            answers.append(SessionResponse(session, customRoomId: rooms[session.roomId]?.customRoomId, links: services.links))
        }
        return answers
    }
}
