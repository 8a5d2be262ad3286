import HTTPTypes
import NIOCore
import NIOHTTPTypes

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#endif

/// Time limits for one connection (the contract's limits, section 4), at the front of its
/// pipeline so that it sees every byte, whichever handler answers the request (the fast path,
/// in front of it while it owns the connection, reports its reads and answers directly):
/// - a request head must be taken by a handler within `head` of its first byte: the fast
///   path, the HTTP codec (`RequestTracker` reports its heads) or, for `/rtc`, the upgrade
///   (its `101` answer). A client that trickles a head (slowloris), or sends bytes the codec
///   never turns into a head, is closed;
/// - a connection with no traffic either way for `idle` is closed, between requests or
///   during one (the fast path's answers count as traffic: they pass through here);
/// - once upgraded to a WebSocket (`/rtc`), neither applies: a ping goes out every `ping`,
///   and a connection that completed no frame during two ping intervals in a row (two pings
///   unanswered) is closed. It follows the client's frame boundaries itself, so a frame
///   trickled a byte at a time is no answer.
///
/// One timer per connection, moved rarely: NIO finds a cancelled timer by a linear search of
/// every timer on the loop, so a cancel costs as much as the loop has connections. The timer
/// is set no later than the earliest deadline that may come (a head's, within `head`), and a
/// timer that fires early sets itself again for the deadline now due; a connection's set-up
/// and upgrade cancel nothing. The price: an HTTP connection between requests is woken every
/// `head` (10 s by default) instead of once at its idle deadline, and a connection's close
/// still cancels (its timer must not outlive it).
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
        /// Bytes of a head arrived since `since`; no handler has taken it yet.
        case head(since: NIODeadline)
        /// A handler has the request (or holds requests until the client reads); its answer
        /// is not written yet.
        case busy
        /// Upgraded: pings instead of HTTP deadlines.
        case webSocket
    }

    private let limits: Limits
    private let expired: @Sendable (Expiry) -> Void
    private var phase = Phase.idle
    /// Requests the handlers that answer have taken and not answered yet.
    private var inFlight = 0
    private var lastActivity = ConnectionDeadlines.coarseNow()
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private weak var context: ChannelHandlerContext?
    /// WebSocket: whether the client completed a frame since the last ping, and pings in a row without.
    private var frameSincePing = true
    private var unansweredPings = 0
    /// WebSocket: when the next ping is due.
    private var nextPing = NIODeadline.distantFuture
    private var frames = FrameBoundaries()

    init(limits: Limits, expired: @escaping @Sendable (Expiry) -> Void = { _ in }) {
        self.limits = limits
        self.expired = expired
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        lastActivity = Self.coarseNow()
        // A request head may start at once: its deadline is then the earliest.
        schedule(at: lastActivity + min(limits.head, limits.idle))
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
        if case .webSocket = phase {
            lastActivity = Self.coarseNow()
            if frames.consume(unwrapInboundIn(data)) { frameSincePing = true }
        } else {
            read()
        }
        context.fireChannelRead(data)
    }

    /// Bytes of a request arrived. The fast path, in front of this handler while it owns the
    /// connection, calls this directly: its requests then cost no pass through here.
    func read() {
        let now = Self.coarseNow()
        lastActivity = now
        if case .idle = phase {
            phase = .head(since: now)
            arm()
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        lastActivity = Self.coarseNow()
        // An upgrade is answered while its head is still untaken (the upgrade handler takes it).
        if case .head = phase, case .byteBuffer(let buffer) = unwrapOutboundIn(data), buffer.readableBytesView.starts(with: Self.switchingProtocols) {
            upgraded()
        }
        context.write(data, promise: promise)
    }

    /// The monotonic clock at the kernel's tick (a few milliseconds): enough for deadlines of
    /// seconds, and cheaper than the precise clock on every read and write.
    static func coarseNow() -> NIODeadline {
        #if os(Linux)
            var time = timespec()
            clock_gettime(CLOCK_MONOTONIC_COARSE, &time)
            return .uptimeNanoseconds(UInt64(time.tv_sec) &* 1_000_000_000 &+ UInt64(time.tv_nsec))
        #else
            return .now()
        #endif
    }

    private static let switchingProtocols = Array("HTTP/1.1 101 ".utf8)

    // MARK: Told by the handlers that read requests

    /// A handler took a complete request head: no head deadline until it is answered.
    func headComplete() {
        if case .webSocket = phase { return }
        inFlight += 1
        phase = .busy
    }

    /// The fast path holds requests already read (the client does not read its answers, or
    /// the store has not answered): no head deadline meanwhile, the idle timeout still applies.
    func holding() {
        if case .webSocket = phase { return }
        phase = .busy
    }

    /// An answer is written whole; `pending` when bytes of a further request are already in.
    func answered(pending: Bool) {
        if case .webSocket = phase { return }
        let now = Self.coarseNow()
        lastActivity = now
        inFlight = max(0, inFlight - 1)
        guard inFlight == 0 else { return }
        phase = pending ? .head(since: now) : .idle
        arm()
    }

    /// The connection is a WebSocket now.
    func upgraded() {
        phase = .webSocket
        frameSincePing = true
        unansweredPings = 0
        nextPing = Self.coarseNow() + limits.ping
        // The running timer, if it comes first, finds the ping not yet due and waits for it.
        if let timerDeadline, timerDeadline <= nextPing { return }
        cancelTimer()
        schedule(at: nextPing)
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
        // The precise clock: the timer fired at its deadline, which the coarse clock may not show yet.
        let now = NIODeadline.now()
        switch phase {
        case .webSocket where now < nextPing:
            schedule(at: nextPing)
        case .webSocket:
            unansweredPings = frameSincePing ? 0 : unansweredPings + 1
            guard unansweredPings < 2 else { return close(context, .ping) }
            frameSincePing = false
            // A server ping frame without payload: FIN, opcode 9, length 0, unmasked. Written
            // from a timer task, so it never falls between the two writes of another frame.
            var ping = context.channel.allocator.buffer(capacity: 2)
            ping.writeBytes([0x89, 0x00])
            context.writeAndFlush(wrapOutboundOut(.byteBuffer(ping)), promise: nil)
            nextPing = now + limits.ping
            schedule(at: nextPing)
        case .head(let since) where now >= since + limits.head:
            close(context, .head)
        default:
            if now >= lastActivity + limits.idle { return close(context, .idle) }
            // No later than a head that may start meanwhile would need: no cancel when one does.
            schedule(at: min(deadline, now + limits.head))
        }
    }

    private func close(_ context: ChannelHandlerContext, _ expiry: Expiry) {
        expired(expiry)
        context.close(promise: nil)
    }
}

