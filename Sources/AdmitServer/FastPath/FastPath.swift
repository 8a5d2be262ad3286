import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Prometheus

/// Answers the two hot requests at the front of a connection's pipeline, before the HTTP
/// codec and the router: `GET /get-token` (the official examples' token endpoint) and
/// `GET /v2/rooms/validate/:roomId` (checked before every join).
///
/// Their own work is a signature or a verification of under a microsecond and, for validate,
/// a room usually in memory; the router's per-request path (HTTP parts decoded, converted to
/// HTTP types, handed to an async task, middlewares, a response writer, the same back) costs
/// many times that.
///
/// What it takes: a complete `GET <path> HTTP/1.1` head in the bytes at hand, for one of
/// the two paths, with a visible-ASCII target, header names of token characters and values
/// without control characters, no folded lines, and none of `Origin` (CORS and the
/// whitelist), `Connection` (connection management), `Content-Length`, `Transfer-Encoding`,
/// `Expect` or `Upgrade`.
///
/// What it hands on: everything else. The first request it does not take goes to the HTTP
/// codec with every byte after it, and the handler then leaves the connection to the codec
/// (it removes itself): the codec always starts at a request boundary, and pipelined answers
/// keep their order.
///
/// What it skips: the router's middlewares (`ObservationMiddleware`, `CORSMiddleware`,
/// `ErrorMiddleware`). It does their part itself: the same metrics and log line (`finish`),
/// no CORS because it never takes a request with `Origin`, errors in the contract's shape
/// (`write(error:)`). Answers come from the application layer as the routes' do
/// (`TokenMint` through `TokenEndpoint`, `Access.verify`, `RoomService.validRoom`), written
/// by one response writer (`writeResponse`) with the routes' headers; `FastPathTests`
/// compares both paths byte for byte.
///
/// A validate whose room is not in memory is answered when the store replies; bytes that
/// arrive meanwhile wait their turn. A client that does not read its answers is not read from either.
final class FastPath: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Dependencies: Sendable {
        let tokens: TokenEndpoint
        let services: Services
        let logger: Logger
        let serverName: String
    }

    /// A request the fast path answers.
    enum Request: Equatable {
        case token(target: String, forwardedFor: String?)
        case validate(roomId: String, authorization: String?)
    }

    private let dependencies: Dependencies
    /// The connection's time limits, told when a head is complete and when it is answered.
    private let deadlines: ConnectionDeadlines?
    private var date = HTTPDate()
    private var needsFlush = false
    /// Set while a validate waits for the store.
    private var awaitingStore = false
    /// Set while the client does not read its answers (the channel is not writable): reading
    /// stops, so a client that pipelines without reading cannot make the server buffer
    /// answers without bound.
    private var awaitingWritability = false
    /// Whether requests must wait; bytes read meanwhile go to `waiting`.
    private var held: Bool { awaitingStore || awaitingWritability }
    private var waiting: ByteBuffer?
    /// Set when a graceful shutdown came while a validate waited for the store.
    private var closeWhenIdle = false
    /// Set once the handler has left the pipeline (handed over, or the channel closed): a
    /// store reply that comes later has nowhere to go.
    private var removed = false
    /// The metric handles of a successful `/get-token`, looked up once per connection.
    private lazy var tokenMetrics = dependencies.services.metrics.requestHandles(method: "GET", route: "/get-token", status: 200)

    init(_ dependencies: Dependencies, deadlines: ConnectionDeadlines? = nil) {
        self.dependencies = dependencies
        self.deadlines = deadlines
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        deadlines?.read()
        let buffer = unwrapInboundIn(data)
        if held {
            var pending = waiting ?? context.channel.allocator.buffer(capacity: buffer.readableBytes)
            var incoming = buffer
            pending.writeBuffer(&incoming)
            waiting = pending
            // Reading already stopped when the hold began; a read in flight then may still
            // arrive, and is kept. Nothing more is read until the hold ends.
            return
        }
        process(buffer, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        removed = true
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if awaitingWritability, context.channel.isWritable {
            awaitingWritability = false
            try? context.channel.syncOptions?.setOption(.autoRead, value: true)
            resume(context)
        }
        context.fireChannelWritabilityChanged()
    }

    /// Goes on with the requests that waited, once nothing holds them.
    private func resume(_ context: ChannelHandlerContext) {
        guard !held else { return }
        if closeWhenIdle { return context.close(promise: nil) }
        try? context.channel.syncOptions?.setOption(.autoRead, value: true)
        if let waiting {
            self.waiting = nil
            process(waiting, context: context)
        }
        flushIfNeeded(context)
    }

    /// A graceful shutdown closes the connection between requests: while the fast path has
    /// it, no handler of the codec's pipeline is there yet to do so.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard event is ChannelShouldQuiesceEvent else { return context.fireUserInboundEventTriggered(event) }
        if held {
            closeWhenIdle = true
        } else {
            flushIfNeeded(context)
            context.close(promise: nil)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        flushIfNeeded(context)
        context.fireChannelReadComplete()
    }

    private func flushIfNeeded(_ context: ChannelHandlerContext) {
        if needsFlush {
            needsFlush = false
            context.flush()
        }
    }

    /// Answers the requests at the start of `buffer` one by one; stops at the first it does
    /// not take (handing the rest to the codec) or at a validate that waits for the store.
    private func process(_ buffer: ByteBuffer, context: ChannelHandlerContext) {
        var buffer = buffer
        while buffer.readableBytes > 0 {
            guard context.channel.isWritable else {
                // The client is not reading: hold the rest, and stop reading, until it does.
                deadlines?.holding()
                flushIfNeeded(context)
                awaitingWritability = true
                waiting = buffer
                try? context.channel.syncOptions?.setOption(.autoRead, value: false)
                return
            }
            let start = ContinuousClock.now
            guard let (request, length) = buffer.withUnsafeReadableBytes(Self.recognize) else {
                context.fireChannelRead(wrapInboundOut(buffer))
                flushIfNeeded(context)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            buffer.moveReaderIndex(forwardBy: length)
            deadlines?.headComplete()
            switch request {
            case .token(let target, let forwardedFor):
                answerToken(target: target, forwardedFor: forwardedFor, start: start, context: context)
            case .validate(let roomId, let authorization):
                guard validate(roomId: roomId, authorization: authorization, start: start, context: context) else {
                    // Waiting for the store: the rest waits too.
                    if buffer.readableBytes > 0 { waiting = buffer }
                    return
                }
            }
            deadlines?.answered(pending: buffer.readableBytes > 0)
        }
    }

    // MARK: - Recognizing requests

    /// The request and the length of its head when `bytes` begin with a complete head this
    /// handler answers; nil otherwise.
    static func recognize(_ bytes: UnsafeRawBufferPointer) -> (Request, Int)? {
        guard bytes.starts(with: "GET /".utf8), let targetEnd = bytes[4...].firstIndex(of: UInt8(ascii: " ")) else { return nil }
        let target = UnsafeRawBufferPointer(rebasing: bytes[4..<targetEnd])
        // Visible ASCII only, as the codec accepts: a target with control bytes, NUL, CR, LF or
        // bytes over 0x7E goes to the codec, which refuses it.
        guard target.allSatisfy({ (0x21...0x7E).contains($0) }), bytes[targetEnd...].starts(with: " HTTP/1.1\r\n".utf8),
            let (authorization, forwardedFor, headEnd) = headers(bytes, from: targetEnd + 11)
        else { return nil }
        let tokenPath = "/get-token".utf8
        if target.starts(with: tokenPath), target.count == tokenPath.count || target[tokenPath.count] == UInt8(ascii: "?") {
            return (.token(target: String(decoding: target, as: UTF8.self), forwardedFor: forwardedFor), headEnd)
        }
        let validatePath = "/v2/rooms/validate/".utf8
        if target.starts(with: validatePath) {
            let id = UnsafeRawBufferPointer(rebasing: target[validatePath.count...])
            // Room ids and custom ids of letters, digits, '-' and '_' (others, which the router
            // would percent-decode, go to the router).
            guard (1...128).contains(id.count), id.allSatisfy(isIdentifierCharacter) else { return nil }
            return (.validate(roomId: String(decoding: id, as: UTF8.self), authorization: authorization), headEnd)
        }
        return nil
    }

    /// Checks the header lines from `start` to the blank line: the `Authorization` and
    /// `X-Forwarded-For` values (nil when absent) and the head's end; nil when a line is
    /// malformed, a refused header is present, or either of the two is given twice.
    private static func headers(_ bytes: UnsafeRawBufferPointer, from start: Int) -> (String?, String?, Int)? {
        var authorization: String?
        var forwardedFor: String?
        var line = start
        while true {
            guard line + 1 < bytes.count else { return nil }
            if bytes[line] == UInt8(ascii: "\r") {
                guard bytes[line + 1] == UInt8(ascii: "\n") else { return nil }
                return (authorization, forwardedFor, line + 2)
            }
            var index = line
            while index < bytes.count, isTokenCharacter(bytes[index]) { index += 1 }
            guard index > line, index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
            let name = UnsafeRawBufferPointer(rebasing: bytes[line..<index])
            if refused.contains(where: { equalsIgnoringCase(name, $0) }) { return nil }
            index += 1
            let valueStart = index
            while index < bytes.count, bytes[index] != UInt8(ascii: "\r") {
                let byte = bytes[index]
                guard byte >= 0x20 || byte == 0x09, byte != 0x7F else { return nil }
                index += 1
            }
            guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") else { return nil }
            if equalsIgnoringCase(name, authorizationName) {
                guard authorization == nil else { return nil }
                authorization = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<index]), as: UTF8.self)
            } else if equalsIgnoringCase(name, forwardedForName) {
                guard forwardedFor == nil else { return nil }
                forwardedFor = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[valueStart..<index]), as: UTF8.self)
            }
            line = index + 2
        }
    }

    /// RFC 9110 `tchar`.
    private static func isTokenCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"), UInt8(ascii: "'"),
            UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "^"), UInt8(ascii: "_"),
            UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    private static func isIdentifierCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"):
            true
        default: false
        }
    }

    /// Header names that need the codec or the router.
    private static let refused: [[UInt8]] = ["origin", "connection", "content-length", "transfer-encoding", "expect", "upgrade"].map {
        Array($0.utf8)
    }
    private static let authorizationName = Array("authorization".utf8)
    private static let forwardedForName = Array("x-forwarded-for".utf8)

    /// Whether a header name equals a lowercase name, ignoring ASCII case.
    private static func equalsIgnoringCase(_ name: UnsafeRawBufferPointer, _ lowercase: [UInt8]) -> Bool {
        lowercase.count == name.count && zip(lowercase, name).allSatisfy { $0 == $1 | 0x20 }
    }

    // MARK: - Answers

    private func answerToken(target: String, forwardedFor: String?, start: ContinuousClock.Instant, context: ChannelHandlerContext) {
        var roomId: String?
        var peerId: String?
        if target.utf8.count > 10 {
            let query = FormQuery(target: target[...])
            roomId = query["roomId"]
            peerId = query["peerId"]
        }
        do throws(APIError) {
            let token = try dependencies.tokens.token(
                roomId: roomId, peerId: peerId, origin: nil, remote: context.channel.remoteAddress?.ipAddress, forwardedFor: forwardedFor)
            writeResponse(.ok, bodyLength: token.utf8.count + 12, context: context) { buffer in
                buffer.writeStaticString(#"{"token":""#)
                buffer.writeString(token)
                buffer.writeStaticString(#""}"#)
            }
            let duration = ContinuousClock.now - start
            tokenMetrics.0.increment()
            tokenMetrics.1.record(duration)
            log(route: "/get-token", path: "/get-token", status: .ok, duration: duration)
        } catch {
            write(error: error, route: "/get-token", path: "/get-token", start: start, context: context)
        }
    }

    /// Answers a validate now and returns true, or starts the store lookup and returns false.
    private func validate(roomId: String, authorization: String?, start: ContinuousClock.Instant, context: ChannelHandlerContext) -> Bool {
        let services = dependencies.services
        let path = "/v2/rooms/validate/\(roomId)"
        let claims: Claims
        do throws(APIError) {
            claims = try services.verify(Services.accessToken(authorization: authorization), for: .serverAPI(roomId: nil))
        } catch {
            write(error: error, route: Self.validateRoute, path: path, start: start, context: context)
            return true
        }
        if let (room, json) = services.rooms.cachedWithJSON(apiKey: claims.apiKey, id: roomId) {
            answerValidate(claims, room, json: json, path: path, start: start, context: context)
            return true
        }
        awaitingStore = true
        // A client that keeps pipelining while the store answers is not read from meanwhile
        // (its bytes wait in the socket), rather than buffered or dropped.
        try? context.channel.syncOptions?.setOption(.autoRead, value: false)
        let lookup = context.eventLoop.makeFutureWithTask { try await services.rooms.room(apiKey: claims.apiKey, id: roomId) }
        lookup.assumeIsolated().whenComplete { result in
            guard !self.removed else { return }
            switch result {
            case .success(let room):
                self.answerValidate(claims, room, json: room.map(services.roomJSON), path: path, start: start, context: context)
            case .failure:
                self.dependencies.logger.error("room lookup failed", metadata: ["path": "\(path)"])
                self.write(
                    error: APIError(.internalServerError, "Internal error."), route: Self.validateRoute, path: path, start: start, context: context)
            }
            self.flushIfNeeded(context)
            self.awaitingStore = false
            self.deadlines?.answered(pending: (self.waiting?.readableBytes ?? 0) > 0)
            self.resume(context)
        }
        return false
    }

    /// The router's route template for validate, as metrics label it.
    static let validateRoute = "/v2/rooms/validate/{roomId}"

    /// `json` is the room's response body (`RoomCache.json`), encoded once per room.
    private func answerValidate(
        _ claims: Claims, _ room: RoomRecord?, json: [UInt8]?, path: String, start: ContinuousClock.Instant, context: ChannelHandlerContext
    ) {
        let body: [UInt8]
        do throws(APIError) {
            _ = try mapped { () throws(AppError) in try dependencies.services.roomService.validRoom(claims, room, origin: nil) }
            guard let json, !json.isEmpty else { throw APIError(.internalServerError, "Internal error.") }
            body = json
        } catch {
            return write(error: error, route: Self.validateRoute, path: path, start: start, context: context)
        }
        writeResponse(.ok, bodyLength: body.count, context: context) { $0.writeBytes(body) }
        finish(route: Self.validateRoute, path: path, status: .ok, start: start)
    }

    /// An error in the contract's JSON shape, as `ErrorMiddleware` and `APIError` answer it.
    private func write(error: APIError, route: String, path: String, start: ContinuousClock.Instant, context: ChannelHandlerContext) {
        let body = error.body.jsonText
        writeResponse(error.status, bodyLength: body.utf8.count, context: context) { $0.writeString(body) }
        finish(route: route, path: path, status: error.status, start: start)
    }

    /// The one response writer: a JSON answer with the head the router's responses carry
    /// (`Content-Type`, `Content-Length`, `Date`, `Server`), then `body`.
    private func writeResponse(
        _ status: HTTPResponse.Status, bodyLength: Int, context: ChannelHandlerContext, body: (inout ByteBuffer) -> Void
    ) {
        var buffer = context.channel.allocator.buffer(capacity: bodyLength + 200)
        if status == .ok {
            buffer.writeStaticString("HTTP/1.1 200 OK")
        } else {
            // The reason phrase as the HTTP/1 encoder writes it: NIO's, for every known code.
            let nio = HTTPResponseStatus(statusCode: Int(status.code), reasonPhrase: status.reasonPhrase)
            buffer.writeString("HTTP/1.1 \(nio.code) \(nio.reasonPhrase)")
        }
        buffer.writeStaticString("\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ")
        buffer.writeString(String(bodyLength))
        buffer.writeStaticString("\r\nDate: ")
        buffer.writeString(date.now())
        buffer.writeStaticString("\r\nServer: ")
        buffer.writeString(dependencies.serverName)
        buffer.writeStaticString("\r\n\r\n")
        body(&buffer)
        context.write(wrapOutboundOut(buffer), promise: nil)
        needsFlush = true
    }

    /// Metrics and the log line, as `ObservationMiddleware` records them.
    private func finish(route: String, path: String, status: HTTPResponse.Status, start: ContinuousClock.Instant) {
        let duration = ContinuousClock.now - start
        dependencies.services.metrics.request(method: "GET", route: route, status: Int(status.code), duration: duration)
        log(route: route, path: path, status: status, duration: duration)
    }

    private func log(route: String, path: String, status: HTTPResponse.Status, duration: Duration) {
        dependencies.logger.info(
            "request",
            metadata: [
                "method": "GET", "path": "\(path)", "status": "\(status.code)",
                "ms": "\(Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000)",
            ])
    }
}
