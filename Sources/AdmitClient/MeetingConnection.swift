public import AdmitCore
public import AdmitToken
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import Synchronization

/// A live meeting connection: server events as an `AsyncSequence`, and one method per
/// request of the contract, each returning when the server answers.
public final class MeetingConnection: Sendable {
    /// A server event: its name (`meeting-joined`, `participant-left`, ...), its JSON object, and
    /// the same read into the protocol's shared type (`RTCEvent`, which the server writes with).
    public struct Event: Sendable, CustomStringConvertible {
        public let name: String
        public let body: JSONValue
        public let event: RTCEvent
        public var participantId: String? { body["participantId"]?.stringValue }
        /// `reason.code` of `meeting-left` and `participant-left`.
        public var reasonCode: Int? { body["reason"]?["code"]?.integerValue }
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
    private let pending = Mutex<[Int: CheckedContinuation<RTCReply, Never>]>([:])
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
        if let reply = RTCReply(json: json), let waiter = pending.withLock({ $0.removeValue(forKey: reply.id) }) {
            waiter.resume(returning: reply)
        } else if let name = json["event"]?.stringValue {
            eventSink.yield(Event(name: name, body: json, event: RTCEvent(json: json)))
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
        let waiting: [(Int, CheckedContinuation<RTCReply, Never>)] = pending.withLock { pending in
            defer { pending = [:] }
            return pending.map { ($0.key, $0.value) }
        }
        for (id, waiter) in waiting { waiter.resume(returning: Self.disconnected(id)) }
    }

    /// Closes the connection without a `leave` (the server sees 1001).
    public func close() {
        outbound.finish()
    }

    /// The answer a request gets when the connection is gone.
    private static func disconnected(_ id: Int) -> RTCReply {
        RTCReply(id: id, error: RTCErrorBody(code: 1001, name: "WEBSOCKET_DISCONNECTED", message: "The connection was lost."))
    }

    /// Sends a request and waits for the answer; throws `RequestFailed` when refused.
    @discardableResult
    public func send(_ message: RTCMessage.Inbound) async throws -> RTCReply {
        let id = nextId.withLock {
            $0 += 1; return $0
        }
        return try await exchange(id, RTCRequest(id: id, message).text)
    }

    /// Sends `method` with `fields` as given (a method this client has no case for, or a
    /// malformed one on purpose) and waits for the answer; throws `RequestFailed` when refused.
    @discardableResult
    public func send(_ method: String, _ fields: [JSONMember] = []) async throws -> RTCReply {
        let id = nextId.withLock {
            $0 += 1; return $0
        }
        return try await exchange(
            id, JSONValue.object([JSONMember("id", .number(String(id))), JSONMember("method", .string(method))] + fields).jsonText)
    }

    private func exchange(_ id: Int, _ text: String) async throws -> RTCReply {
        let reply = await withCheckedContinuation { (waiter: CheckedContinuation<RTCReply, Never>) in
            if finished.withLock({ $0 }) {
                waiter.resume(returning: Self.disconnected(id))
                return
            }
            pending.withLock { $0[id] = waiter }
            outbound.yield(text)
        }
        if let error = reply.error { throw RequestFailed(code: error.code, name: error.name) }
        return reply
    }

    // The contract's methods.
    public func respondEntry(participantId: String, allowed: Bool) async throws {
        try await send(.meeting(.respondEntry(participantId: participantId, decision: allowed ? .allowed : .denied)))
    }
    public func enableMic(participantId: String) async throws { try await send(.meeting(.enableMic(participantId: participantId))) }
    public func disableMic(participantId: String) async throws { try await send(.meeting(.disableMic(participantId: participantId))) }
    public func enableWebcam(participantId: String) async throws { try await send(.meeting(.enableWebcam(participantId: participantId))) }
    public func disableWebcam(participantId: String) async throws { try await send(.meeting(.disableWebcam(participantId: participantId))) }
    public func respondMicRequest(accept: Bool) async throws { try await send(.meeting(.respondMicRequest(accept: accept))) }
    public func respondWebcamRequest(accept: Bool) async throws { try await send(.meeting(.respondWebcamRequest(accept: accept))) }
    public func setMic(_ enabled: Bool) async throws { try await send(.meeting(.setMic(enabled: enabled))) }
    public func setWebcam(_ enabled: Bool) async throws { try await send(.meeting(.setWebcam(enabled: enabled))) }
    public func removeParticipant(_ participantId: String) async throws { try await send(.meeting(.removeParticipant(participantId: participantId))) }
    public func leave() async throws { try await send(.meeting(.leave)) }
    public func end() async throws { try await send(.meeting(.end)) }

    /// Starts a recording, HLS stream, livestream or transcription (needs `allow_mod`). `fields` are the
    /// start's own (`config`, `webhookUrl`, `transcription`, `outputs` for a livestream). Returns the job.
    @discardableResult
    public func start(_ kind: JobKind, _ fields: [JSONMember] = []) async throws -> JSONValue {
        try await send(.startJob(kind, .object(fields))).job ?? .null
    }

    /// Stops the room's active job of `kind` (needs `allow_mod`). Returns the job.
    @discardableResult
    public func stop(_ kind: JobKind) async throws -> JSONValue {
        try await send(.stopJob(kind)).job ?? .null
    }

    // Media signalling (docs/protocol.md, "Media"): SDP in, SDP out, for a WebRTC framework to
    // pair with. Refusals: 4090 (no SFU), 4091 (publish), 4092 (subscribe).

    /// Publishes the offer's audio and/or video; returns the SFU's answer (with the cap written in).
    public func publish(offer sdp: String) async throws -> String {
        try await send(.media(.publish(sdp: sdp)))["sdp"]?.stringValue ?? ""
    }

    public func unpublish() async throws { try await send(.media(.unpublish)) }

    /// Subscribes to one participant's tracks: the subscription's id and the SFU's offer, to answer
    /// with `subscribeAnswer`.
    public func subscribe(to participantId: String) async throws -> (subscriptionId: String, offer: String) {
        let reply = try await send(.media(.subscribe(participantId: participantId)))
        return (reply["subscriptionId"]?.stringValue ?? "", reply["sdp"]?.stringValue ?? "")
    }

    public func subscribeAnswer(_ subscriptionId: String, answer sdp: String) async throws {
        try await send(.media(.subscribeAnswer(subscriptionId: subscriptionId, sdp: sdp)))
    }

    public func unsubscribe(_ subscriptionId: String) async throws { try await send(.media(.unsubscribe(subscriptionId: subscriptionId))) }

    /// An ICE candidate (`{candidate, sdpMid, sdpMLineIndex}`) for the publisher connection
    /// (`target` "publisher") or a subscription; nil: no more candidates.
    public func trickle(_ target: String, candidate: JSONValue?) async throws {
        try await send(.media(.trickle(target: target, candidate: candidate)))
    }
}
