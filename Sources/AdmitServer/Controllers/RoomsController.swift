import AdmitApp
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird

/// The v2 rooms API: create (idempotent by `customRoomId`), list, get, validate, deactivate.
struct RoomsController {
    let services: Services

    func register(on router: Router<AppContext>) {
        router.post("/v2/rooms") { request, context in
            let claims = try services.requireServerAPI(request)
            let body = try await decodeBody(RoomRequest.self, request, context)
            return try await createRoom(body, claims: claims, origin: request.headers[.origin])
        }
        router.get("/v2/rooms") { request, _ in
            let claims = try services.requireServerAPI(request)
            let (page, perPage) = try pagination(request)
            if claims.roomId != nil {
                // A room-scoped token sees only its own room; no room check can fail here, so the origin's turn is now.
                try services.requireOrigin(request, apiKey: claims.apiKey)
                let own = try await scopedRoom(claims)
                let items = page == 1 ? own.map { [RoomResponse($0)] } ?? [] : []
                return PageResponse(items: items, page: page, perPage: perPage, total: own == nil ? 0 : 1)
            }
            let found = try await services.repositories.rooms(apiKey: claims.apiKey, page: page, perPage: perPage)
            return PageResponse(items: found.items.map(RoomResponse.init), page: page, perPage: perPage, total: found.total)
        }
        router.get("/v2/rooms/validate/:roomId") { request, context in try await validate(request, context) }
        router.post("/v2/rooms/validate/:roomId") { request, context in try await validate(request, context) }
        router.get("/v2/rooms/:roomId") { request, context in
            let claims = try services.requireServerAPI(request)
            let room = try await findRoom(claims, try context.parameters.require("roomId"), origin: request.headers[.origin])
            return RoomResponse(room)
        }
        router.post("/v2/rooms/deactivate") { request, context in
            let claims = try services.requireServerAPI(request)
            let body = try await decodeBody(RoomIdRequest.self, request, context)
            var room = try await findRoom(claims, body.roomId, origin: request.headers[.origin])
            if !room.disabled {
                room.disabled = true
                room.updatedAt = .stamp()
                try await services.rooms.update(room)
            }
            return RoomResponse(room)
        }
    }

    /// Creates a room for the token's key; a room-scoped token may only (re)create its own custom room.
    func createRoom(_ body: RoomRequest, claims: Claims, origin: String?) async throws -> RoomResponse {
        if let scoped = claims.roomId, body.customRoomId != scoped {
            throw APIError.token(TokenError(.unauthorizedMeetingID, .room, "a token for room \(scoped) cannot create other rooms"))
        }
        try services.requireOrigin(origin, apiKey: claims.apiKey)
        if let endPoint = body.webhook?.endPoint,
            case .failure(let refusal) = WebhookTarget.check(endPoint, allowPrivate: services.configuration.webhookAllowPrivate)
        {
            throw APIError.badRequest("`webhook.endPoint` \(refusal.message).")
        }
        let now = Date.stamp()
        let encoder = JSONEncoder()
        var roomId = Identifiers.roomId()
        while try await services.rooms.room(apiKey: claims.apiKey, id: roomId) != nil { roomId = Identifiers.roomId() }
        let record = RoomRecord(
            id: Identifiers.recordId(), roomId: roomId, customRoomId: body.customRoomId, apiKey: claims.apiKey,
            webhook: try body.webhook.map { String(decoding: try encoder.encode($0), as: UTF8.self) },
            autoCloseConfig: try body.autoCloseConfig.map { String(decoding: try encoder.encode($0), as: UTF8.self) },
            createdAt: now, updatedAt: now)
        return RoomResponse(try await services.rooms.insert(record))
    }

    /// The key's room named `id` (room id or custom id), within the token's scope and from an
    /// origin the whitelist allows; 404 otherwise.
    func findRoom(_ claims: Claims, _ id: String, origin: String?) async throws -> RoomRecord {
        guard let room = try await services.rooms.room(apiKey: claims.apiKey, id: id) else {
            throw APIError.notFound("No room \(id).")
        }
        try services.requireRoom(claims, room, origin: origin)
        return room
    }

    private func scopedRoom(_ claims: Claims) async throws -> RoomRecord? {
        guard let scoped = claims.roomId else { return nil }
        return try await services.rooms.room(apiKey: claims.apiKey, id: scoped)
    }

    /// 200 with the room when it exists and is enabled; 400 otherwise (4003 unknown, 4052 disabled).
    private func validate(_ request: Request, _ context: AppContext) async throws -> RoomResponse {
        let claims = try services.requireServerAPI(request)
        return try await validRoom(claims, try context.parameters.require("roomId"), origin: request.headers[.origin])
    }

    func validRoom(_ claims: Claims, _ id: String, origin: String?) async throws -> RoomResponse {
        try Self.validated(claims, try await services.rooms.room(apiKey: claims.apiKey, id: id), origin: origin, services: services)
    }

    /// Validate's answer once the room is looked up (nil: no such room): shared with the fast path.
    static func validated(_ claims: Claims, _ room: RoomRecord?, origin: String?, services: Services) throws(APIError) -> RoomResponse {
        RoomResponse(try validRoom(claims, room, origin: origin, services: services))
    }

    /// The room that validate answers with, or its refusal: unknown (4003), another room
    /// than the token's (4022), a refused origin (4025), disabled (4052).
    static func validRoom(_ claims: Claims, _ room: RoomRecord?, origin: String?, services: Services) throws(APIError) -> RoomRecord {
        guard let room else { throw APIError.code(.invalidMeetingID, .badRequest) }
        try services.requireRoom(claims, room, origin: origin)
        guard !room.disabled else { throw APIError.code(.meetingIDDisabled, .badRequest) }
        return room
    }
}
