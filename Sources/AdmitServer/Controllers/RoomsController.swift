import AdmitApp
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird

/// The v2 rooms API over `RoomService`: create (idempotent by `customRoomId`), list, get,
/// validate, deactivate.
struct RoomsController {
    let services: Services
    private var rooms: RoomService { services.roomService }

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
                let own = try await rooms.scoped(claims)
                let items = page == 1 ? own.map { [services.roomResponse($0)] } ?? [] : []
                return PageResponse(items: items, page: page, perPage: perPage, total: own == nil ? 0 : 1)
            }
            let found = try await services.repositories.rooms(apiKey: claims.apiKey, page: page, perPage: perPage)
            return PageResponse(items: found.items.map(services.roomResponse), page: page, perPage: perPage, total: found.total)
        }
        router.get("/v2/rooms/validate/:roomId") { request, context in try await validate(request, context) }
        router.post("/v2/rooms/validate/:roomId") { request, context in try await validate(request, context) }
        router.get("/v2/rooms/:roomId") { request, context in
            let claims = try services.requireServerAPI(request)
            return services.roomResponse(try await rooms.find(claims, try context.parameters.require("roomId"), origin: request.headers[.origin]))
        }
        router.post("/v2/rooms/deactivate") { request, context in
            let claims = try services.requireServerAPI(request)
            let body = try await decodeBody(RoomIdRequest.self, request, context)
            return services.roomResponse(try await rooms.deactivate(claims, body.roomId, origin: request.headers[.origin]))
        }
    }

    /// Creates a room for the token's key; a room-scoped token may only (re)create its own custom room.
    func createRoom(_ body: RoomRequest, claims: Claims, origin: String?) async throws -> RoomResponse {
        services.roomResponse(try await rooms.create(try body.newRoom(), claims: claims, origin: origin))
    }

    /// 200 with the room when it exists and is enabled; 400 otherwise (4003 unknown, 4052 disabled).
    private func validate(_ request: Request, _ context: AppContext) async throws -> RoomResponse {
        let claims = try services.requireServerAPI(request)
        return services.roomResponse(try await rooms.valid(claims, try context.parameters.require("roomId"), origin: request.headers[.origin]))
    }
}
