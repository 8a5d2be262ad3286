import AdmitClient
import AdmitServer
import AdmitToken
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The contract's limits on live connections (section 4): head deadline, idle timeout,
/// WebSocket pings, the `/rtc` request rate, the lobby cap, and the fast path's parser.
/// Serialized, as the fast path suite is: timing tests share two cores.
@Suite("limits on live connections", .serialized, .timeLimit(.minutes(1)))
struct LimitsTests {
    /// A live dev server with short limits; `body` gets the port, the harness and the dev secret.
    static func withServer(
        _ change: @escaping (inout AppConfiguration) -> Void = { _ in }, _ body: @escaping @Sendable (Int, Harness) async throws -> Void
    ) async throws {
        try await FastPathTests.withDevServer(
            {
                $0.headTimeout = .milliseconds(600)
                $0.idleTimeout = .milliseconds(1200)
                change(&$0)
            }
        ) { port, server, _ in try await body(port, server) }
    }

    /// Seconds until the server closes `connection` (reading and discarding), or nil if it is
    /// still open after `limit` seconds.
    static func secondsUntilClosed(_ connection: RawHTTP.Connection, limit: Double) async throws -> Double? {
        try await blocking {
            var timeout = timeval(tv_sec: 0, tv_usec: 100_000)
            setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let start = Date()
            var buffer = [UInt8](repeating: 0, count: 4096)
            while Date().timeIntervalSince(start) < limit {
                let read = recv(connection.fd, &buffer, buffer.count, 0)
                if read == 0 { return Date().timeIntervalSince(start) }
                if read < 0, errno != EAGAIN, errno != EWOULDBLOCK { return Date().timeIntervalSince(start) }
            }
            return nil
        }
    }

    static func send(_ connection: RawHTTP.Connection, _ text: String) {
        let bytes = Array(text.utf8)
        _ = Glibc.send(connection.fd, bytes, bytes.count, Int32(MSG_NOSIGNAL))
    }

