import AdmitApp
public import AdmitToken
public import Hummingbird
import NIOCore

/// An error answered in the contract's JSON shape (CONTRACT.md section 2):
/// `{"statusCode", "error", "code"?, "name"?, "message"?, "reason"?}`.
public struct APIError: HTTPResponseError, Sendable {
    public let status: HTTPResponse.Status
    public let body: JSONValue

    init(status: HTTPResponse.Status, body: JSONValue) {
        self.status = status
        self.body = body
    }

    /// A plain error without a contract code, such as a bad request body.
    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.body = .object([JSONMember("statusCode", .number(String(status.code))), JSONMember("error", .string(message))])
    }

    /// A refused token: 401 for a bad token, 400/403 for a valid one used where it may not be.
    static func token(_ error: TokenError) -> APIError {
        APIError(status: .init(code: error.httpStatus), body: error.body)
    }

    /// An error carrying a contract code; `error` is the code's message unless `text` is given.
    static func code(_ code: ErrorCode, _ status: HTTPResponse.Status, reason: String? = nil, text: String? = nil) -> APIError {
        var members = [
            JSONMember("statusCode", .number(String(status.code))),
            JSONMember("error", .string(text ?? code.message)),
            JSONMember("code", .number(String(code.value))),
            JSONMember("name", .string(code.name)),
            JSONMember("message", .string(code.message)),
        ]
        if let reason { members.append(JSONMember("reason", .string(reason))) }
        return APIError(status: status, body: .object(members))
    }

    /// A use case's refusal, answered in the contract's shape: its kind is the status, its code (when it has one) the body's.
    init(_ error: AppError) {
        if let token = error.token {
            let status = error.status ?? token.httpStatus
            self.init(status: .init(code: status), body: token.body(statusCode: status))
            return
        }
        let status: HTTPResponse.Status =
            switch error.kind {
            case .invalid: .badRequest
            case .notFound: .notFound
            case .conflict: .conflict
            case .forbidden: .forbidden
            case .tooManyRequests: .tooManyRequests
            case .unavailable: .serviceUnavailable
            case .failed: .internalServerError
            }
        self = error.code.map { APIError.code($0, status, text: error.message) } ?? APIError(status, error.message)
    }

    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, message) }
    static func notFound(_ message: String) -> APIError { APIError(.notFound, message) }
    static func conflict(_ message: String) -> APIError { APIError(.conflict, message) }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body.jsonText)))
    }
}
