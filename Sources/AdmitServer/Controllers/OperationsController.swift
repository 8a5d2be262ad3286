import Hummingbird
import NIOCore

/// `GET /health` (liveness, no auth) and `GET /metrics` (Prometheus text).
struct OperationsController {
    let services: Services
    let media: MediaBridge

    /// 200 whenever the process serves requests (liveness); the parts' state in the body.
    struct Health: ResponseEncodable, Sendable {
        struct SFU: Encodable, Sendable {
            /// `none` (no SFU configured), `connecting`, `up`, `down`.
            var state: String
        }
        struct Node: Encodable, Sendable {
            var id: String
        }
        var status = "ok"
        var node: Node
        var sfu: SFU
    }

    func register(on router: Router<AppContext>) {
        router.get("/health") { _, _ in
            Health(node: .init(id: services.configuration.nodeId), sfu: .init(state: media.janus?.state.rawValue ?? "none"))
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: services.metrics.render())))
        }
    }
}