/// Where a client's WebSocket frames end (RFC 6455 section 5.2), read from the raw bytes:
/// a 2-byte header, 2 or 8 more for a long length, 4 for the mask, then the payload.
/// Only the lengths are read; the frames themselves are the WebSocket handler's business.
struct FrameBoundaries {
    private var header: [UInt8] = []
    private var payloadLeft: UInt64 = 0

    /// Reads `buffer`; true when at least one frame ended in it.
    mutating func consume(_ buffer: ByteBuffer) -> Bool {
        var completed = false
        let bytes = buffer.readableBytesView
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if payloadLeft > 0 {
                let available = UInt64(bytes.endIndex - index)
                let taken = min(payloadLeft, available)
                payloadLeft -= taken
                index += Int(taken)
                if payloadLeft == 0 { completed = true }
                continue
            }
            header.append(bytes[index])
            index += 1
            guard header.count >= 2 else { continue }
            let shortLength = header[1] & 0x7F
            let lengthBytes = shortLength == 126 ? 2 : shortLength == 127 ? 8 : 0
            let needed = 2 + lengthBytes + (header[1] & 0x80 != 0 ? 4 : 0)
            guard header.count == needed else { continue }
            var length = UInt64(shortLength)
            if lengthBytes > 0 { length = header[2..<(2 + lengthBytes)].reduce(0) { $0 << 8 | UInt64($1) } }
            header.removeAll(keepingCapacity: true)
            if length == 0 { completed = true } else { payloadLeft = length }
        }
        return completed
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
