import AdmitServer
import AdmitToken
import Dispatch
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// One HTTP/1.1 response as it came off the wire.
struct WireResponse: Equatable {
    var statusLine: String
    /// Header lines in order, `Date` left out (it changes by the second).
    var headers: [String]
    var body: String

    func header(_ name: String) -> String? {
        headers.first { $0.lowercased().hasPrefix(name.lowercased() + ":") }.map {
            String($0.drop { $0 != ":" }.dropFirst()).trimmingCharacters(in: .whitespaces)
        }
    }
}

/// A raw TCP client: writes bytes exactly as given (in one or several writes) and reads
/// `count` responses, each delimited by its `Content-Length`.
enum RawHTTP {
    /// With `closeAllowed`, a connection the server closes, or leaves silent for a second,
    /// ends the list instead of failing.
    static func exchange(port: Int, writes: [String], responses count: Int, closeAllowed: Bool = false) async throws -> [WireResponse] {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try blockingExchange(port: port, writes: writes, responses: count, closeAllowed: closeAllowed) })
            }
        }
    }

    /// A connection kept open between exchanges.
    final class Connection: Sendable {
        let fd: Int32

        init(port: Int) throws {
            fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var timeout = timeval(tv_sec: 2, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = in_port_t(UInt16(port).bigEndian)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard connected == 0 else { throw Failure(description: "connect") }
        }

        deinit { close(fd) }

        func exchange(_ text: String, responses count: Int) async throws -> [WireResponse] {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    continuation.resume(with: Result { try RawHTTP.run(self.fd, writes: [text], responses: count, closeAllowed: false) })
                }
            }
        }

        /// Whether the next read finds the stream closed (rather than data or a timeout).
        func readsEndOfStream() throws -> Bool {
            var byte: UInt8 = 0
            return recv(fd, &byte, 1, 0) == 0
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    private static func blockingExchange(port: Int, writes: [String], responses count: Int, closeAllowed: Bool) throws -> [WireResponse] {
        let connection = try Connection(port: port)
        var timeout = timeval(tv_sec: closeAllowed ? 1 : 5, tv_usec: 0)
        setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return try run(connection.fd, writes: writes, responses: count, closeAllowed: closeAllowed)
    }

    static func run(_ fd: Int32, writes: [String], responses count: Int, closeAllowed: Bool) throws -> [WireResponse] {
        for (index, text) in writes.enumerated() {
            if index > 0 { usleep(50_000) }  // so the server reads the parts separately
            let bytes = Array(text.utf8)
            guard send(fd, bytes, bytes.count, 0) == bytes.count else { throw Failure(description: "send") }
        }
        var received: [UInt8] = []
        var responses: [WireResponse] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while responses.count < count {
            if let (response, length) = parse(received) {
                responses.append(response)
                received.removeFirst(length)
                continue
            }
            let read = recv(fd, &buffer, buffer.count, 0)
            if read <= 0, closeAllowed { break }
            guard read > 0 else {
                throw Failure(description: "connection ended after \(responses.count) responses: \(String(decoding: received, as: UTF8.self))")
            }
            received += buffer[..<read]
        }
        return responses
    }

    /// The first complete response in `bytes` and its length.
    private static func parse(_ bytes: [UInt8]) -> (WireResponse, Int)? {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let headEnd = text.range(of: "\r\n\r\n") else { return nil }
        let lines = text[..<headEnd.lowerBound].components(separatedBy: "\r\n")
        let headers = Array(lines.dropFirst())
        let length =
            headers.first { $0.lowercased().hasPrefix("content-length:") }.flatMap {
                Int($0.drop { $0 != ":" }.dropFirst().trimmingCharacters(in: .whitespaces))
            } ?? 0
        let headBytes = text[..<headEnd.upperBound].utf8.count
        guard bytes.count >= headBytes + length else { return nil }
        let body = String(decoding: bytes[headBytes..<headBytes + length], as: UTF8.self)
        let kept = headers.filter { !$0.lowercased().hasPrefix("date:") }
        return (WireResponse(statusLine: lines[0], headers: kept, body: body), headBytes + length)
    }
}

