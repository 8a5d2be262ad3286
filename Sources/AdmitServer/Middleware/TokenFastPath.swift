import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// Answers plain `GET /get-token` requests at the front of a connection's pipeline, before
/// the HTTP codec and the router.
///
/// `/get-token` is the hot endpoint of VideoSDK's token-server examples, and its own work is
/// a signature of under a microsecond; decoding the request into HTTP parts, converting
/// them to HTTP types, handing them to an async task, running the middlewares and encoding
/// the answer costs many times that. This handler reads a request's bytes directly. It
/// answers only a request it fully understands: a complete `GET /get-token[?query]
/// HTTP/1.1` head in the bytes at hand, with none of `Origin` (CORS and the whitelist),
/// `Connection` (connection management), `Content-Length`, `Transfer-Encoding`, `Expect`
/// or `Upgrade`, and no folded or malformed header line. The answer comes from the same
/// `TokenEndpoint` the route uses, with the router's headers, metrics and log line.
///
/// Anything else goes to the HTTP codec unchanged, and from then on the handler leaves the
/// connection to it (it removes itself), so it never has to know where the codec is in a
/// request: only requests that precede every other request on a connection take the fast
/// path, which keeps pipelined answers in order.
final class TokenFastPath: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let endpoint: TokenEndpoint
    private let metrics: Metrics
    private let logger: Logger
    private let serverName: String
    private var date = HTTPDate()
    private var needsFlush = false

    init(endpoint: TokenEndpoint, metrics: Metrics, logger: Logger, serverName: String) {
        self.endpoint = endpoint
        self.metrics = metrics
        self.logger = logger
        self.serverName = serverName
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var buffer = unwrapInboundIn(data)
        while buffer.readableBytes > 0 {
            let start = ContinuousClock.now
            guard let (target, length) = buffer.withUnsafeReadableBytes(Self.fastRequest) else {
                // Not ours: the codec takes these bytes and everything after them.
                context.fireChannelRead(wrapInboundOut(buffer))
                flushIfNeeded(context)
                context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
                return
            }
            buffer.moveReaderIndex(forwardBy: length)
            answer(target: target, start: start, context: context)
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

    /// The request target and the head's length when `bytes` begin with a complete head this
    /// handler answers; nil otherwise.
    static func fastRequest(_ bytes: UnsafeRawBufferPointer) -> (target: String, length: Int)? {
        let prefix = "GET /get-token".utf8
        guard bytes.count > prefix.count + 13, bytes.starts(with: prefix) else { return nil }
        // The target runs to the first space; it may only add a query to the path.
        let targetStart = 4
        guard let targetEnd = bytes[targetStart...].firstIndex(of: UInt8(ascii: " ")),
            targetEnd == targetStart + 10 || bytes[targetStart + 10] == UInt8(ascii: "?")
        else { return nil }
        guard bytes[targetEnd...].starts(with: " HTTP/1.1\r\n".utf8) else { return nil }
        var line = targetEnd + 11
        while true {
            // Each header line: a name of token characters, a colon, a value without control
            // characters other than tab, CRLF. A blank line ends the head.
            guard line + 1 < bytes.count else { return nil }
            if bytes[line] == UInt8(ascii: "\r") {
                guard bytes[line + 1] == UInt8(ascii: "\n") else { return nil }
                let target = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[targetStart..<targetEnd]), as: UTF8.self)
                return (target, line + 2)
            }
            var index = line
            while index < bytes.count, Self.isTokenCharacter(bytes[index]) { index += 1 }
            guard index > line, index < bytes.count, bytes[index] == UInt8(ascii: ":"),
                !Self.isRefused(UnsafeRawBufferPointer(rebasing: bytes[line..<index]))
            else { return nil }
            index += 1
            while index < bytes.count, bytes[index] != UInt8(ascii: "\r") {
                let byte = bytes[index]
                guard byte >= 0x20 || byte == 0x09, byte != 0x7F else { return nil }
                index += 1
            }
            guard index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "\n") else { return nil }
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

    /// Header names that need the codec or the router: compared without case.
    private static let refused: [[UInt8]] = ["origin", "connection", "content-length", "transfer-encoding", "expect", "upgrade"].map {
        Array($0.utf8)
    }

    private static func isRefused(_ name: UnsafeRawBufferPointer) -> Bool {
        refused.contains { refused in
            refused.count == name.count && zip(refused, name).allSatisfy { $0 == $1 | 0x20 }
        }
    }

    /// The metric handles of a successful answer, looked up once per connection.
    private lazy var okMetrics = metrics.requestHandles(method: "GET", route: "/get-token", status: 200)

    private func answer(target: String, start: ContinuousClock.Instant, context: ChannelHandlerContext) {
        var roomId: String?
        var peerId: String?
        if target.utf8.count > 10 {
            let query = URI(target).queryParameters
            roomId = query["roomId"].map(String.init)
            peerId = query["peerId"].map(String.init)
        }
        let status: HTTPResponse.Status
        var buffer = context.channel.allocator.buffer(capacity: 512)
        do throws(APIError) {
            let token = try endpoint.token(roomId: roomId, peerId: peerId, origin: nil, client: context.channel.remoteAddress?.ipAddress)
            status = .ok
            buffer.writeStaticString("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ")
            buffer.writeString(String(token.utf8.count + 12))
            writeDateAndServer(&buffer)
            buffer.writeStaticString(#"{"token":""#)
            buffer.writeString(token)
            buffer.writeStaticString(#""}"#)
        } catch {
            status = error.status
            let body = error.body.jsonText
            buffer.writeString("HTTP/1.1 \(status.code) \(status.reasonPhrase)\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ")
            buffer.writeString(String(body.utf8.count))
            writeDateAndServer(&buffer)
            buffer.writeString(body)
        }
        context.write(wrapOutboundOut(buffer), promise: nil)
        needsFlush = true
        let duration = ContinuousClock.now - start
        if status == .ok {
            okMetrics.0.increment()
            okMetrics.1.record(duration)
        } else {
            metrics.request(method: "GET", route: "/get-token", status: Int(status.code), duration: duration)
        }
        logger.info(
            "request",
            metadata: [
                "method": "GET", "path": "/get-token", "status": "\(status.code)",
                "ms": "\(Double(duration.components.attoseconds) / 1e15 + Double(duration.components.seconds) * 1000)",
            ])
    }

    /// The rest of the head after `Content-Length`'s value: `Date`, `Server`, the blank line.
    private func writeDateAndServer(_ buffer: inout ByteBuffer) {
        buffer.writeStaticString("\r\nDate: ")
        buffer.writeString(date.now())
        buffer.writeStaticString("\r\nServer: ")
        buffer.writeString(serverName)
        buffer.writeStaticString("\r\n\r\n")
    }
}

/// Puts `TokenFastPath` at the front of each connection's pipeline, then sets the
/// connection up as `inner` does.
struct TokenFastPathChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let makeHandler: @Sendable () -> TokenFastPath

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            try channel.pipeline.syncOperations.addHandler(makeHandler(), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// The `Date` header's text (RFC 9110 IMF-fixdate), made once per second.
struct HTTPDate {
    private var second = 0
    private var text = ""

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    mutating func now() -> String {
        var seconds = time(nil)
        if seconds != second {
            var parts = tm()
            gmtime_r(&seconds, &parts)
            func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
            text =
                "\(Self.days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(Self.months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
                + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
            second = seconds
        }
        return text
    }
}
