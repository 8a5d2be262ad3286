// admit-storm: the join-storm load generator (Benchmarks/storm.sh runs it).
//
// Raw NIO sockets on one event-loop thread, WebSocket framing by hand, no JSON parsing (a
// frame is counted, and a joiner's first frame is checked to be its `meeting-joined`): it
// costs far less CPU per event than the server, so the figures are the server's.
//
// Usage: admit-storm PORT TOKEN SERVER_PID [big,bare,spread]
// Prints, in one run: bare WebSocket connects (/bench/ws), joins into 200 rooms of 10, a room
// of 1000 filling (joins/s and events delivered per second, every event read), and the server's
// memory per participant in that room (RSS over idle, divided by 1000).
import Foundation
import NIOCore
import NIOPosix

let arguments = CommandLine.arguments
guard arguments.count >= 4, let port = Int(arguments[1]), let serverPID = Int32(arguments[3]) else {
    print("usage: admit-storm PORT TOKEN SERVER_PID")
    exit(2)
}
let token = arguments[2]
/// Only these parts of the run (`big`, `bare`, `spread`), for profiling one of them.
let parts = arguments.count > 4 ? Set(arguments[4].split(separator: ",").map(String.init)) : ["big", "bare", "spread"]
let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
let loop = group.next()
let concurrency = 64

/// Everything below runs on `loop`: no locks.
final class Counters: @unchecked Sendable {
    var frames = 0
    var failures: [String] = []
}
let counters = Counters()

/// One WebSocket client connection: sends the upgrade, then counts the server's frames.
final class WebSocketClient: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let target: String
    private let expect: String
    private let firstFrame: (Bool) -> Void
    private var upgraded = false
    private var pending = ByteBuffer()
    private var gotFirst = false

    init(target: String, expect: String, firstFrame: @escaping (Bool) -> Void) {
        self.target = target
        self.expect = expect
        self.firstFrame = firstFrame
    }

    func channelActive(context: ChannelHandlerContext) {
        let head =
            "GET \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: head)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var incoming = unwrapInboundIn(data)
        pending.writeBuffer(&incoming)
        if !upgraded {
            let view = pending.readableBytesView
            guard let end = view.firstRange(of: Array("\r\n\r\n".utf8)) else { return }
            let head = String(decoding: view[view.startIndex..<end.lowerBound], as: UTF8.self)
            guard head.hasPrefix("HTTP/1.1 101") else {
                report(false, "refused: \(head.prefix(60))")
                context.close(promise: nil)
                return
            }
            pending.moveReaderIndex(forwardBy: end.upperBound - view.startIndex)
            upgraded = true
        }
        while let (opcode, payload) = nextFrame() {
            switch opcode {
            case 0x1:
                counters.frames += 1
                if !gotFirst {
                    gotFirst = true
                    let starts = payload.readableBytesView.starts(with: Array(expect.utf8))
                    report(starts, starts ? nil : "first frame: \(String(buffer: payload).prefix(60))")
                }
            case 0x9 where payload.readableBytes < 126:  // a control frame's payload is at most 125 bytes
                var pong = context.channel.allocator.buffer(capacity: 6 + payload.readableBytes)
                pong.writeBytes([0x8A, 0x80 | UInt8(payload.readableBytes), 0, 0, 0, 0])
                pong.writeImmutableBuffer(payload)
                context.writeAndFlush(wrapOutboundOut(pong), promise: nil)
            case 0x8:
                context.close(promise: nil)
            default:
                break
            }
        }
        pending.discardReadBytes()
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !gotFirst { report(false, "closed before its first frame") }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if !gotFirst { report(false, "\(error)") }
        context.close(promise: nil)
    }

    private func report(_ ok: Bool, _ failure: String?) {
        gotFirst = true
        if let failure { counters.failures.append(failure) }
        firstFrame(ok)
    }

    /// The next whole server frame (unmasked), or nil until more bytes arrive.
    private func nextFrame() -> (UInt8, ByteBuffer)? {
        guard pending.readableBytes >= 2, let b0 = pending.getInteger(at: pending.readerIndex, as: UInt8.self),
            let b1 = pending.getInteger(at: pending.readerIndex + 1, as: UInt8.self)
        else { return nil }
        var headerLength = 2
        var length = Int(b1 & 0x7F)
        if length == 126 {
            guard let extended = pending.getInteger(at: pending.readerIndex + 2, as: UInt16.self) else { return nil }
            length = Int(extended)
            headerLength = 4
        } else if length == 127 {
            guard let extended = pending.getInteger(at: pending.readerIndex + 2, as: UInt64.self), extended < 1 << 30 else { return nil }
            length = Int(extended)
            headerLength = 10
        }
        guard pending.readableBytes >= headerLength + length else { return nil }
        pending.moveReaderIndex(forwardBy: headerLength)
        guard let payload = pending.readSlice(length: length) else { return nil }
        return (b0 & 0x0F, payload)
    }
}

