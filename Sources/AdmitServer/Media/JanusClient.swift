import AdmitToken
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Admit's connection to Janus's API: its WebSocket API (`ws://`, subprotocol `janus-protocol`)
/// or its REST API (`http://.../janus`, each request a POST, events by long poll). One Janus
/// session for the whole server, kept alive every 25 s (Janus drops a session after 60 s of
/// silence); requests matched to their answers by transaction; events about handles handed
/// to `events`. When the connection drops it reconnects with a growing pause, and every new
/// Janus session bumps `generation`: handles and rooms of an older one are gone.
final class JanusClient: Sendable {
    enum State: String, Sendable {
        /// Never connected yet, or connecting again.
        case connecting
        case up
        case down
    }

    /// A refusal from Janus (`error`) or from its VideoRoom plugin (`error_code`).
    struct Failure: Error, Sendable, CustomStringConvertible {
        var code: Int
        var reason: String
        var description: String { "Janus \(code): \(reason)" }
        static let unavailable = Failure(code: 0, reason: "not connected to Janus")
        static let timedOut = Failure(code: 0, reason: "Janus did not answer in time")
    }

    /// Something Janus said about a handle on its own (`webrtcup`, `media`, `hangup`,
    /// `detached`, a plugin event), in the generation it belongs to.
    struct Event: Sendable {
        var generation: UInt64
        var handle: UInt64
        var body: JSONValue
    }

    let url: String
    /// Set for the REST API; nil for the WebSocket API.
    private let http: JanusHTTP.Endpoint?
    private let apiSecret: String?
    private let logger: Logger
    private let shared = Mutex(Shared())
    let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    /// Told of each new Janus session (its generation), after the first connect and every reconnect.
    private let sessions: AsyncStream<UInt64>.Continuation
    let newSessions: AsyncStream<UInt64>
    /// How long a request may wait for its answer.
    let requestTimeout: Duration
    /// REST requests to Janus in flight at most (each its own connection).
    static let maxPosts = 64

    private final class Counter: Sendable {
        let count = Mutex(0)
    }

    private struct Shared {
        var state: State = .connecting
        var session: UInt64?
        var generation: UInt64 = 0
        var outbound: AsyncStream<Outgoing>.Continuation?
        var pending: [String: Pending] = [:]
        var nextTransaction: UInt64 = 0
        /// `attach` requests that timed out: a late answer's handle is detached (bounded).
        var lateAttaches: Set<String> = []
        /// The session of the previous connection, destroyed once a new one exists.
        var previousSession: UInt64?
    }

    /// A request on its way: its text, and for the REST API where it goes.
    private struct Outgoing: Sendable {
        var text: String
        var transaction: String
        var session: UInt64?
        var handle: UInt64?
    }

    private struct Pending {
        var continuation: CheckedContinuation<JSONValue, any Error>
        /// Plugin requests answered asynchronously: an `ack` first, then the `event`.
        var waitsForEvent: Bool
    }

    init(url: String, apiSecret: String?, logger: Logger, requestTimeout: Duration = .seconds(10)) {
        self.url = url
        self.http = JanusHTTP.Endpoint(url)
        self.apiSecret = apiSecret
        self.logger = logger
        self.requestTimeout = requestTimeout
        (events, eventSink) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        (newSessions, sessions) = AsyncStream<UInt64>.makeStream(bufferingPolicy: .bufferingNewest(16))
    }

    var state: State { shared.withLock { $0.state } }
    var generation: UInt64 { shared.withLock { $0.generation } }

    // MARK: The connection

