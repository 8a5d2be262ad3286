import Hummingbird
import NIOCore

/// `GET /health` (liveness, no auth) and `GET /metrics` (Prometheus text).
struct OperationsController {
    let services: Services
    let media: MediaBridge
    let cluster: Cluster

    /// 200 whenever the process serves requests (liveness); the parts' state in the body.
    struct Health: ResponseEncodable, Sendable {
        struct SFU: Encodable, Sendable {
            /// `none` (no SFU configured), `connecting`, `up`, `down`.
            var state: String
        }
        struct Node: Encodable, Sendable {
            var id: String
            /// Rooms whose live meeting this node owns (holds the lease of).
            var roomsOwned: Int
            /// Milliseconds the latest message from another node took; null before any.
            var relayLagMs: Double?
            private enum CodingKeys: String, CodingKey { case id, roomsOwned, relayLagMs }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(id, forKey: .id)
                try container.encode(roomsOwned, forKey: .roomsOwned)
                try container.encode(relayLagMs, forKey: .relayLagMs)  // null, not absent
            }
        }
        var status = "ok"
        var node: Node
        var sfu: SFU
    }

    func register(on router: Router<AppContext>) {
        router.get("/health") { _, _ in
            Health(
                node: .init(id: services.configuration.nodeId, roomsOwned: cluster.ownedRooms, relayLagMs: cluster.lastRelayLag.map { $0 * 1000 }),
                sfu: .init(state: media.janus?.state.rawValue ?? "none"))
        }
        router.get("/metrics") { _, _ in
            var headers = HTTPFields()
            headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: services.metrics.render())))
        }
    }
}
