import NIOCore
import NIOWebSocket
import Synchronization

/// A meeting connection's way out for the hub's events: whole WebSocket text frames, framed
/// once per event and shared by every recipient (a `ByteBuffer`'s storage is counted, not
/// copied), written below the WebSocket frame encoder, and flushed once per batch.
///
/// Why not the WebSocket writer: each of its writes is a task hop and a flush (a system call)
/// per message, and its encoder writes the frame header into the payload's headroom, which
/// copies a shared payload for every recipient. A room of 1,000 filling sends half a million
/// events; that per-message cost was the whole limit (`Benchmarks/storm.sh`).
///
/// Frames written here and the WebSocket writer's own (replies to malformed requests, the
/// close handshake, pings) are whole frames, so they interleave at frame boundaries only.
/// Once a Close frame goes out, whoever wrote it (the hub's close, the 4029 close, the
/// answer to a client's Close), nothing more is written here: `CloseWatcher`, just above the
/// encoder, sees every frame the WebSocket writer sends and stops the outlet on the loop, in
/// order (RFC 6455: no data frame after Close). The outlet's state is touched on the
/// connection's event loop only, but for the close request (`whenClosed`, `finish()`), which
/// has a lock of its own. The hub's close runs the action the connection gave `whenClosed`
/// (its WebSocket close handshake), so a connection needs no task of its own waiting for it.
final class FrameOutlet: @unchecked Sendable {
    let eventLoop: any EventLoop
    /// The WebSocket frame encoder's context: a write from it goes to the handlers below the
    /// encoder, which take bytes. Loop-bound.
    private var context: ChannelHandlerContext?
    /// Set instead of `context` by `recording(on:)`.
    private let recorder: FrameRecorder?
    /// Set instead of `context` by `relaying(on:to:)`: a participant connected to another node.
    private let relay: (@Sendable (_ texts: [String], _ close: Bool) -> Void)?
    /// Texts written to a relaying outlet since its last flush. Loop-bound.
    private var relayed: [String] = []
    private var closing = false
    private var needsFlush = false
    /// Bytes written while the socket was not writable (the client does not read).
    private var backlog = 0
    /// What to do when the hub closes the connection (after its last event, `meeting-left`).
    private let closeRequest = Mutex(CloseRequest())

    private struct CloseRequest {
        var action: (@Sendable () -> Void)?
        var requested = false
        var finished = false
    }

    /// Bytes a client that stops reading may leave waiting beyond the socket's own buffers
    /// before it is disconnected: events are never dropped silently, and a reader that never
    /// reads cannot make the server keep its events without bound.
    static let maxBacklog = 1 << 20
    /// Told when a client is disconnected for not reading (metrics).
    private let overflowed: @Sendable () -> Void

    private init(
        eventLoop: any EventLoop, context: ChannelHandlerContext?, recorder: FrameRecorder? = nil,
        relay: (@Sendable ([String], Bool) -> Void)? = nil, overflowed: @escaping @Sendable () -> Void = {}
    ) {
        self.eventLoop = eventLoop
        self.context = context
        self.recorder = recorder
        self.relay = relay
        self.overflowed = overflowed
    }

    /// The outlet of an upgraded WebSocket channel.
    static func attach(to channel: any Channel, overflowed: @escaping @Sendable () -> Void = {}) async throws -> FrameOutlet {
        try await channel.eventLoop.submit { try attached(to: channel, overflowed: overflowed) }.get()
    }

    /// The same, on the channel's event loop: finds the encoder and puts a `CloseWatcher` above it.
    static func attached(to channel: any Channel, overflowed: @escaping @Sendable () -> Void = {}) throws -> FrameOutlet {
        let operations = channel.pipeline.syncOperations
        let context = try operations.context(handlerType: WebSocketFrameEncoder.self)
        let outlet = FrameOutlet(eventLoop: channel.eventLoop, context: context, overflowed: overflowed)
        try operations.addHandler(CloseWatcher(outlet), position: .after(context.handler))
        return outlet
    }

    /// An outlet that keeps what it is given, on a real event loop, for tests of the hub's order.
    static func recording(on eventLoop: any EventLoop) -> (FrameOutlet, FrameRecorder) {
        let recorder = FrameRecorder()
        return (FrameOutlet(eventLoop: eventLoop, context: nil, recorder: recorder), recorder)
    }

    /// The outlet of a participant connected to another node: each flush hands the texts
    /// written since the last one to `relay` (in order), and a close hands on `close: true`.
    static func relaying(on eventLoop: any EventLoop, to relay: @escaping @Sendable (_ texts: [String], _ close: Bool) -> Void) -> FrameOutlet {
        FrameOutlet(eventLoop: eventLoop, context: nil, relay: relay)
    }

    /// On the event loop.
    fileprivate func write(_ frame: ByteBuffer) {
        if let recorder, !closing { recorder.record(frame) }
        if relay != nil, !closing, let text = Self.text(of: frame) { relayed.append(text) }
        guard !closing, let context else { return }
        if context.channel.isWritable {
            backlog = 0
        } else {
            backlog += frame.readableBytes
            if backlog > Self.maxBacklog {
                closing = true
                overflowed()
                context.close(promise: nil)
                return
            }
        }
        context.write(NIOAny(frame), promise: nil)
        needsFlush = true
    }

