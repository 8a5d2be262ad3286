import AdmitApp
import AdmitCore
import AdmitToken
import Foundation
import Hummingbird
import NIOCore

/// The endpoints of VideoSDK's official token-server examples, for apps that start from
/// them: `/get-token`, `/create-meeting`, `/validate-meeting/:meetingId`.
struct ExampleController {
    let services: Services
    let rooms: RoomsController

    /// `{token}` bodies; the token may come in `Authorization` instead.
    struct TokenBody: Decodable {
        var token: String?
    }

    /// `{"token": "..."}`, written directly: a token is base64url and dots, nothing to escape.
    struct TokenResponse: ResponseGenerator, Sendable {
        var token: String
        func response(from request: Request, context: some RequestContext) throws -> Response {
            var headers = HTTPFields()
            headers[.contentType] = "application/json; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: TokenEndpoint.body(token))))
        }
    }

    func register(on router: Router<AppContext>) {
        let tokens = TokenEndpoint(services: services)
        router.get("/get-token") { request, context in
            let query = FormQuery(request.uri.query?[...])
            let token = try tokens.token(
                roomId: query["roomId"], peerId: query["peerId"], origin: request.headers[.origin],
                remote: context.remoteAddress, forwardedFor: ClientAddress.forwardedFor(request.headers))
            return TokenResponse(token: token)
        }
        router.post("/create-meeting") { request, context in
            let claims = try services.verify(try await token(request, context), for: .serverAPI(roomId: nil))
            try services.requireOriginUnlessScoped(claims, request.headers[.origin])
            var room = try await rooms.createRoom(RoomRequest(), claims: claims, origin: request.headers[.origin])
            room.meetingId = room.roomId
            return room
        }
        router.post("/validate-meeting/:meetingId") { request, context in
            let claims = try services.verify(try await token(request, context), for: .serverAPI(roomId: nil))
            try services.requireOriginUnlessScoped(claims, request.headers[.origin])
            return services.roomResponse(
                try await services.roomService.valid(claims, try context.parameters.require("meetingId"), origin: request.headers[.origin]))
        }
    }

    private func token(_ request: Request, _ context: AppContext) async throws -> String? {
        let body = try await decodeBody(TokenBody.self, request, context)
        return body.token ?? Services.accessToken(request)
    }
}
