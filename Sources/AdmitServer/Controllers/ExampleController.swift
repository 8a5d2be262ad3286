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
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: #"{"token":""# + token + #""}"#)))
        }
    }

    func register(on router: Router<AppContext>) {
        router.get("/get-token") { request, context in
            guard let (apiKey, policy) = signingKey() else {
                throw APIError.notFound("/get-token is off: start with --dev or --token-endpoint-key KEY.")
            }
            try services.requireOrigin(request, apiKey: apiKey)
            guard services.tokenLimiter?.allow(context.remoteAddress ?? "unknown") ?? true else {
                throw APIError(.tooManyRequests, "Too many token requests; try again in a minute.")
            }
            guard let secret = services.keyRing.signingSecret(for: apiKey) else {
                throw APIError(.serviceUnavailable, "The token endpoint's API key is missing or deactivated.")
            }
            let roomId = request.uri.queryParameters["roomId"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            let peerId = request.uri.queryParameters["peerId"].map(String.init).flatMap { $0.isEmpty ? nil : $0 }
            if let peerId, !TokenUse.isValidParticipantID(peerId) {
                throw APIError.code(.invalidParticipantID, .badRequest)
            }
            let scoped = roomId != nil || peerId != nil
            let claims = Claims(
                apiKey: apiKey, permissions: policy.permissions, lifetime: policy.maxLifetime, now: Date().timeIntervalSince1970,
                roomId: roomId, participantId: peerId, roles: scoped ? .rtc : nil)
            return TokenResponse(token: Signer(secret: secret).sign(claims))
        }
        router.post("/create-meeting") { request, context in
            let claims = try services.verify(try await token(request, context), for: .serverAPI(roomId: nil))
            try services.requireOriginUnlessScoped(claims, request.headers[.origin])
            return try await rooms.createRoom(RoomRequest(), claims: claims, origin: request.headers[.origin])
        }
        router.post("/validate-meeting/:meetingId") { request, context in
            let claims = try services.verify(try await token(request, context), for: .serverAPI(roomId: nil))
            try services.requireOriginUnlessScoped(claims, request.headers[.origin])
            return try await rooms.validRoom(claims, try context.parameters.require("meetingId"), origin: request.headers[.origin])
        }
    }

    /// Dev mode signs with the dev key and the examples' policy; otherwise the configured key and policy.
    private func signingKey() -> (String, AppConfiguration.TokenEndpoint)? {
        if let policy = services.configuration.tokenEndpoint { return (policy.apiKey, policy) }
        if let dev = services.devKey { return (dev, AppConfiguration.TokenEndpoint(apiKey: dev)) }
        return nil
    }

    private func token(_ request: Request, _ context: AppContext) async throws -> String? {
        let body = try await decodeBody(TokenBody.self, request, context)
        return body.token ?? Services.accessToken(request)
    }
}