/// `/get-token` and validate answered at the front of the pipeline (FastPath) must be the
/// router's answers byte for byte (but the date), and everything the fast path does not
/// answer must reach the router. Serialized: live servers started in parallel in one process
/// made first connections wait on each other here.
@Suite("fast path", .serialized, .timeLimit(.minutes(1)))
struct FastPathTests {
    /// A request the fast path answers, and the same request made to go through the router
    /// (a `Connection: keep-alive` header sends it there).
    static func pair(_ target: String, authorization: String? = nil) -> (fast: String, routed: String) {
        let extra = authorization.map { "Authorization: \($0)\r\n" } ?? ""
        return (
            "GET \(target) HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\(extra)\r\n",
            "GET \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\(extra)\r\n"
        )
    }

    /// Both answers, fast first; asked again (up to three times) while a second boundary fell
    /// between them (the token's `iat`, the `Date` header), which a loaded run makes likelier.
    static func both(port: Int, _ pair: (fast: String, routed: String)) async throws -> [WireResponse] {
        var answers = try await RawHTTP.exchange(port: port, writes: [pair.fast + pair.routed], responses: 2)
        for _ in 0..<3 where answers[0] != answers[1] {
            answers = try await RawHTTP.exchange(port: port, writes: [pair.fast + pair.routed], responses: 2)
        }
        return answers
    }

