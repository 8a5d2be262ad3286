import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

/// Posts one webhook: resolves the host and checks every address (`WebhookTarget.resolve`),
/// connects to the address it checked (TLS with the host's name verified for https), sends
/// the request and reads only the response's status line. No redirect is followed (a 3xx
/// is a failure), nothing of the response body is kept, and the whole exchange has one
/// deadline.
enum WebhookClient {
    struct Failure: Error, CustomStringConvertible {
        var description: String
        /// Set when the target itself is refused (no attempt can succeed).
        var refusal: WebhookTarget.Refusal?
    }

    /// DNS lookups block a thread: they get threads of their own, so a name server that never
    /// answers cannot hold up the pool SQLite runs on. `Webhooks` bounds deliveries in flight.
    private static let resolver: NIOThreadPool = {
        let pool = NIOThreadPool(numberOfThreads: 4)
        pool.start()
        return pool
    }()

    /// The system's trust roots, loaded once.
    private static let tls: Result<NIOSSLContext, any Error> = Result { try NIOSSLContext(configuration: .makeClientConfiguration()) }

    /// The response's status code.
    static func post(
        _ target: WebhookTarget, headers: [(String, String)], body: [UInt8], allowPrivate: Bool, timeout: TimeAmount = .seconds(5)
    ) async throws -> Int {
        // DNS blocks: on the resolver's threads, not on an event loop, the cooperative pool or SQLite's pool.
        let resolved = try await resolver.runIfActive { target.resolve(allowPrivate: allowPrivate) }
        let address: SocketAddress
        switch resolved {
        case .success(let found): address = found
        case .failure(let refusal): throw Failure(description: "webhook host \(refusal.message)", refusal: refusal)
        }
        let context = target.isHTTPS ? try tls.get() : nil
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let status = loop.makePromise(of: Int.self)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let context {
                        try channel.pipeline.syncOperations.addHandler(
                            try NIOSSLClientHandler(context: context, serverHostname: target.isLiteral ? nil : target.host))
                    }
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(StatusReader(status: status))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(to: address).get()
        } catch {
            // Every path completes the promise (NIO treats a dropped one as a leak).
            status.fail(error)
            throw error
        }
        let deadline = loop.scheduleTask(in: timeout) {
            status.fail(Failure(description: "webhook timed out", refusal: nil))
            channel.close(promise: nil)
        }
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: target.target)
        let defaultPort = target.isHTTPS ? 443 : 80
        let hostName = target.host.contains(":") ? "[\(target.host)]" : target.host
        head.headers.add(name: "Host", value: target.port == defaultPort ? hostName : "\(hostName):\(target.port)")
        head.headers.add(name: "User-Agent", value: "Admit-Webhooks")
        head.headers.add(name: "Content-Length", value: String(body.count))
        head.headers.add(name: "Connection", value: "close")
        for (name, value) in headers { head.headers.add(name: name, value: value) }
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        return try await status.futureResult.get()
    }

    /// Completes the promise with the response's status code, or fails it when the
    /// connection ends or errs first.
    private final class StatusReader: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = HTTPClientResponsePart
        let status: EventLoopPromise<Int>

        init(status: EventLoopPromise<Int>) {
            self.status = status
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if case .head(let head) = unwrapInboundIn(data) {
                status.succeed(Int(head.status.code))
                context.close(promise: nil)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            status.fail(error)
            context.close(promise: nil)
        }

        func channelInactive(context: ChannelHandlerContext) {
            status.fail(Failure(description: "webhook connection closed before a response", refusal: nil))
            context.fireChannelInactive()
        }
    }
}