    /// Connects, and connects again whenever the connection drops, until cancelled.
    func run() async {
        var pause: Duration = .milliseconds(250)
        while !Task.isCancelled {
            let began = ContinuousClock.now
            await connectOnce()
            // Down first: a request failing now is answered as "no media server" (4090).
            shared.withLock {
                $0.state = .down
                if let session = $0.session { $0.previousSession = session }
                $0.session = nil
                $0.outbound = nil
            }
            fail(all: .unavailable)
            if Task.isCancelled { break }
            // A connection that lasted a while starts the pauses over.
            if ContinuousClock.now - began > .seconds(10) { pause = .milliseconds(250) }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(5))
        }
        eventSink.finish()
        sessions.finish()
    }

    private func connectOnce() async {
        if let http { return await connectREST(http) }
        var headers = HTTPFields()
        headers[.secWebSocketProtocol] = "janus-protocol"
        let (outboundStream, outbound) = AsyncStream<Outgoing>.makeStream()
        shared.withLock { $0.outbound = outbound }
        do {
            try await WebSocketClient.connect(
                url: url, configuration: .init(maxFrameSize: 1 << 20, additionalHeaders: headers), logger: logger
            ) { inbound, writer, _ in
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        for await outgoing in outboundStream { try await writer.write(.text(outgoing.text)) }
                    }
                    group.addTask {
                        for try await message in inbound.messages(maxSize: 1 << 20) {
                            if case .text(let text) = message { self.receive(text) }
                        }
                    }
                    group.addTask { try await self.hold() }
                    // Whichever ends first (the socket closed, the session failed) ends the connection.
                    _ = try await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            if state != .down { logger.warning("Janus connection failed", metadata: ["url": "\(url)", "error": "\(error)"]) }
        }
        outbound.finish()
    }

    /// The REST API: each request a POST to its session's or handle's path (the answer, or the
    /// `ack` of a plugin request, in the response), events by long poll on the session. A
    /// failed poll ends the connection as a closed WebSocket does.
    private func connectREST(_ endpoint: JanusHTTP.Endpoint) async {
        let (outboundStream, outbound) = AsyncStream<Outgoing>.makeStream()
        shared.withLock { $0.outbound = outbound }
        let timeout = requestTimeout
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    // Finished POSTs are discarded as they end; at most `maxPosts` run at once.
                    let inFlight = Counter()
                    await withDiscardingTaskGroup { posts in
                        for await outgoing in outboundStream {
                            var path = endpoint.base
                            if let session = outgoing.session { path += "/\(session)" }
                            if let session = outgoing.session, let handle = outgoing.handle { path = "\(endpoint.base)/\(session)/\(handle)" }
                            let admitted = inFlight.count.withLock { count -> Bool in
                                guard count < Self.maxPosts else { return false }
                                count += 1
                                return true
                            }
                            guard admitted else {
                                self.resolve(outgoing.transaction, with: .failure(Failure(code: 0, reason: "too many requests to Janus at once")))
                                continue
                            }
                            posts.addTask {
                                defer { inFlight.count.withLock { $0 -= 1 } }
                                do {
                                    self.receive(try await JanusHTTP.exchange(endpoint, path: path, body: outgoing.text, timeout: timeout))
                                } catch {
                                    self.resolve(outgoing.transaction, with: .failure(Failure(code: 0, reason: "\(error)")))
                                }
                            }
                        }
                    }
                }
                group.addTask { try await self.hold() }
                group.addTask {
                    // Events: a long poll on the session, once it exists (Janus answers within 30 s).
                    while self.shared.withLock({ $0.session }) == nil { try await Task.sleep(for: .milliseconds(20)) }
                    guard let session = self.shared.withLock({ $0.session }) else { return }
                    var query = "?maxev=16"
                    if let secret = self.apiSecret {
                        query += "&apisecret=" + (secret.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")
                    }
                    while !Task.isCancelled {
                        let text = try await JanusHTTP.exchange(
                            endpoint, path: "\(endpoint.base)/\(session)\(query)", body: nil, timeout: .seconds(45))
                        // Not Janus's JSON: the connection counts as failed (retried with pauses), never spun on.
                        guard let batch = try? JSONValue(parsing: text) else {
                            throw Failure(code: 0, reason: "Janus's long poll answered something other than JSON")
                        }
                        if case .array(let events) = batch {
                            for event in events { self.receive(event.jsonText) }
                        } else {
                            self.receive(text)
                        }
                        if self.shared.withLock({ $0.session }) != session { return }
                    }
                }
                _ = try await group.next()
                group.cancelAll()
            }
        } catch {
            if state != .down { logger.warning("Janus connection failed", metadata: ["url": "\(url)", "error": "\(error)"]) }
        }
        outbound.finish()
    }

    /// Creates the Janus session, says so, then keeps it alive.
    private func hold() async throws {
        let created = try await send(["janus": .string("create")], session: false)
        guard let session = created["data"]?["id"].flatMap(Self.uint64) else { throw Failure(code: 0, reason: "Janus created no session") }
        let (generation, previous) = shared.withLock { shared -> (UInt64, UInt64?) in
            shared.session = session
            shared.generation += 1
            shared.state = .up
            defer { shared.previousSession = nil }
            return (shared.generation, shared.previousSession)
        }
        if let previous {
            // If Janus ran on while the connection dropped, its handles (media included) would
            // live until its session timeout: end them now. An error just means it is gone.
            _ = try? await send(["janus": .string("destroy"), "session_id": .number(String(previous))], session: false)
        }
        logger.info("Janus session ready", metadata: ["url": "\(url)", "generation": "\(generation)"])
        sessions.yield(generation)
        while !Task.isCancelled {
            try await Task.sleep(for: .seconds(25))
            _ = try await send(["janus": .string("keepalive")])
        }
    }

    // MARK: Requests

    /// Sends a request of the Janus API; `members` without transaction, session or secret.
    /// Returns the answer (`success`, the plugin's `event`, or `ack` for a trickle or keepalive).
    @discardableResult
    func send(_ members: KeyValuePairs<String, JSONValue>, session withSession: Bool = true, waitsForEvent: Bool = false) async throws -> JSONValue {
        try await send(members.map { JSONMember($0.key, $0.value) }, session: withSession, waitsForEvent: waitsForEvent)
    }

    func send(_ members: [JSONMember], session withSession: Bool = true, waitsForEvent: Bool = false) async throws -> JSONValue {
        let (transaction, outbound, session) = shared.withLock { shared -> (String, AsyncStream<Outgoing>.Continuation?, UInt64?) in
            shared.nextTransaction += 1
            return ("t\(shared.nextTransaction)", shared.outbound, shared.session)
        }
        guard let outbound, !withSession || session != nil else { throw Failure.unavailable }
        let handle = members.first { $0.key == "handle_id" }?.value
        let named = members.first { $0.key == "session_id" }.flatMap { Self.uint64($0.value) }
        let outgoing = { (text: String) in
            Outgoing(text: text, transaction: transaction, session: withSession ? session : named, handle: handle.flatMap(Self.uint64))
        }
        var body = members + [JSONMember("transaction", .string(transaction))]
        if withSession, let session { body.append(JSONMember("session_id", .number(String(session)))) }
        if let apiSecret { body.append(JSONMember("apisecret", .string(apiSecret))) }
        let text = JSONValue.object(body).jsonText
        let timeout = requestTimeout
        let attaching = members.contains { $0.key == "janus" && $0.value == .string("attach") }
        let timer = Task {
            try await Task.sleep(for: timeout)
            if attaching {
                self.shared.withLock { shared in
                    if shared.pending[transaction] != nil, shared.lateAttaches.count < 1024 { shared.lateAttaches.insert(transaction) }
                }
            }
            self.resolve(transaction, with: .failure(Failure.timedOut))
        }
        defer { timer.cancel() }
        return try await withCheckedThrowingContinuation { continuation in
            shared.withLock { $0.pending[transaction] = Pending(continuation: continuation, waitsForEvent: waitsForEvent) }
            if case .terminated = outbound.yield(outgoing(text)) { resolve(transaction, with: .failure(Failure.unavailable)) }
        }
    }

    /// A plugin request on `handle`: the plugin's `data` (a plugin `error_code` thrown), and the JSEP that came with it.
    func message(_ handle: UInt64, _ body: JSONValue, jsep: JSONValue? = nil, async: Bool = false) async throws -> (data: JSONValue, jsep: JSONValue?)
    {
        var members = [JSONMember("janus", .string("message")), JSONMember("handle_id", .number(String(handle))), JSONMember("body", body)]
        if let jsep { members.append(JSONMember("jsep", jsep)) }
        let answer = try await send(members, waitsForEvent: async)
        let data = answer["plugindata"]?["data"] ?? .null
        if let code = data["error_code"]?.integerValue {
            throw Failure(code: code, reason: data["error"]?.stringValue ?? "VideoRoom error")
        }
        return (data, answer["jsep"])
    }

    /// Attaches a VideoRoom handle.
    func attach() async throws -> UInt64 {
        let answer = try await send(["janus": .string("attach"), "plugin": .string("janus.plugin.videoroom")])
        guard let handle = answer["data"]?["id"].flatMap(Self.uint64) else { throw Failure(code: 0, reason: "Janus attached no handle") }
        return handle
    }

    /// Detaches a handle (its PeerConnection closes); a handle already gone is not an error.
    func detach(_ handle: UInt64) async {
        _ = try? await send(["janus": .string("detach"), "handle_id": .number(String(handle))])
    }

    /// An ICE candidate for a handle's PeerConnection; nil: no more candidates.
    func trickle(_ handle: UInt64, candidate: JSONValue?) async throws {
        try await send([
            "janus": .string("trickle"), "handle_id": .number(String(handle)),
            "candidate": candidate ?? .object([JSONMember("completed", .bool(true))]),
        ])
    }

    // MARK: Answers and events

    private func receive(_ text: String) {
        guard let message = try? JSONValue(parsing: text), let kind = message["janus"]?.stringValue else { return }
        if let transaction = message["transaction"]?.stringValue {
            let waiting = shared.withLock { $0.pending[transaction]?.waitsForEvent }
            switch (kind, waiting) {
            case ("ack", true?):
                return  // the plugin's event follows
            case ("error", _?):
                let code = message["error"]?["code"]?.integerValue ?? 0
                resolve(transaction, with: .failure(Failure(code: code, reason: message["error"]?["reason"]?.stringValue ?? "error")))
                return
            case (_, _?):
                resolve(transaction, with: .success(message))
                return
            default:
                let late = shared.withLock { $0.lateAttaches.remove(transaction) != nil }
                if late, kind == "success", let handle = message["data"]?["id"].flatMap(Self.uint64) {
                    // An attach answered after Admit gave up on it: nobody holds the handle.
                    Task { await self.detach(handle) }
                    return
                }
            // not ours (or timed out): an event like any other
            }
        }
        if kind == "timeout" {
            // Janus dropped the session: the next connection makes a new one.
            logger.warning("Janus session timed out")
            shared.withLock { $0.outbound?.finish() }
            return
        }
        guard let handle = message["sender"].flatMap(Self.uint64) else { return }
        eventSink.yield(Event(generation: generation, handle: handle, body: message))
    }

    private func resolve(_ transaction: String, with result: Result<JSONValue, any Error>) {
        guard let pending = shared.withLock({ $0.pending.removeValue(forKey: transaction) }) else { return }
        pending.continuation.resume(with: result)
    }

    private func fail(all failure: Failure) {
        let waiting = shared.withLock { shared -> [Pending] in
            defer { shared.pending = [:] }
            return Array(shared.pending.values)
        }
        for pending in waiting { pending.continuation.resume(throwing: failure) }
    }

    /// Janus's ids are unsigned 64-bit numbers.
    static func uint64(_ value: JSONValue) -> UInt64? {
        guard case .number(let text) = value else { return nil }
        return UInt64(text)
    }
}
