import NIOCore
import NIOEmbedded
import NIOWebSocket
import Synchronization
import Testing

@testable import AdmitServer

@Suite("frame outlet: the hub's way out to a meeting connection")
struct FrameOutletTests {
    /// An active channel with a WebSocket encoder, its outlet, and its loop.
    static func connected() throws -> (EmbeddedChannel, FrameOutlet, EmbeddedEventLoop) {
        let channel = EmbeddedChannel(handler: WebSocketFrameEncoder())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 9)).wait()
        let loop = try #require(channel.eventLoop as? EmbeddedEventLoop)
        return (channel, try FrameOutlet.attached(to: channel), loop)
    }

    /// Hands `frame` to `outlet` as the hub does, and runs the loop.
    static func send(_ frame: ByteBuffer, to outlet: FrameOutlet, on loop: EmbeddedEventLoop) {
        var fanout = Fanout()
        fanout.write(frame, to: outlet)
        fanout.send()
        loop.run()
    }

    @Test("frames are written whole below the encoder, one flush per batch, and shared payloads are not copied per recipient")
    func framesAndFlushes() throws {
        let channels = (0..<3).map { _ in EmbeddedChannel(handler: WebSocketFrameEncoder()) }
        let outlets = try channels.map { try FrameOutlet.attached(to: $0) }
        let frame = FrameOutlet.textFrame(#"{"event":"participant-joined","participantId":"p","name":"P"}"#)
        let big = FrameOutlet.textFrame(String(repeating: "x", count: 70_000))
        var fanout = Fanout()
        for outlet in outlets {
            fanout.write(frame, to: outlet)
            fanout.write(big, to: outlet)
        }
        fanout.send()
        let original = frame.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) }
        for channel in channels {
            (channel.eventLoop as? EmbeddedEventLoop)?.run()
            let first = try #require(try channel.readOutbound(as: ByteBuffer.self))
            #expect(first == frame)
            // The very bytes framed once: every recipient's write points at the same storage.
            #expect(first.withUnsafeReadableBytes { UInt(bitPattern: $0.baseAddress) } == original)
            #expect(first.getInteger(at: 0, as: UInt8.self) == 0x81)
            let second = try #require(try channel.readOutbound(as: ByteBuffer.self))
            // 127 then a 64-bit length for a payload over 65535 bytes.
            #expect(second.getInteger(at: 1, as: UInt8.self) == 127)
            #expect(second.getInteger(at: 2, as: UInt64.self) == 70_000)
            #expect(second.readableBytes == 70_010)
        }
    }

    @Test("a client that stops reading is disconnected once its backlog passes the limit; nothing is written after")
    func backlogBounded() throws {
        let (channel, outlet, loop) = try Self.connected()
        let frame = FrameOutlet.textFrame(String(repeating: "y", count: 60_000))
        channel.isWritable = false
        var written = 0
        while written <= FrameOutlet.maxBacklog - frame.readableBytes {
            Self.send(frame, to: outlet, on: loop)
            written += frame.readableBytes
            // (Read into a value first: a failing expectation that shows the channel trips over NIO's pipeline description.)
            let active = channel.isActive
            #expect(active, "closed with \(written) bytes waiting")
        }
        // Writable again: the backlog starts over.
        channel.isWritable = true
        Self.send(frame, to: outlet, on: loop)
        let activeAgain = channel.isActive
        #expect(activeAgain)
        channel.isWritable = false
        for _ in 0...(FrameOutlet.maxBacklog / frame.readableBytes) { Self.send(frame, to: outlet, on: loop) }
        let closed = !channel.isActive
        #expect(closed)
        var frames = 0
        while try channel.readOutbound(as: ByteBuffer.self) != nil { frames += 1 }
        #expect(frames * frame.readableBytes <= 2 * FrameOutlet.maxBacklog + frame.readableBytes)
    }

    @Test("after a Close frame from the WebSocket writer (a client's close answered, a 4029 close), no event frame follows it")
    func nothingAfterClose() throws {
        let (channel, outlet, loop) = try Self.connected()
        let frame = FrameOutlet.textFrame(#"{"event":"mic-changed","participantId":"p","enabled":true}"#)
        Self.send(frame, to: outlet, on: loop)
        let close = WebSocketFrame(fin: true, opcode: .connectionClose, data: ByteBuffer(bytes: [0x03, 0xE8]))
        try channel.writeAndFlush(close).wait()
        Self.send(frame, to: outlet, on: loop)
        var opcodes: [UInt8] = []
        while var buffer = try channel.readOutbound(as: ByteBuffer.self) {
            // The encoder may write a frame's header and payload as two buffers: only headers start frames here.
            if let first = buffer.readInteger(as: UInt8.self), first & 0x80 != 0 { opcodes.append(first & 0x0F) }
        }
        #expect(opcodes == [0x1, 0x8])
    }

    /// Closes `outlet` as the hub does, and runs the loop.
    static func close(_ outlet: FrameOutlet, on loop: EmbeddedEventLoop) {
        var fanout = Fanout()
        fanout.close(outlet)
        fanout.send()
        loop.run()
    }

    @Test("the hub's close runs the connection's close action once, its frames before it out; at once if given late; never once finished")
    func closeAction() throws {
        let (channel, outlet, loop) = try Self.connected()
        let runs = Mutex<[Int]>([])
        outlet.whenClosed { runs.withLock { $0.append(1) } }
        #expect(!outlet.isCloseRequested)
        // A frame, then the close, in one batch: the frame is out (flushed) when the action runs.
        var fanout = Fanout()
        fanout.write(FrameOutlet.textFrame(#"{"event":"meeting-left"}"#), to: outlet)
        fanout.close(outlet)
        fanout.send()
        loop.run()
        #expect(outlet.isCloseRequested)
        #expect(runs.withLock { $0 } == [1])
        #expect(try channel.readOutbound(as: ByteBuffer.self).flatMap(FrameOutlet.text(of:)) == #"{"event":"meeting-left"}"#)
        // A second close does nothing; an action given after the close runs at once.
        Self.close(outlet, on: loop)
        #expect(runs.withLock { $0 } == [1])
        outlet.whenClosed { runs.withLock { $0.append(2) } }
        #expect(runs.withLock { $0 } == [1, 2])

        // Finished first (the connection's task is over): the action is let go, never run.
        let (_, other, otherLoop) = try Self.connected()
        other.whenClosed { runs.withLock { $0.append(3) } }
        other.finish()
        Self.close(other, on: otherLoop)
        other.whenClosed { runs.withLock { $0.append(4) } }
        #expect(runs.withLock { $0 } == [1, 2])
    }
}
