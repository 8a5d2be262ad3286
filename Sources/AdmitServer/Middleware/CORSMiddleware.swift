import AdmitApp
import AdmitCore
import AdmitToken
import Hummingbird

/// CORS for browser apps that call the server API and the example endpoints directly.
/// A response names the request's origin in `Access-Control-Allow-Origin` unless the origin was
/// refused by the key's whitelist (4025), so a page on a foreign origin cannot read the answer.
/// A preflight carries no token, so it cannot name a key: it is answered for any origin
/// (for `/get-token`, whose key is known, only for origins that key allows); the real request
/// is then checked. The admin API is not for browsers and gets no CORS headers.
struct CORSMiddleware: RouterMiddleware {
    let services: Services
    /// The API key `/get-token` signs with, when it is on.
    let tokenEndpointKey: String?

    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) async throws -> Response) async throws -> Response {
        // The admin API, the dashboard and the meeting page are same-origin only: no CORS.
        guard let origin = request.headers[.origin], !request.uri.path.hasPrefix("/admin/"), !request.uri.path.hasPrefix("/dashboard"),
            !request.uri.path.hasPrefix("/meet/")
        else {
            return try await next(request, context)
        }
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            if request.uri.path == "/get-token", let key = tokenEndpointKey {
                try services.requireOrigin(request, apiKey: key)
            }
            var response = Response(status: .noContent)
            response.headers[.accessControlAllowMethods] = "GET, POST, OPTIONS"
            response.headers[.accessControlAllowHeaders] = "Authorization, Content-Type"
            response.headers[.accessControlMaxAge] = "600"
            allow(origin, &response)
            return response
        }
        do {
            var response = try await next(request, context)
            allow(origin, &response)
            return response
        } catch let error as APIError {
            var response = try error.response(from: request, context: context)
            if error.body["code"] != .number(String(ErrorCode.unauthorizedRequest.value)) { allow(origin, &response) }
            return response
        }
    }

    private func allow(_ origin: String, _ response: inout Response) {
        response.headers[.accessControlAllowOrigin] = origin
        response.headers[.vary] = "Origin"
    }
}
