import Foundation
import Hummingbird

/// The v2 sessions API. Sessions begin with meetings (`/rtc`, not built yet), so for now
/// every room has none: lists are empty, a session id is unknown, and ending or removing
/// finds no live session. The answers are true, not placeholders: they change only when
/// meetings can start sessions.
struct SessionsController {
    let services: Services
    let rooms: RoomsController

    struct RoomBody: Decodable {
        var roomId: String
        var sessionId: String?
        var participantId: String?
    }

    struct Session: Encodable, Sendable {}

    func register(on router: Router<AppContext>) {
        router.get("/v2/sessions") { request, _ in
            let claims = try services.requireServerAPI(request)
            let (page, perPage) = try pagination(request)
            if let roomId = request.uri.queryParameters["roomId"] {
                _ = try await rooms.findRoom(claims, String(roomId))
            }
            return PageResponse<Session>(items: [], page: page, perPage: perPage, total: 0)
        }
        for path in ["/v2/sessions/:sessionId", "/v2/sessions/:sessionId/participants", "/v2/sessions/:sessionId/participants/active"] {
            router.get(RouterPath(path)) { request, context -> Response in
                _ = try services.requireServerAPI(request)
                throw APIError.notFound("No session \(context.parameters.get("sessionId") ?? "").")
            }
        }
        for path in ["/v2/sessions/end", "/v2/sessions/participants/remove"] {
            router.post(RouterPath(path)) { request, context -> Response in
                let claims = try services.requireServerAPI(request)
                let body = try await decodeBody(RoomBody.self, request, context)
                let room = try await rooms.findRoom(claims, body.roomId)
                throw APIError.conflict("Room \(room.roomId) has no live session.")
            }
        }
    }
}
