import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird

/// The v2 sessions API: sessions as meetings recorded them, and the two actions on live
/// meetings (end with 1009, remove a participant with 1010).
struct SessionsController {
    let services: Services
    let sessions: SessionService

    struct SessionResponse: ResponseEncodable, Sendable {
        var id: String
        var roomId: String
        var start: Date
        var end: Date?
        var status: String
        var participants: [ParticipantResponse]

        init(_ session: SessionRecord) {
            id = session.id
            roomId = session.roomId
            start = session.start
            end = session.end
            status = session.end == nil ? "ongoing" : "ended"
            participants = session.attendees.map(ParticipantResponse.init)
        }

        private enum CodingKeys: String, CodingKey { case id, roomId, start, end, status, participants }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(roomId, forKey: .roomId)
            try container.encode(start, forKey: .start)
            try container.encode(end, forKey: .end)  // null while ongoing
            try container.encode(status, forKey: .status)
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
        var participantId: String
        var name: String
        var timelog: [Stay]

        init(_ attendee: SessionRecord.Attendee) {
            participantId = attendee.participantId
            name = attendee.name
            timelog = attendee.timelog.map { Stay(start: $0.start, end: $0.end) }
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
            return PageResponse(items: found.items.map(SessionResponse.init), page: page, perPage: perPage, total: found.total)
        }
        router.get("/v2/sessions/:sessionId") { request, context in
            SessionResponse(try await session(request, context))
        }
        router.get("/v2/sessions/:sessionId/participants") { request, context in
            let (page, perPage) = try pagination(request)
            return participantsPage(try await session(request, context).attendees, page: page, perPage: perPage)
        }
        router.get("/v2/sessions/:sessionId/participants/active") { request, context in
            let (page, perPage) = try pagination(request)
            let found = try await session(request, context)
            let active = found.end != nil ? [] : found.attendees.filter { $0.timelog.last?.end == nil }
            return participantsPage(active, page: page, perPage: perPage)
        }
        router.post("/v2/sessions/end") { request, context in
            let claims = try services.requireServerAPI(request)
            let body = try await decodeBody(EndBody.self, request, context)
            return SessionResponse(try await sessions.end(claims, roomId: body.roomId, sessionId: body.sessionId, origin: request.headers[.origin]))
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

    private func participantsPage(_ attendees: [SessionRecord.Attendee], page: Int, perPage: Int) -> PageResponse<ParticipantResponse> {
        let start = min(attendees.count, (page - 1) * perPage)
        return PageResponse(
            items: attendees[start..<min(attendees.count, start + perPage)].map(ParticipantResponse.init), page: page, perPage: perPage,
            total: attendees.count)
    }
}
