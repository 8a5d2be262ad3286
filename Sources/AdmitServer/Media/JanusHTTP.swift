import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// The little HTTP/1.1 client Janus's REST API needs (`--janus http://...`): one request per
/// connection, a JSON body out, the whole response body back (at most 1 MiB), one deadline for
/// the exchange, the connection closed when the calling task is cancelled (a long poll ends
/// with its connection).
enum JanusHTTP {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Where Janus's API lives: `http(s)://host:port/base`.
    struct Endpoint: Sendable {
        var isHTTPS: Bool
        var host: String
        var port: Int
        /// The API's path, without a trailing slash (`/janus`).
        var base: String

        init?(_ text: String) {
            guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
                let host = url.host, !host.isEmpty, url.query == nil, url.user == nil
            else { return nil }
            isHTTPS = scheme == "https"
            self.host = host
            port = url.port ?? (isHTTPS ? 443 : 80)
            var path = url.path
            while path.hasSuffix("/") { path.removeLast() }
            base = path.isEmpty ? "/janus" : path
        }
    }

    static let maxBody = 1 << 20

    static func isIPLiteral(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }
    private static let tls: Result<NIOSSLContext, any Error> = Result { try NIOSSLContext(configuration: .makeClientConfiguration()) }

    /// Sends `body` (POST) or nothing (GET) to `path`, and returns the response body; a status
    /// other than 200 is a failure.
    static func exchange(_ endpoint: Endpoint, path: String, body: String?, timeout: Duration) async throws -> String {
        let context = endpoint.isHTTPS ? try tls.get() : nil
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let response = loop.makePromise(of: [UInt8].self)
        // SNI takes host names only.
        let serverName = JanusHTTP.isIPLiteral(endpoint.host) ? nil : endpoint.host
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(.seconds(5))
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(try NIOSSLClientHandler(context: context, serverHostname: serverName))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(BodyReader(response: response))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: endpoint.host, port: endpoint.port).get()
        } catch {
            response.fail(error)  // NIO treats a dropped promise as a leak
            throw error
        }
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let deadline = loop.scheduleTask(in: .nanoseconds(nanoseconds)) {
            response.fail(Failure(description: "Janus did not answer in time"))
            channel.close(promise: nil)
        }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        var head = HTTPRequestHead(version: .http1_1, method: body == nil ? .GET : .POST, uri: path)
        head.headers.add(
            name: "Host", value: endpoint.host.contains(":") ? "[\(endpoint.host)]:\(endpoint.port)" : "\(endpoint.host):\(endpoint.port)")
        head.headers.add(name: "Connection", value: "close")
        if let body {
            head.headers.add(name: "Content-Type", value: "application/json")
            head.headers.add(name: "Content-Length", value: String(body.utf8.count))
        }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        if let body { channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil) }
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        let bytes = try await withTaskCancellationHandler {
            try await response.futureResult.get()
        } onCancel: {
            channel.close(promise: nil)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Collects a 200 response's body, up to `maxBody`.
    private final class BodyReader: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        let response: EventLoopPromise<[UInt8]>
        private var body: [UInt8] = []

        init(response: EventLoopPromise<[UInt8]>) {
            self.response = response
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                guard head.status == .ok else {
                    response.fail(Failure(description: "Janus answered HTTP \(head.status.code)"))
                    context.close(promise: nil)
                    return
                }
            case .body(let buffer):
                guard body.count + buffer.readableBytes <= JanusHTTP.maxBody else {
                    response.fail(Failure(description: "Janus's answer is larger than \(JanusHTTP.maxBody) bytes"))
                    context.close(promise: nil)
                    return
                }
                body += buffer.readableBytesView
            case .end:
                response.succeed(body)
                context.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            response.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            response.fail(Failure(description: "Janus closed the connection before answering"))
            context.fireChannelInactive()
        }
    }
}
