import AdmitToken
import HTTPTypes
import NIOCore
import NIOHTTPTypes
import Synchronization

/// Gives a refused `/rtc` upgrade the contract's answer (CONTRACT.md section 4: "a refusal is
/// an HTTP 4xx with the JSON error body").
///
/// hummingbird-websocket answers every declined WebSocket upgrade itself with an empty 400.
/// The upgrade decision records the refusal for its channel; this handler, on that channel's
/// HTTP pipeline, replaces the empty 400 with the refusal's status and body.
final class RefusedUpgradeWriter: ChannelOutboundHandler, RemovableChannelHandler, Sendable {
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Refusals waiting for their channel's response, by channel.
    private static let pending = Mutex<[ObjectIdentifier: (status: Int, body: String)]>([:])

    /// Records the refusal of the upgrade on `channel`.
    static func record(_ channel: ObjectIdentifier, _ error: APIError) {
        pending.withLock { pending in
            if pending.count > 10_000 { pending.removeAll() }  // bounded if clients vanish first
            pending[channel] = (Int(error.status.code), error.body.jsonText)
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .head(let head) = unwrapOutboundIn(data), head.status == .badRequest,
            let refusal = Self.pending.withLock({ $0.removeValue(forKey: ObjectIdentifier(context.channel)) })
        else {
            return context.write(data, promise: promise)
        }
        var fields = HTTPFields()
        fields[.contentType] = "application/json; charset=utf-8"
        fields[.contentLength] = String(refusal.body.utf8.count)
        fields[.connection] = "close"
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .init(code: refusal.status), headerFields: fields))), promise: nil)
        context.write(wrapOutboundOut(.body(ByteBuffer(string: refusal.body))), promise: promise)
    }
}