    static func withDevServer(
        _ change: @escaping (inout AppConfiguration) -> Void = { _ in },
        _ body: @escaping @Sendable (Int, Harness, String) async throws -> Void
    ) async throws {
        let announced = Announcements()
        try await withServer(
            testConfiguration(dev: true) {
                $0.announce = { announced.add($0) }
                change(&$0)
            }, mode: .live
        ) { server in
            let port = try #require(server.client.port)
            try await body(port, server, try #require(announced.value(after: "Dev API secret: ")))
        }
    }

    @Test(
        "answers match the router's: plain, scoped, and a malformed peerId",
        arguments: [
            "/get-token", "/get-token?roomId=abcd-efgh-ijkl&peerId=p1", "/get-token?peerId=a%20b", "/get-token?roomId=",
            // Form-encoded: `+` is a space, so this peerId has whitespace (4004) on both paths.
            "/get-token?peerId=a+b", "/get-token?roomId=Daily+Standup&peerId=p%2B1",
        ])
    func sameAnswers(_ target: String) async throws {
        try await Self.withDevServer { port, _, secret in
            let answers = try await Self.both(port: port, Self.pair(target))
            #expect(answers[0] == answers[1])
            #expect(answers[0].header("Server") == "Admit")
            #expect(answers[0].header("Content-Type") == "application/json; charset=utf-8")
            if answers[0].statusLine == "HTTP/1.1 200 OK" {
                let token = try #require(try JSONValue(parsing: answers[0].body)["token"]?.stringValue)
                let claims = try Verifier(keys: SingleSecret(Secret(secret)!)).verify(token)
                if target.contains("Daily") {
                    #expect(claims.roomId == "Daily Standup")
                    #expect(claims.participantId == "p+1")
                }
            } else {
                #expect(answers[0].statusLine == "HTTP/1.1 400 Bad Request")
                #expect(try JSONValue(parsing: answers[0].body)["code"] == .number("4004"))
            }
        }
    }

    @Test("pipelined requests are answered in order, fast ones before and after a routed one")
    func pipelined() async throws {
        try await Self.withDevServer { port, _, _ in
            let fast = Self.pair("/get-token").fast
            let health = "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"
            let answers = try await RawHTTP.exchange(port: port, writes: [fast + fast + health + fast], responses: 4)
            #expect(answers.map(\.statusLine) == Array(repeating: "HTTP/1.1 200 OK", count: 4))
            #expect(answers[0].body.hasPrefix(#"{"token":""#))
            #expect(answers[1].body.hasPrefix(#"{"token":""#))
            #expect(!answers[2].body.contains("token"))
            #expect(answers[3].body.hasPrefix(#"{"token":""#))
        }
    }

    @Test("a request split across reads, and requests the fast path does not take, reach the router")
    func routed() async throws {
        try await Self.withDevServer { port, _, _ in
            // Split in the middle of the head.
            let split = try await RawHTTP.exchange(port: port, writes: ["GET /get-token HTTP/1.1\r\nHo", "st: localhost\r\n\r\n"], responses: 1)
            #expect(split[0].statusLine == "HTTP/1.1 200 OK")
            // An Origin makes it a CORS request: the router names the origin.
            let cors = try await RawHTTP.exchange(
                port: port, writes: ["GET /get-token HTTP/1.1\r\nHost: localhost\r\nOrigin: https://app.example\r\n\r\n"], responses: 1)
            #expect(cors[0].header("Access-Control-Allow-Origin") == "https://app.example")
            // A malformed header line is the codec's to refuse, never answered with a token (the
            // codec, as configured by Hummingbird, answers nothing and leaves the connection open).
            let malformed = try await RawHTTP.exchange(
                port: port, writes: ["GET /get-token HTTP/1.1\r\nBad Header\r\n\r\n"], responses: 1, closeAllowed: true)
            #expect(malformed.allSatisfy { !$0.statusLine.hasPrefix("HTTP/1.1 200") })
            // Other paths that start the same way.
            let other = try await RawHTTP.exchange(port: port, writes: ["GET /get-tokens HTTP/1.1\r\nHost: localhost\r\n\r\n"], responses: 1)
            #expect(other[0].statusLine == "HTTP/1.1 404 Not Found")
            // HTTP/1.0 goes to the router, which answers it too.
            let old = try await RawHTTP.exchange(port: port, writes: ["GET /get-token HTTP/1.0\r\nHost: localhost\r\n\r\n"], responses: 1)
            #expect(old[0].body.hasPrefix(#"{"token":""#))
        }
    }

    @Test("validate answers match the router's, found in memory or in the store")
    func validateAnswers() async throws {
        try await Self.withDevServer({ $0.refreshInterval = .milliseconds(200) }) { port, server, secret in
            let key = (apiKey: try #require(try await server.call(.get, "/get-token").json["token"]?.stringValue).claimsAPIKey, secret: secret)
            let token = AdmitServerTests.token(key, roles: .crawler)
            let room = try #require(try await server.createRoom(token, #"{"customRoomId":"team_42"}"#).json["roomId"]?.stringValue)
            let disabled = try #require(try await server.createRoom(token).json["roomId"]?.stringValue)
            #expect(try await server.deactivateRoom(token, disabled).status == 200)
            let expired = AdmitServerTests.token(key, now: Date().timeIntervalSince1970 - 7200, roles: .crawler)
            let cases: [(target: String, authorization: String?, status: String, code: String?)] = [
                ("/v2/rooms/validate/\(room)", token, "200 OK", nil),
                ("/v2/rooms/validate/team_42", "Bearer \(token)", "200 OK", nil),
                ("/v2/rooms/validate/\(room)", "bearer   \(token)\t ", "200 OK", nil),
                ("/v2/rooms/validate/\(room)", "\tBEARER \(token)", "200 OK", nil),
                ("/v2/rooms/validate/\(room)", "Bearer", "401 Unauthorized", "4002"),
                ("/v2/rooms/validate/\(room)", "Bearerx\(token)", "401 Unauthorized", "4002"),
                ("/v2/rooms/validate/nope-nope-nope", token, "400 Bad Request", "4003"),
                ("/v2/rooms/validate/\(disabled)", token, "400 Bad Request", "4052"),
                ("/v2/rooms/validate/\(room)", nil, "401 Unauthorized", "4002"),
                ("/v2/rooms/validate/\(room)", expired, "401 Unauthorized", "4002"),
                ("/v2/rooms/validate/\(room)", AdmitServerTests.token(key, roles: .rtc), "403 Forbidden", "4024"),
                ("/v2/rooms/validate/\(room)", AdmitServerTests.token(key, roomId: "zzzz-zzzz-zzzz", roles: .crawler), "403 Forbidden", "4022"),
            ]
            for (target, authorization, status, code) in cases {
                // Once with the room in memory, once after the cache expired (the store answers).
                for _ in 0..<2 {
                    let answers = try await Self.both(port: port, Self.pair(target, authorization: authorization))
                    #expect(answers[0] == answers[1], "\(target)")
                    #expect(answers[0].statusLine == "HTTP/1.1 \(status)", "\(target)")
                    if let code { #expect(try JSONValue(parsing: answers[0].body)["code"] == .number(code), "\(target)") }
                    try await Task.sleep(for: .milliseconds(250))
                }
            }
            // A validate that waits for the store keeps the answers after it in order.
            try await Task.sleep(for: .milliseconds(250))
            let validate = Self.pair("/v2/rooms/validate/\(room)", authorization: token).fast
            let ordered = try await RawHTTP.exchange(
                port: port, writes: [validate + Self.pair("/get-token").fast + validate + "GET /health HTTP/1.1\r\nHost: x\r\n\r\n"], responses: 4)
            #expect(ordered[0].body.contains("\"roomId\":\"\(room)\""))
            #expect(ordered[1].body.hasPrefix(#"{"token":""#))
            #expect(ordered[2].body.contains("\"roomId\":\"\(room)\""))
            #expect(ordered[3].statusLine == "HTTP/1.1 200 OK" && !ordered[3].body.contains("roomId"))
            let metrics = try await server.call(.get, "/metrics").text
            #expect(metrics.contains(#"admit_http_requests_total{method="GET",route="/v2/rooms/validate/{roomId}",status="200"}"#))
            // A client that leaves while its validate waits for the store: the late reply goes nowhere, the server carries on.
            try await Task.sleep(for: .milliseconds(250))
            _ = try await RawHTTP.exchange(port: port, writes: [validate + validate], responses: 0)
            try await Task.sleep(for: .milliseconds(100))
            let after = try await RawHTTP.exchange(port: port, writes: [validate], responses: 1)
            #expect(after[0].statusLine == "HTTP/1.1 200 OK")
        }
    }

    @Test("a client that pipelines thousands of requests before reading gets every answer, in order")
    func backpressure() async throws {
        try await Self.withDevServer { port, _, _ in
            // About 370 KB of requests and 1.3 MB of answers: far past the write buffer's high
            // watermark, so the fast path stops reading until the client reads.
            let count = 5000
            var requests = ""
            for index in 0..<count { requests += Self.pair("/get-token?roomId=room-\(index)").fast }
            let answers = try await RawHTTP.exchange(port: port, writes: [requests], responses: count)
            #expect(answers.count == count)
            #expect(answers.allSatisfy { $0.statusLine == "HTTP/1.1 200 OK" })
            // In order: each token is for its request's room.
            for index in [0, 1, 2499, 4999] {
                let token = try #require(try JSONValue(parsing: answers[index].body)["token"]?.stringValue)
                let claims = try #require(Explanation(token: token).json["claims"])
                #expect(claims["roomId"] == .string("room-\(index)"))
            }
        }
    }

    @Test("a graceful shutdown closes connections the fast path holds, without waiting for the client")
    func shutdown() async throws {
        let started = ContinuousClock.now
        let socket = try await withServer(testConfiguration(dev: true), mode: .live) { server in
            let socket = try RawHTTP.Connection(port: try #require(server.client.port))
            let answers = try await socket.exchange(Self.pair("/get-token").fast, responses: 1)
            #expect(answers[0].statusLine == "HTTP/1.1 200 OK")
            return socket
        }
        // The server has stopped: the connection was closed by it, not left for the client.
        #expect(try socket.readsEndOfStream())
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test("the rate limit, the metrics and an endpoint that is off hold on the fast path")
    func limitsAndMetrics() async throws {
        try await Self.withDevServer({ $0.devTokenRatePerMinute = 2 }) { port, server, _ in
            let fast = Self.pair("/get-token").fast
            let answers = try await RawHTTP.exchange(port: port, writes: [fast + fast + fast], responses: 3)
            #expect(answers.map(\.statusLine) == ["HTTP/1.1 200 OK", "HTTP/1.1 200 OK", "HTTP/1.1 429 Too Many Requests"])
            let metrics = try await server.call(.get, "/metrics").text
            #expect(metrics.contains(#"admit_http_requests_total{method="GET",route="/get-token",status="200"} 2"#))
            #expect(metrics.contains(#"admit_http_requests_total{method="GET",route="/get-token",status="429"} 1"#))
        }
        try await withServer(testConfiguration(), mode: .live) { server in
            let port = try #require(server.client.port)
            let answers = try await RawHTTP.exchange(port: port, writes: [Self.pair("/get-token").fast], responses: 1)
            #expect(answers[0].statusLine == "HTTP/1.1 404 Not Found")
            #expect(answers[0].body.contains("/get-token is off"))
        }
    }
}

extension String {
    /// The `apikey` claim of a token, read without checking it.
    fileprivate var claimsAPIKey: String {
        let payload = split(separator: ".")[1]
        var text = payload.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        let json = Data(base64Encoded: text).flatMap { try? JSONValue(parsing: String(decoding: $0, as: UTF8.self)) }
        return json?["apikey"]?.stringValue ?? ""
    }
}
