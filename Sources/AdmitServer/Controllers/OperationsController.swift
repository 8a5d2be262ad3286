import Hummingbird
import NIOCore

/// `GET /health` (liveness, no auth) and `GET /metrics` (Prometheus text).
struct OperationsController {
    let services: Services

    struct Health: ResponseEncodable, Sendable {
        var status = "ok"
    }

    func register(on router: Router<AppContext>) {
        router.get("/health") { _, _ in Health() }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: services.metrics.render())))
        }
    }
}