    /// On the event loop.
    fileprivate func flush() {
        if let relay, !relayed.isEmpty {
            relay(relayed, false)
            relayed = []
        }
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    /// On the event loop, after the frames before it.
    fileprivate func close() {
        guard !closing else { return }
        flush()
        closing = true
        recorder?.closed()
        relay?([], true)
        let action = closeRequest.withLock { request -> (@Sendable () -> Void)? in
            request.requested = true
            defer { request.action = nil }
            return request.action
        }
        action?()
    }

    /// Runs `action` once when the hub closes the connection (at once if it has already), unless
    /// `finish()` came first, or the outlet had already stopped (a Close frame went out, or the
    /// client stopped reading): the connection is closing then anyway. Any thread.
    func whenClosed(_ action: @escaping @Sendable () -> Void) {
        let now = closeRequest.withLock { request -> Bool in
            guard !request.finished else { return false }
            guard request.requested else {
                request.action = action
                return false
            }
            return true
        }
        if now { action() }
    }

    /// Whether the hub has closed the connection. Any thread.
    var isCloseRequested: Bool { closeRequest.withLock { $0.requested } }

    /// On the event loop: a Close frame went out (`CloseWatcher`); nothing more is written.
    fileprivate func closeSent() {
        closing = true
    }

    /// The connection's task is over: the close request is let go (any thread).
    func finish() {
        closeRequest.withLock { request in
            request.finished = true
            request.action = nil
        }
    }

    /// The text of a frame made by `textFrame`.
    static func text(of frame: ByteBuffer) -> String? {
        var frame = frame
        guard let length = frame.getInteger(at: frame.readerIndex + 1, as: UInt8.self) else { return nil }
        frame.moveReaderIndex(forwardBy: length < 126 ? 2 : length == 126 ? 4 : 10)
        return String(buffer: frame)
    }

    /// A text frame as it goes on the wire from a server (unmasked, one fragment).
    static func textFrame(_ text: String) -> ByteBuffer {
        let length = text.utf8.count
        var buffer = allocator.buffer(capacity: length + 10)
        buffer.writeInteger(UInt8(0x81))
        if length < 126 {
            buffer.writeInteger(UInt8(length))
        } else if length <= Int(UInt16.max) {
            buffer.writeInteger(UInt8(126))
            buffer.writeInteger(UInt16(length))
        } else {
            buffer.writeInteger(UInt8(127))
            buffer.writeInteger(UInt64(length))
        }
        buffer.writeString(text)
        return buffer
    }

    private static let allocator = ByteBufferAllocator()
}

/// Sits just above the WebSocket frame encoder and sees every frame the WebSocket writer sends
/// (the outlet writes below the encoder, past it): a Close frame stops the outlet before it goes.
final class CloseWatcher: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = WebSocketFrame
    typealias OutboundOut = WebSocketFrame

    private let outlet: FrameOutlet

    init(_ outlet: FrameOutlet) {
        self.outlet = outlet
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if unwrapOutboundIn(data).opcode == .connectionClose { outlet.closeSent() }
        context.write(data, promise: promise)
    }
}

/// What a recording outlet was given: the text of each frame, in order, and whether it was closed.
final class FrameRecorder: Sendable {
    private let state = Mutex<(texts: [String], closed: Bool)>(([], false))

    var texts: [String] { state.withLock { $0.texts } }
    var isClosed: Bool { state.withLock { $0.closed } }

    fileprivate func record(_ frame: ByteBuffer) {
        guard let text = FrameOutlet.text(of: frame) else { return }
        state.withLock { $0.texts.append(text) }
    }

    fileprivate func closed() {
        state.withLock { $0.closed = true }
    }
}

/// Frames and closes for many connections, carried to each event loop in one task and flushed
/// once per connection: the hub builds one per batch of room changes.
struct Fanout {
    private enum Item: Sendable {
        case frame(FrameOutlet, ByteBuffer)
        case close(FrameOutlet)
    }

    private var loops: [ObjectIdentifier: (any EventLoop, [Item])] = [:]

    var isEmpty: Bool { loops.isEmpty }

    mutating func write(_ frame: ByteBuffer, to outlet: FrameOutlet) {
        append(.frame(outlet, frame), outlet)
    }

    /// Closes `outlet` after the frames added before.
    mutating func close(_ outlet: FrameOutlet) {
        append(.close(outlet), outlet)
    }

    private mutating func append(_ item: Item, _ outlet: FrameOutlet) {
        let key = ObjectIdentifier(outlet.eventLoop)
        if loops[key] == nil {
            loops[key] = (outlet.eventLoop, [item])
        } else {
            loops[key]?.1.append(item)
        }
    }

    /// Hands every loop its items, in the order they were added (per connection, the order is
    /// kept: a connection lives on one loop).
    mutating func send() {
        for (loop, items) in loops.values {
            loop.execute {
                for item in items {
                    switch item {
                    case .frame(let outlet, let frame): outlet.write(frame)
                    case .close(let outlet): outlet.close()
                    }
                }
                // Once per connection: a flush with nothing new written does nothing.
                for case .frame(let outlet, _) in items { outlet.flush() }
            }
        }
        loops = [:]
    }
}