/// Collects a whole HTTP answer (the server closes: `Connection: close`).
final class HTTPCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    private var text = ""
    private let request: String
    let done: EventLoopPromise<String>

    init(request: String, done: EventLoopPromise<String>) {
        self.request = request
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(NIOAny(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.succeed(text)
    }
}

func http(_ method: String, _ path: String, body: String? = nil) throws -> String {
    let promise = loop.makePromise(of: String.self)
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: \(token)\r\nConnection: close\r\n"
    if let body { request += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
    request += "\r\n" + (body ?? "")
    let collector = HTTPCollector(request: request, done: promise)
    _ = try ClientBootstrap(group: loop).channelInitializer { $0.pipeline.addHandler(collector) }.connect(host: "127.0.0.1", port: port).wait()
    return try promise.futureResult.wait()
}

/// The value of the first `"name":"..."` in `text`.
func field(_ name: String, in text: String) -> String? {
    guard let start = text.range(of: "\"\(name)\":\"") else { return nil }
    guard let end = text[start.upperBound...].firstIndex(of: "\"") else { return nil }
    return String(text[start.upperBound..<end])
}

func createRoom() throws -> String {
    let answer = try http("POST", "/v2/rooms", body: "{}")
    guard let room = field("roomId", in: answer) else { throw StormError("no roomId in: \(answer.suffix(200))") }
    return room
}

struct StormError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

struct Storm {
    var count: Int
    var seconds: Double
    var latencies: [Double]
    var channels: [any Channel]

    var rate: Double { Double(count) / seconds }
    func percentile(_ p: Double) -> Double {
        let sorted = latencies.sorted()
        return sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] * 1000
    }
}

/// Opens every target, `concurrency` at a time; each is done at its first frame.
func storm(_ targets: [String], expect: String) throws -> Storm {
    let done = loop.makePromise(of: Storm.self)
    loop.execute {
        var next = 0
        var finished = 0
        var latencies: [Double] = []
        var channels: [any Channel] = []
        let start = DispatchTime.now().uptimeNanoseconds
        func launch() {
            guard next < targets.count else { return }
            let target = targets[next]
            next += 1
            let opened = DispatchTime.now().uptimeNanoseconds
            let client = WebSocketClient(target: target, expect: expect) { _ in
                latencies.append(Double(DispatchTime.now().uptimeNanoseconds - opened) / 1e9)
                finished += 1
                if finished == targets.count {
                    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
                    done.succeed(Storm(count: finished, seconds: seconds, latencies: latencies, channels: channels))
                } else {
                    launch()
                }
            }
            ClientBootstrap(group: loop).channelOption(.socketOption(.so_reuseaddr), value: 1)
                .channelInitializer { $0.pipeline.addHandler(client) }
                .connect(host: "127.0.0.1", port: port)
                .whenComplete { result in
                    switch result {
                    case .success(let channel): channels.append(channel)
                    case .failure(let error):
                        counters.failures.append("connect: \(error)")
                        finished += 1
                        if finished == targets.count {
                            done.succeed(Storm(count: finished, seconds: 1, latencies: latencies, channels: channels))
                        } else {
                            launch()
                        }
                    }
                }
        }
        for _ in 0..<concurrency { launch() }
    }
    let result = try done.futureResult.wait()
    // For a profiler that should cut its record to each part: `STORM_MARKS=1` prints each storm's
    // start and end on the monotonic clock (seconds), to standard error.
    if ProcessInfo.processInfo.environment["STORM_MARKS"] != nil {
        let end = Double(DispatchTime.now().uptimeNanoseconds) / 1e9
        FileHandle.standardError.write(
            "storm \(String(format: "%.6f", end - result.seconds)) \(String(format: "%.6f", end))\n".data(using: .utf8) ?? Data())
    }
    return result
}

func closeAll(_ channels: [any Channel]) {
    for channel in channels { try? channel.close().wait() }
}

func frames() -> Int { (try? loop.submit { counters.frames }.wait()) ?? 0 }

/// Waits until `count` frames have arrived in all (at most `limit` seconds); the time taken.
func waitForFrames(_ count: Int, limit: Double = 60) -> Double? {
    let start = DispatchTime.now().uptimeNanoseconds
    while frames() < count {
        if Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 > limit { return nil }
        usleep(2000)
    }
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

/// Waits until the room's session has ended (the server is done telling the members who left).
func settle(_ room: String) throws {
    for _ in 0..<600 {
        if try http("GET", "/v2/sessions?roomId=\(room)").contains("\"status\":\"ended\"") { return }
        usleep(200_000)
    }
}

func rssKiB() -> Int {
    let status = (try? String(contentsOfFile: "/proc/\(serverPID)/status", encoding: .utf8)) ?? ""
    let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
    return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
}

/// The server's CPU time so far (user + system), in seconds.
func serverCPU() -> Double {
    let stat = (try? String(contentsOfFile: "/proc/\(serverPID)/stat", encoding: .utf8)) ?? ""
    // Fields after the command's closing parenthesis; utime and stime are the 14th and 15th.
    guard let close = stat.lastIndex(of: ")") else { return 0 }
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
    return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
}

func line(_ name: String, _ storm: Storm, cpu: Double, _ extra: String = "") {
    let text = String(
        format: "%@ %5d in %6.2f s  %8.0f/s   p50 %7.1f ms   p99 %7.1f ms", name.padding(toLength: 34, withPad: " ", startingAt: 0) as NSString,
        storm.count, storm.seconds, storm.rate,
        storm.percentile(0.5), storm.percentile(0.99))
    print(text + String(format: "   server CPU %5.0f us each", cpu / Double(storm.count) * 1e6) + extra)
    fflush(stdout)
}

do {
    if parts.contains("big") {
        let size = 1000
        let room = try createRoom()
        let idle = rssKiB()
        let before = frames()
        let start = DispatchTime.now().uptimeNanoseconds
        let bigCPU = serverCPU()
        let big = try storm((0..<size).map { "/rtc?roomId=\(room)&participantId=p\($0)&token=\(token)" }, expect: #"{"event":"meeting-joined""#)
        // Each join tells the joiner (meeting-joined) and every member before it (participant-joined).
        let expected = size + size * (size - 1) / 2
        let waited = waitForFrames(before + expected)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        line("joins into one room of \(size)", big, cpu: serverCPU() - bigCPU)
        if waited != nil {
            print(String(format: "events delivered while it fills   %7d in %6.2f s  %8.0f/s", expected, seconds, Double(expected) / seconds))
        } else {
            print("events delivered while it fills: only \(frames() - before) of \(expected) within 60 s")
        }
        usleep(500_000)
        print(
            String(format: "server memory in that room: %.1f KiB per participant (RSS over the idle server)", Double(rssKiB() - idle) / Double(size)))
        closeAll(big.channels)
        try settle(room)
    }
    // `STORM_ROUNDS=n`: bare connects and joins into 200 rooms of 10 (new rooms each time), n
    // times in turn. This VM's speed moves by tens of percent from one second to the next: the
    // median of the rounds' ratios, each from two phases a second apart, is the figure to quote.
    let rounds = ProcessInfo.processInfo.environment["STORM_ROUNDS"].flatMap(Int.init).map { min(max($0, 1), 50) } ?? 1
    var ratios: [Double] = []
    var cpu = (bare: 0.0, join: 0.0)
    for round in 1...rounds {
        if rounds > 1 { print("round \(round)") }
        var bareRate = 0.0
        if parts.contains("bare") {
            let bareCPU = serverCPU()
            let bare = try storm(Array(repeating: "/bench/ws", count: 2000), expect: #"{"event":"connected""#)
            let used = serverCPU() - bareCPU
            line("bare WebSocket connects", bare, cpu: used)
            cpu.bare += used
            closeAll(bare.channels)
            bareRate = bare.rate
            usleep(500_000)
        }
        if parts.contains("spread") {
            let rooms = try (0..<200).map { _ in try createRoom() }
            // For a profiler that should see the joins alone: `STORM_PAUSE=seconds` waits here.
            if let pause = ProcessInfo.processInfo.environment["STORM_PAUSE"].flatMap(Double.init) { usleep(UInt32(min(max(pause, 0), 60) * 1e6)) }
            let spreadCPU = serverCPU()
            let spread = try storm(
                (0..<2000).map { "/rtc?roomId=\(rooms[$0 % 200])&participantId=s\($0)&token=\(token)" }, expect: #"{"event":"meeting-joined""#)
            let used = serverCPU() - spreadCPU
            line("joins into 200 rooms of 10", spread, cpu: used)
            cpu.join += used
            closeAll(spread.channels)
            for room in rooms.prefix(5) { try settle(room) }
            if bareRate > 0 {
                ratios.append(spread.rate / bareRate)
                if rounds == 1 { print() }
                print(String(format: "joins into 200 rooms of 10 / bare connects: %.0f%%", spread.rate / bareRate * 100))
            }
        }
    }
    if ratios.count > 1 {
        let sorted = ratios.sorted()
        let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        print()
        print(
            String(
                format: "over %d rounds: joins / bare connects, median %.0f%% (lowest %.0f%%, highest %.0f%%); server CPU %.0f us per bare connect, %.0f us per join (%.0f%%)",
                ratios.count, median * 100, (sorted.first ?? 0) * 100, (sorted.last ?? 0) * 100, cpu.bare / Double(2000 * ratios.count) * 1e6,
                cpu.join / Double(2000 * ratios.count) * 1e6, cpu.join > 0 ? cpu.bare / cpu.join * 100 : 0))
    }
    let failures = try loop.submit { counters.failures }.wait()
    if !failures.isEmpty {
        print("failures: \(failures.count), first: \(failures.prefix(3))")
        exit(1)
    }
} catch {
    print("admit-storm: \(error)")
    exit(1)
}
