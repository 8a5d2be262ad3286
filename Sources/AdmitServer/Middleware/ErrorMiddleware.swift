import AdmitApp
import Hummingbird
import Logging

/// Answers every failure in the contract's JSON shape: Hummingbird's own errors (unknown
/// route, body too large) included. Unexpected errors are logged and answered with a
/// plain 500 that says nothing more.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            throw error
        } catch let error as AppError {
            throw APIError(error)
        } catch let error as any HTTPResponseError {
            let message: String =
                switch error.status {
                case .notFound: "No such endpoint: \(request.method) \(request.uri.path)"
                case .contentTooLarge: "The request body is larger than \(context.maxUploadSize) bytes."
                case .methodNotAllowed: "\(request.method) is not allowed on \(request.uri.path)"
                default: (error as? HTTPError)?.body ?? error.status.reasonPhrase
                }
            throw APIError(error.status, message)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
            throw APIError(.internalServerError, "Internal error.")
        }
    }
}
