import Hummingbird
import Logging

/// Counts and times every request by route template, and logs one line for it: method,
/// path without the query string (which may hold a token), status, duration. Headers are
/// never logged.
struct ObservationMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: Metrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var status = 500
        defer {
            let duration = ContinuousClock.now - start
            let route = context.endpointPath ?? "unmatched"
            metrics.request(method: request.method.rawValue, route: route, status: status, duration: duration)
            context.logger.info(
                "request",
                metadata: [
                    "method": "\(request.method)", "path": "\(Self.loggable(request.uri.path))", "status": "\(status)",
                    "ms": "\(Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000)",
                ])
        }
        do {
            let response = try await next(request, context)
            status = Int(response.status.code)
            return response
        } catch let error as any HTTPResponseError {
            status = Int(error.status.code)
            throw error
        }
    }

    /// The path as logged: an HLS playback path's job id is its only credential, so it is left out.
    static func loggable(_ path: String) -> String {
        path.hasPrefix("/hls/") ? "/hls/{jobId}/" + (path.split(separator: "/").last.map(String.init) ?? "") : path
    }
}
