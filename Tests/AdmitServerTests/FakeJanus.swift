import AdmitCore
import AdmitToken
import Foundation
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Testing

/// A scripted stand-in for Janus's WebSocket API, for what a real Janus will not do on demand:
/// send an event about a handle Admit never made, report a PeerConnection up without real
/// media, or answer one room slowly. It speaks the same JSON (transactions, `ack` then `event`
/// for plugin requests) and records every request. The real Janus is in MediaTests and
/// Tests/media.
final class FakeJanus: Sendable {
    struct State {
        var requests: [JSONValue] = []
        var nextId: UInt64 = 1000
        var writers: [UUID: AsyncStream<String>.Continuation] = [:]
        /// VideoRoom requests to hold for a while before answering, by Janus room id.
        var slowRooms: Set<UInt64> = []
        /// VideoRoom `create` requests answered only after this long.
        var slowCreates: Duration = .zero
    }

    let state = Mutex(State())
    let url: String
    private let stop: @Sendable () async -> Void

    private init(url: String, stop: @escaping @Sendable () async -> Void) {
        self.url = url
        self.stop = stop
    }

    /// Runs a fake Janus for the length of `body`.
    static func with(_ body: @Sendable (FakeJanus) async throws -> Void) async throws {
        let router = Router(context: BasicWebSocketRequestContext.self)
        let (ports, port) = AsyncStream<Int>.makeStream()
        let holder = Mutex<FakeJanus?>(nil)
        router.ws("/") { inbound, outbound, _ in
            guard let janus = holder.withLock({ $0 }) else { return }
            let id = UUID()
            let (texts, sink) = AsyncStream<String>.makeStream()
            janus.state.withLock { $0.writers[id] = sink }
            defer { _ = janus.state.withLock { $0.writers.removeValue(forKey: id) } }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await text in texts { try await outbound.write(.text(text)) }
                }
                // Each request answered on its own (a slow room holds up only its own requests).
                for try await message in inbound.messages(maxSize: 1 << 20) {
                    guard case .text(let text) = message, let request = try? JSONValue(parsing: text) else { continue }
                    janus.state.withLock { $0.requests.append(request) }
                    group.addTask {
                        for answer in await janus.answer(request) { sink.yield(answer.jsonText) }
                    }
                }
                sink.finish()
                group.cancelAll()
            }
        }
        var logger = Logger(label: "fake-janus")
        logger.logLevel = .error
        let app = Application(
            router: Router(), server: .http1WebSocketUpgrade(webSocketRouter: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in port.yield(channel.localAddress?.port ?? 0) }, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var iterator = ports.makeAsyncIterator()
            let bound = try #require(await iterator.next())
            let janus = FakeJanus(url: "ws://127.0.0.1:\(bound)/") { await group.triggerGracefulShutdown() }
            holder.withLock { $0 = janus }
            do {
                try await body(janus)
            } catch {
                await janus.stop()
                throw error
            }
            await janus.stop()
            try await tasks.waitForAll()
        }
    }

    /// Sends an event to every connection, as Janus does on its own.
    func push(_ event: JSONValue) async {
        for writer in state.withLock({ Array($0.writers.values) }) { writer.yield(event.jsonText) }
    }

    /// The VideoRoom requests seen, in order (`request` of each message's body).
    func plugin(_ name: String) -> [JSONValue] {
        state.withLock { $0.requests }.compactMap { $0["body"] }.filter { $0["request"]?.stringValue == name }
    }

    /// Requests of one kind (`attach`, `detach`, ...).
    func requests(_ kind: String) -> [JSONValue] {
        state.withLock { $0.requests }.filter { $0["janus"]?.stringValue == kind }
    }

    /// The Janus room id Admit created for `roomId`.
    func janusRoom(of roomId: String) -> UInt64? {
        plugin("create").first { $0["description"]?.stringValue == roomId }?["room"].flatMap { UInt64($0.jsonText) }
    }

    private func next() -> UInt64 {
        state.withLock {
            $0.nextId += 1
            return $0.nextId
        }
    }

    private func answer(_ request: JSONValue) async -> [JSONValue] {
        let transaction = request["transaction"] ?? .null
        func reply(_ kind: String, _ more: [JSONMember] = []) -> JSONValue {
            .object([JSONMember("janus", .string(kind)), JSONMember("transaction", transaction)] + more)
        }
        switch request["janus"]?.stringValue {
        case "create", "attach":
            return [reply("success", [JSONMember("data", .object([JSONMember("id", .number(String(next())))]))])]
        case "message":
            let body = request["body"] ?? .null
            let handle = request["handle_id"] ?? .null
            if let room = body["room"].flatMap({ UInt64($0.jsonText) }), state.withLock({ $0.slowRooms.contains(room) }) {
                try? await Task.sleep(for: .seconds(2))
            }
            if body["request"]?.stringValue == "create" { try? await Task.sleep(for: state.withLock { $0.slowCreates }) }
            func event(_ data: [JSONMember], jsep: JSONValue? = nil) -> [JSONValue] {
                var members = [
                    JSONMember("sender", handle),
                    JSONMember(
                        "plugindata", .object([JSONMember("plugin", .string("janus.plugin.videoroom")), JSONMember("data", .object(data))])),
                ]
                if let jsep { members.append(JSONMember("jsep", jsep)) }
                return [reply("ack"), reply("event", members)]
            }
            func description(_ type: String, _ direction: String) -> JSONValue {
                let sdp =
                    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\na=\(direction)\r\n"
                    + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\na=\(direction)\r\n"
                return .object([JSONMember("type", .string(type)), JSONMember("sdp", .string(sdp))])
            }
            switch body["request"]?.stringValue {
            case "join" where body["ptype"]?.stringValue == "subscriber":
                return event([JSONMember("videoroom", .string("attached"))], jsep: description("offer", "sendonly"))
            case "join":
                return event([JSONMember("videoroom", .string("joined"))])
            case "publish", "configure":
                let streams: JSONValue = .array([
                    .object([JSONMember("type", .string("audio")), JSONMember("mid", .string("0"))]),
                    .object([JSONMember("type", .string("video")), JSONMember("mid", .string("1"))]),
                ])
                return event(
                    [JSONMember("videoroom", .string("event")), JSONMember("configured", .string("ok")), JSONMember("streams", streams)],
                    jsep: description("answer", "recvonly"))
            case "start", "unpublish":
                return event([JSONMember("videoroom", .string("event"))])
            default:  // create, destroy, kick, moderate: answered at once
                return [
                    reply(
                        "success",
                        [
                            JSONMember("sender", handle),
                            JSONMember(
                                "plugindata",
                                .object([
                                    JSONMember("plugin", .string("janus.plugin.videoroom")),
                                    JSONMember("data", .object([JSONMember("videoroom", .string("success"))])),
                                ])),
                        ])
                ]
            }
        case "trickle", "keepalive":
            return [reply("ack")]
        default:
            return [reply("success")]
        }
    }
}