    @Test("a head that does not arrive whole within the head deadline closes the connection, trickled or silent")
    func headDeadline() async throws {
        try await Self.withServer { port, _ in
            let silent = try RawHTTP.Connection(port: port)
            Self.send(silent, "GET /get-token HTTP/1.1\r\nHost: local")
            let closed = try #require(try await Self.secondsUntilClosed(silent, limit: 3))
            #expect(closed < 1.1)
            // A byte every 200 ms keeps the connection busy but never finishes the head.
            let trickle = try RawHTTP.Connection(port: port)
            let started = Date()
            let head = Array("GET /get-token HTTP/1.1\r\nHost: localhost\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa".utf8)
            var closedAfter: Double?
            for byte in head {
                let sent = Glibc.send(trickle.fd, [byte], 1, Int32(MSG_NOSIGNAL))
                if try sent != 1 || trickle.readsEndOfStreamSoon() {
                    closedAfter = Date().timeIntervalSince(started)
                    break
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            let after = try #require(closedAfter, "a trickled head kept the connection open")
            // The deadline is 600 ms; without it the trickle would take 14 s. The margin is for a loaded test run.
            #expect(after < 2.5)
            // A blank line first: the codec skips it and makes no head, so nothing ever takes one.
            let blank = try RawHTTP.Connection(port: port)
            Self.send(blank, "\r\n\r\n")
            var blankClosed: Double?
            let blankStart = Date()
            for _ in 0..<15 {
                try await Task.sleep(for: .milliseconds(200))
                let sent = Glibc.send(blank.fd, [UInt8(ascii: "G")], 1, Int32(MSG_NOSIGNAL))
                if try sent != 1 || blank.readsEndOfStreamSoon() {
                    blankClosed = Date().timeIntervalSince(blankStart)
                    break
                }
            }
            #expect((blankClosed ?? 99) < 2.5, "a blank line turned the head deadline off")
        }
    }

    @Test("a client that pipelines and does not read for longer than the head deadline keeps its connection and gets every answer")
    func slowReader() async throws {
        try await Self.withServer({ $0.idleTimeout = .seconds(5) }) { port, _ in
            let count = 4000
            let request = "GET /get-token?roomId=r HTTP/1.1\r\nHost: localhost\r\n\r\n"
            let connection = try RawHTTP.Connection(port: port)
            Self.send(connection, String(repeating: request, count: count))
            try await Task.sleep(for: .milliseconds(1500))
            let answers = try await connection.exchange("", responses: count)
            #expect(answers.count == count)
        }
    }

    @Test("a silent connection is closed after the idle timeout; requests, fast path ones included, keep it open")
    func idleTimeout() async throws {
        try await Self.withServer { port, _ in
            let busy = try RawHTTP.Connection(port: port)
            // Six requests 400 ms apart: 2.4 s, twice the idle timeout, each answered by the fast path.
            for _ in 0..<6 {
                let answers = try await busy.exchange("GET /get-token HTTP/1.1\r\nHost: localhost\r\n\r\n", responses: 1)
                #expect(answers.first?.statusLine == "HTTP/1.1 200 OK")
                try await Task.sleep(for: .milliseconds(400))
            }
            // Through the router too (a Connection header sends it there).
            let routed = try await busy.exchange("GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n", responses: 1)
            #expect(routed.first?.statusLine == "HTTP/1.1 200 OK")
            let closed = try #require(try await Self.secondsUntilClosed(busy, limit: 4))
            #expect(closed > 0.9 && closed < 2.2)
            let idle = try RawHTTP.Connection(port: port)
            let untouched = try #require(try await Self.secondsUntilClosed(idle, limit: 4))
            #expect(untouched > 0.5 && untouched < 2.2)
        }
    }

    @Test("400 silent connections are all closed by the deadlines")
    func manySilentConnections() async throws {
        try await Self.withServer { port, _ in
            let connections = try (0..<400).map { _ in try RawHTTP.Connection(port: port) }
            for (index, connection) in connections.enumerated() where index % 2 == 0 { Self.send(connection, "GET /") }
            try await Task.sleep(for: .milliseconds(2500))
            let open = try await blocking {
                var still = 0
                for connection in connections {
                    var timeout = timeval(tv_sec: 0, tv_usec: 1000)
                    setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                    var byte: UInt8 = 0
                    if recv(connection.fd, &byte, 1, 0) < 0 { still += 1 }
                }
                return still
            }
            #expect(open == 0)
        }
    }

    /// `/rtc` for a new participant of a fresh room, with the dev key's token.
    static func rtcPath(_ server: Harness, participant: String, permissions: String = "allow_join") async throws -> String {
        let token = try #require(try await server.call(.get, "/get-token").json["token"]?.stringValue)
        let room = try #require(try await server.createRoom(token).json["roomId"]?.stringValue)
        return "/rtc?roomId=\(room)&participantId=\(participant)&token=\(token)"
    }

    @Test("/rtc gets a ping every interval; a client that answers stays, one that sends nothing is closed after two unanswered pings")
    func pings() async throws {
        // A generous head deadline: under a loaded test run an upgrade's admission can take longer
        // than the suite's 600 ms, and this test is about pings.
        try await Self.withServer({
            $0.pingInterval = .milliseconds(300)
            $0.headTimeout = .seconds(5)
        }) { port, server in
            let path = try await Self.rtcPath(server, participant: "quiet")
            let quiet = try await RawWebSocket.open(port: port, path: path)
            #expect(quiet.upgraded)
            let answering = try await RawWebSocket.open(port: port, path: path.replacingOccurrences(of: "quiet", with: "talker"))
            #expect(answering.upgraded)
            async let quietRun = blocking { () -> (Int, Double?) in
                quiet.timeout(seconds: 3)
                let start = Date()
                var pings = 0
                while let frame = try quiet.read() {
                    if frame.opcode == 9 { pings += 1 }
                    if frame.opcode == 8 { break }
                }
                return (pings, Date().timeIntervalSince(start))
            }
            // The answering client: pongs for 2 s (over six intervals), then is still served.
            async let answeringRun = blocking { () -> (Int, Bool) in
                answering.timeout(seconds: 0, microseconds: 100_000)
                let start = Date()
                var answered = 0
                while Date().timeIntervalSince(start) < 2 {
                    guard let frame = try answering.read() else { continue }
                    if frame.opcode == 9 {
                        try answering.write(RawWebSocket.frame(opcode: 10, frame.payload))
                        answered += 1
                    }
                    if frame.opcode == 8 { return (answered, false) }
                }
                try answering.sendText(#"{"id":7,"method":"setMic","enabled":true}"#)
                answering.timeout(seconds: 5)
                // Still answering pings while the reply comes (a loaded run may take longer than two intervals).
                let reply = try answering.read { frame in
                    if frame.opcode == 9 { try? answering.write(RawWebSocket.frame(opcode: 10, frame.payload)) }
                    return frame.text.contains(#""id":7"#)
                }
                return (answered, reply?.text.contains(#""ok":true"#) == true)
            }
            let (pings, closedAfter) = try await quietRun
            let (answered, alive) = try await answeringRun
            #expect(pings == 2)
            #expect((closedAfter ?? 99) < 1.5)
            #expect(answered >= 4)
            #expect(alive)
            // Bytes of a frame that never ends are no answer.
            let trickler = try await RawWebSocket.open(port: port, path: path.replacingOccurrences(of: "quiet", with: "trickler"))
            let closedAt = try await blocking { () -> Double? in
                trickler.timeout(seconds: 0, microseconds: 100_000)
                let start = Date()
                let frame = RawWebSocket.frame(opcode: 1, Array(String(repeating: "x", count: 100).utf8))
                for byte in frame {
                    if Date().timeIntervalSince(start) > 3 { break }
                    if (try? trickler.write([byte])) == nil { return Date().timeIntervalSince(start) }
                    while let received = try trickler.read() { if received.opcode == 8 { return Date().timeIntervalSince(start) } }
                }
                return nil
            }
            #expect((closedAt ?? 99) < 1.5, "a trickled frame kept the connection alive")
        }
    }

    @Test("a connection the hub closes is hung up after its Close even when the client never answers it (pings answered)")
    func unansweredClose() async throws {
        try await Self.withServer({ $0.headTimeout = .seconds(5) }) { port, server in
            let path = try await Self.rtcPath(server, participant: "twice")
            let first = try await RawWebSocket.open(port: port, path: path)
            #expect(first.upgraded)
            first.timeout(seconds: 5)
            #expect(try await blocking { try first.read { $0.text.contains("meeting-joined") } } != nil)
            // The same participant again: the first connection gets meeting-left 1011 and a Close.
            let second = try await RawWebSocket.open(port: port, path: path)
            #expect(second.upgraded)
            let (closeCode, closedAfter) = try await blocking { () -> (Int?, Double?) in
                let close = try first.read { frame in
                    if frame.opcode == 9 { try? first.write(RawWebSocket.frame(opcode: 10, frame.payload)) }
                    return frame.opcode == 8
                }
                // Never answered; pings still are. The server must hang up on its own.
                first.timeout(seconds: 40)
                let start = Date()
                while let frame = try first.read() {
                    if frame.opcode == 9 { try first.write(RawWebSocket.frame(opcode: 10, frame.payload)) }
                }
                let elapsed = Date().timeIntervalSince(start)
                return (close?.closeCode, elapsed < 39 ? elapsed : nil)
            }
            #expect(closeCode == 1000)
            // The server's writer ends the stream with its Close; `RTCController.closeTimeout` is
            // only the bound for a client that does not read (its Close cannot be written).
            let seconds = try #require(closedAfter, "still open 40 s after the server's Close")
            #expect(seconds < 5)
        }
    }

    @Test("an /rtc client over its request rate gets 4029 refusals, and one that keeps far over it is closed with 4029")
    func rtcRate() async throws {
        try await Self.withServer({
            $0.rtcRequestsPerSecond = 5
            $0.rtcRequestBurst = 10
        }) { port, server in
            let path = try await Self.rtcPath(server, participant: "flood")
            let socket = try await RawWebSocket.open(port: port, path: path)
            #expect(socket.upgraded)
            let (ok, refused, closeCode) = try await blocking { () -> (Int, Int, Int?) in
                for id in 1...60 { try socket.sendText(#"{"id":\#(id),"method":"setMic","enabled":\#(id % 2 == 0)}"#) }
                socket.timeout(seconds: 3)
                var ok = 0, refused = 0
                while let frame = try socket.read() {
                    if frame.opcode == 8 { return (ok, refused, frame.closeCode) }
                    if frame.text.contains(#""ok":true"#) { ok += 1 }
                    if frame.text.contains("4029") { refused += 1 }
                }
                return (ok, refused, nil)
            }
            // At most the burst (and what refills meanwhile) is carried out; answers still queued
            // when the connection is closed for abuse may be dropped.
            #expect(ok <= 12)
            #expect(refused >= 1)
            #expect(closeCode == 4029)
            // Binary frames count as much as requests.
            let binary = try await RawWebSocket.open(port: port, path: path.replacingOccurrences(of: "flood", with: "binary"))
            let binaryClose = try await blocking { () -> Int? in
                for _ in 1...60 { try binary.write(RawWebSocket.frame(opcode: 2, [1, 2, 3])) }
                binary.timeout(seconds: 3)
                return try binary.read { $0.opcode == 8 }?.closeCode
            }
            #expect(binaryClose == 4029)
            // A client within its rate is served for as long as it likes.
            let calm = try await RawWebSocket.open(port: port, path: path.replacingOccurrences(of: "flood", with: "calm"))
            let answered = try await blocking { () -> Int in
                calm.timeout(seconds: 2)
                var answered = 0
                for id in 1...15 {
                    try calm.sendText(#"{"id":\#(id),"method":"setWebcam","enabled":true}"#)
                    if try calm.read(until: { $0.text.contains(#""id":\#(id),"ok":true"#) }) != nil { answered += 1 }
                    Thread.sleep(forTimeInterval: 0.21)
                }
                return answered
            }
            #expect(answered == 15)
        }
    }

    @Test("a full lobby refuses the next waiting participant before the upgrade with 4093; reconnects and direct joins still pass")
    func lobbyCap() async throws {
        try await withMeeting({ $0.maxLobby = 3 }) { m in
            var waiting: [Reader] = []
            for index in 0..<3 { waiting.append(try await m.join("guest-\(index)", .askJoin)) }
            try await Task.sleep(for: .milliseconds(200))
            let refusal = try await m.failure { try await m.client(.askJoin).validateJoin(roomId: m.roomId, .init(participantId: "guest-9")) }
            #expect(refusal.status == 403)
            #expect(refusal.code == 4093)
            #expect(refusal.body["name"] == .string("LOBBY_FULL"))
            #expect(refusal.body["message"] == .string("The waiting room is full."))
            // The same guest reconnecting replaces its own place.
            #expect(try await m.client(.askJoin).validateJoin(roomId: m.roomId, .init(participantId: "guest-1"))["admission"] == .string("lobby"))
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            _ = waiting
        }
    }

    @Test("the fast path answers only visible-ASCII targets; control bytes, NUL, CR and bytes over 0x7E go to the codec, which mints nothing")
    func fastPathTargets() async throws {
        try await Self.withServer { port, _ in
            for target in [
                "/get-token?roomId=a\u{01}b", "/get-token?roomId=a\u{00}b", "/get-token?roomId=\u{FF}", "/get-token?r=\u{7F}", "/get-token?a\rb",
            ] {
                let answers = try await RawHTTP.exchange(
                    port: port, writes: ["GET \(target) HTTP/1.1\r\nHost: localhost\r\n\r\n"], responses: 1, closeAllowed: true)
                #expect(answers.allSatisfy { !$0.body.contains("token") }, "\(target.debugDescription): \(answers)")
            }
            // A raw 0xFF byte (a String would send it as UTF-8).
            let raw = try RawHTTP.Connection(port: port)
            let bytes = Array("GET /get-token?roomId=".utf8) + [0xFF] + Array(" HTTP/1.1\r\nHost: localhost\r\n\r\n".utf8)
            _ = Glibc.send(raw.fd, bytes, bytes.count, Int32(MSG_NOSIGNAL))
            let rawAnswer = try await blocking { () -> String in
                var buffer = [UInt8](repeating: 0, count: 4096)
                let count = recv(raw.fd, &buffer, buffer.count, 0)
                return count > 0 ? String(decoding: buffer[..<count], as: UTF8.self) : ""
            }
            #expect(!rawAnswer.contains("token"))
            let plain = try await RawHTTP.exchange(
                port: port, writes: ["GET /get-token?roomId=a~b HTTP/1.1\r\nHost: localhost\r\n\r\n"], responses: 1)
            #expect(plain.first?.body.contains("token") == true)
        }
    }

    @Test("a client that pipelines while a validate waits for the store is read from later, not dropped")
    func pipelinedValidateWaits() async throws {
        try await Self.withServer { port, server in
            let token = try #require(try await server.call(.get, "/get-token").json["token"]?.stringValue)
            let room = try #require(try await server.createRoom(token).json["roomId"]?.stringValue)
            // A room not yet read through the fast path's cache: the first validate waits for the
            // store while 1,500 more (about 700 KB) arrive behind it.
            try await Task.sleep(for: .milliseconds(10))
            let request = "GET /v2/rooms/validate/\(room)-x HTTP/1.1\r\nHost: localhost\r\nAuthorization: \(token)\r\n\r\n"
            let count = 1500
            let answers = try await RawHTTP.exchange(port: port, writes: [String(repeating: request, count: count)], responses: count)
            #expect(answers.count == count)
            #expect(answers.allSatisfy { $0.statusLine.hasPrefix("HTTP/1.1 400") || $0.statusLine.hasPrefix("HTTP/1.1 404") })
        }
    }
}

extension RawHTTP.Connection {
    /// Whether the server has closed the stream (checked without waiting long).
    func readsEndOfStreamSoon() throws -> Bool {
        var timeout = timeval(tv_sec: 0, tv_usec: 1000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK)) == 0
    }
}
