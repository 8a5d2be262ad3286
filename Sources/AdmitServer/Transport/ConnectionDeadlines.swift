import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Time limits for one connection (the contract's limits, section 4), first in its pipeline
/// so that it sees every byte, whichever handler answers the request:
/// - a request head must arrive whole within `head` of its first byte (a client that
///   trickles a head, slowloris style, is closed);
/// - a connection with no traffic either way for `idle` is closed, between requests or
///   during one (the fast path's answers count as traffic: they pass through here);
/// - once upgraded to a WebSocket (`/rtc`), neither applies: a ping goes out every `ping`,
///   and a connection that sent nothing at all during two ping intervals in a row (two pings
///   unanswered) is closed.
///
/// It does not parse HTTP itself: the fast path and `RequestTracker` (after the codec) tell
/// it when a head is complete and when an answer is done; it notices an upgrade by the
/// `101` status line going out.
final class ConnectionDeadlines: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = IOData
    typealias OutboundOut = IOData

    struct Limits: Sendable {
        var head: TimeAmount
        var idle: TimeAmount
        var ping: TimeAmount
    }

    /// Why a connection was closed, for the metric.
    enum Expiry: String {
        case head = "head-timeout"
        case idle = "idle-timeout"
        case ping = "ping-timeout"
    }

    private enum Phase {
        /// Between requests.
        case idle
        /// Bytes of a head arrived since `since`; the head is not complete yet.
        case head(since: NIODeadline)
        /// A head is complete; its answer is not written yet.
        case busy
        /// Upgraded: pings instead of HTTP deadlines.
        case webSocket
    }

    private let limits: Limits
    private let expired: @Sendable (Expiry) -> Void
    private var phase = Phase.idle
    /// Requests the handlers that answer have taken and not answered yet.
    private var inFlight = 0
    /// How much of "\r\n\r\n" the bytes of the current head ended with.
    private var headEndMatched = 0
    private var lastActivity = NIODeadline.now()
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private weak var context: ChannelHandlerContext?
    /// WebSocket: whether the client sent anything since the last ping, and pings in a row without.
    private var readSincePing = true
    private var unansweredPings = 0

    init(limits: Limits, expired: @escaping @Sendable (Expiry) -> Void = { _ in }) {
        self.limits = limits
        self.expired = expired
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        lastActivity = .now()
        arm()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimer()
        self.context = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        cancelTimer()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let now = NIODeadline.now()
        lastActivity = now
        switch phase {
        case .idle:
            phase = .head(since: now)
            headEndMatched = 0
            arm()
            scanForHeadEnd(unwrapInboundIn(data))
        case .head:
            scanForHeadEnd(unwrapInboundIn(data))
        case .webSocket:
            readSincePing = true
        case .busy:
            break
        }
        context.fireChannelRead(data)
    }

    /// Ends the head deadline at the head's blank line, whoever reads the request (the upgrade
    /// handler of `/rtc` tells nobody when it has a head).
    private func scanForHeadEnd(_ buffer: ByteBuffer) {
        let pattern: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]
        for byte in buffer.readableBytesView {
            if byte == pattern[headEndMatched] {
                headEndMatched += 1
                if headEndMatched == 4 {
                    phase = .busy
                    return
                }
            } else {
                headEndMatched = byte == 0x0D ? 1 : 0
            }
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = .now()
        if case .webSocket = phase {
        } else if case .byteBuffer(let buffer) = unwrapOutboundIn(data), buffer.readableBytesView.starts(with: Self.switchingProtocols) {
            upgraded()
        }
        context.write(data, promise: promise)
    }

    private static let switchingProtocols = Array("HTTP/1.1 101 ".utf8)

    // MARK: Told by the handlers that read requests

    /// A handler took a complete request head: no head deadline until it is answered.
    func headComplete() {
        if case .webSocket = phase { return }
        inFlight += 1
        phase = .busy
    }

    /// An answer is written whole; `pending` when bytes of a further request are already in.
    func answered(pending: Bool) {
        if case .webSocket = phase { return }
        let now = NIODeadline.now()
        lastActivity = now
        inFlight = max(0, inFlight - 1)
        guard inFlight == 0 else { return }
        headEndMatched = 0
        phase = pending ? .head(since: now) : .idle
        arm()
    }

    /// The connection is a WebSocket now.
    func upgraded() {
        phase = .webSocket
        readSincePing = true
        unansweredPings = 0
        cancelTimer()
        schedule(at: .now() + limits.ping)
    }

    // MARK: Timer

    private var deadline: NIODeadline {
        switch phase {
        case .head(let since): min(since + limits.head, lastActivity + limits.idle)
        case .idle, .busy: lastActivity + limits.idle
        case .webSocket: lastActivity + limits.ping
        }
    }

    /// Makes sure the timer fires no later than the current deadline.
    private func arm() {
        if case .webSocket = phase { return }
        let wanted = deadline
        if let timerDeadline, timerDeadline <= wanted { return }
        cancelTimer()
        schedule(at: wanted)
    }

    private func schedule(at when: NIODeadline) {
        guard let context else { return }
        timerDeadline = when
        timer = context.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: when) { [weak self] in
            self?.fire()
        }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
    }

    private func fire() {
        timer = nil
        timerDeadline = nil
        guard let context, context.channel.isActive else { return }
        let now = NIODeadline.now()
        switch phase {
        case .webSocket:
            unansweredPings = readSincePing ? 0 : unansweredPings + 1
            guard unansweredPings < 2 else { return close(context, .ping) }
            readSincePing = false
            // A server ping frame without payload: FIN, opcode 9, length 0, unmasked. Written
            // from a timer task, so it never falls between the two writes of another frame.
            var ping = context.channel.allocator.buffer(capacity: 2)
            ping.writeBytes([0x89, 0x00])
            context.writeAndFlush(wrapOutboundOut(.byteBuffer(ping)), promise: nil)
            schedule(at: now + limits.ping)
        case .head(let since) where now >= since + limits.head:
            close(context, .head)
        default:
            if now >= lastActivity + limits.idle { return close(context, .idle) }
            schedule(at: deadline)
        }
    }

    private func close(_ context: ChannelHandlerContext, _ expiry: Expiry) {
        expired(expiry)
        context.close(promise: nil)
    }
}

/// After the HTTP codec: tells `ConnectionDeadlines` when a head is complete (the codec
/// decoded it) and when its answer is written whole.
final class RequestTracker: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private var deadlines: ConnectionDeadlines?

    func handlerAdded(context: ChannelHandlerContext) {
        deadlines = try? context.pipeline.syncOperations.handler(type: ConnectionDeadlines.self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { deadlines?.headComplete() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let isEnd: Bool
        if case .end = unwrapOutboundIn(data) { isEnd = true } else { isEnd = false }
        context.write(data, promise: promise)
        if isEnd { deadlines?.answered(pending: false) }
    }
}
