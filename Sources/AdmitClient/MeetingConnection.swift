public import AdmitToken
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import Synchronization

/// A live meeting connection: server events as an `AsyncSequence`, and one method per
/// request of the contract, each returning when the server answers.
public final class MeetingConnection: Sendable {
    /// A server event: its name (`meeting-joined`, `participant-left`, ...) and its JSON object.
    public struct Event: Sendable, CustomStringConvertible {
        public let name: String
        public let body: JSONValue
        public var participantId: String? { body["participantId"]?.stringValue }
        /// `reason.code` of `meeting-left` and `participant-left`.
        public var reasonCode: Int? { body["reason"]?["code"]?.doubleValue.flatMap { Int(exactly: $0) } }
        public var description: String { body.jsonText }
    }

    /// A request the server refused: the contract's `{code, name, message}`.
    public struct RequestFailed: Error, Sendable, Equatable {
        public let code: Int
        public let name: String
        public init(code: Int, name: String) {
            self.code = code
            self.name = name
        }
    }

    /// Events in arrival order; ends when the connection closes.
    public let events: AsyncStream<Event>
    private let eventSink: AsyncStream<Event>.Continuation
    private let outbound: AsyncStream<String>.Continuation
    private let outboundStream: AsyncStream<String>
    private let pending = Mutex<[Int: CheckedContinuation<JSONValue, Never>]>([:])
    private let nextId = Mutex(0)
    private let finished = Mutex(false)

    private init() {
        (events, eventSink) = AsyncStream<Event>.makeStream()
        (outboundStream, outbound) = AsyncStream<String>.makeStream()
    }

    static func open(url: String, token: String) -> MeetingConnection {
        let connection = MeetingConnection()
        Task { await connection.run(url: url, token: token) }
        return connection
    }

    private func run(url: String, token: String) async {
        var headers = HTTPFields()
        headers[.authorization] = token
        _ = try? await WebSocketClient.connect(
            url: url, configuration: .init(additionalHeaders: headers), logger: Logger(label: "AdmitClient")
        ) { inbound, outbound, _ in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await text in self.outboundStream { try await outbound.write(.text(text)) }
                }
                group.addTask {
                    for try await message in inbound.messages(maxSize: 1 << 20) {
                        if case .text(let text) = message { self.receive(text) }
                    }
                }
                try await group.next()
                group.cancelAll()
            }
        }
        finish()
    }

    private func receive(_ text: String) {
        guard let json = try? JSONValue(parsing: text) else { return }
        if let id = json["id"]?.doubleValue.flatMap({ Int(exactly: $0) }), let waiter = pending.withLock({ $0.removeValue(forKey: id) }) {
            waiter.resume(returning: json)
        } else if let name = json["event"]?.stringValue {
            eventSink.yield(Event(name: name, body: json))
        }
    }

    private func finish() {
        guard
            finished.withLock({
                let was = $0; $0 = true; return !was
            })
        else { return }
        eventSink.finish()
        outbound.finish()
        for waiter in pending.withLock({ pending in
            defer { pending = [:] }; return Array(pending.values)
        }) {
            waiter.resume(
                returning: .object([
                    JSONMember("ok", .bool(false)),
                    JSONMember("error", .object([JSONMember("code", .number("1001")), JSONMember("name", .string("WEBSOCKET_DISCONNECTED"))])),
                ]))
        }
    }

    /// Closes the connection without a `leave` (the server sees 1001).
    public func close() {
        outbound.finish()
    }

    /// Sends `method` with `fields` and waits for the answer; throws `RequestFailed` when refused.
    @discardableResult
    public func send(_ method: String, _ fields: [JSONMember] = []) async throws -> JSONValue {
        let id = nextId.withLock {
            $0 += 1; return $0
        }
        let text = JSONValue.object([JSONMember("id", .number(String(id))), JSONMember("method", .string(method))] + fields).jsonText
        let reply = await withCheckedContinuation { (waiter: CheckedContinuation<JSONValue, Never>) in
            if finished.withLock({ $0 }) {
                waiter.resume(
                    returning: .object([
                        JSONMember("ok", .bool(false)),
                        JSONMember("error", .object([JSONMember("code", .number("1001")), JSONMember("name", .string("WEBSOCKET_DISCONNECTED"))])),
                    ]))
                return
            }
            pending.withLock { $0[id] = waiter }
            outbound.yield(text)
        }
        guard reply["ok"] == .bool(true) else {
            throw RequestFailed(
                code: reply["error"]?["code"]?.doubleValue.flatMap { Int(exactly: $0) } ?? 0, name: reply["error"]?["name"]?.stringValue ?? "")
        }
        return reply
    }

    // The contract's methods.
    public func respondEntry(participantId: String, allowed: Bool) async throws {
        try await send(
            "respondEntry", [JSONMember("participantId", .string(participantId)), JSONMember("decision", .string(allowed ? "allowed" : "denied"))])
    }
    public func enableMic(participantId: String) async throws { try await send("enableMic", [JSONMember("participantId", .string(participantId))]) }
    public func disableMic(participantId: String) async throws { try await send("disableMic", [JSONMember("participantId", .string(participantId))]) }
    public func enableWebcam(participantId: String) async throws {
        try await send("enableWebcam", [JSONMember("participantId", .string(participantId))])
    }
    public func disableWebcam(participantId: String) async throws {
        try await send("disableWebcam", [JSONMember("participantId", .string(participantId))])
    }
    public func respondMicRequest(accept: Bool) async throws { try await send("respondMicRequest", [JSONMember("accept", .bool(accept))]) }
    public func respondWebcamRequest(accept: Bool) async throws { try await send("respondWebcamRequest", [JSONMember("accept", .bool(accept))]) }
    public func setMic(_ enabled: Bool) async throws { try await send("setMic", [JSONMember("enabled", .bool(enabled))]) }
    public func setWebcam(_ enabled: Bool) async throws { try await send("setWebcam", [JSONMember("enabled", .bool(enabled))]) }
    public func removeParticipant(_ participantId: String) async throws {
        try await send("removeParticipant", [JSONMember("participantId", .string(participantId))])
    }
    public func leave() async throws { try await send("leave") }
    public func end() async throws { try await send("end") }

    /// A job's kind, as the methods name it: `startRecording`, `stopHls`, ...
    public enum JobKind: String, Sendable {
        case recording = "Recording", hls = "Hls", livestream = "Livestream", transcription = "Transcription"
    }

    /// Starts a recording, HLS stream, livestream or transcription (needs `allow_mod`). `fields` are the
    /// start's own (`config`, `webhookUrl`, `transcription`, `outputs` for a livestream). Returns the job.
    @discardableResult
    public func start(_ kind: JobKind, _ fields: [JSONMember] = []) async throws -> JSONValue {
        try await send("start\(kind.rawValue)", fields)["job"] ?? .null
    }

    /// Stops the room's active job of `kind` (needs `allow_mod`). Returns the job.
    @discardableResult
    public func stop(_ kind: JobKind) async throws -> JSONValue {
        try await send("stop\(kind.rawValue)")["job"] ?? .null
    }
}
