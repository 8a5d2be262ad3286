public import AdmitToken

// The `/rtc` protocol's frames as types (CONTRACT.md section 4), shared by the server, which
// writes events and replies and reads requests, and by AdmitClient, which does the opposite.
// Each type's JSON is spelled once, here (`json` and `init(wire:)`); `Codable` goes through it.

/// A frame type whose JSON is written by `json` and read by `init(wire:)`; its `Codable`
/// conformance is those two, so Foundation's coders and Admit's own agree.
public protocol RTCWireCodable: Codable {
    var json: JSONValue { get }
    /// Reads the frame; throws `RTCWireError` when the JSON does not have its shape.
    init(wire json: JSONValue) throws
}

extension RTCWireCodable {
    public init(from decoder: any Decoder) throws { try self.init(wire: try JSONValue(from: decoder)) }
    public func encode(to encoder: any Encoder) throws { try json.encode(to: encoder) }
    /// The frame's text.
    public var text: String { json.jsonText }
}

/// `{"code", "name", "message"}`, and a job refusal's `reason`.
public struct RTCErrorBody: Sendable, Equatable, RTCWireCodable {
    public var code: Int
    public var name: String
    public var message: String
    public var reason: String?

    public init(code: Int, name: String, message: String, reason: String? = nil) {
        self.code = code
        self.name = name
        self.message = message
        self.reason = reason
    }

    public init(_ code: ErrorCode, reason: String? = nil) {
        self.init(code: code.value, name: code.name, message: code.message, reason: reason)
    }

    /// A request that could not be understood: no contract code applies, so the code is 400.
    public static func invalidRequest(_ message: String) -> RTCErrorBody {
        RTCErrorBody(code: 400, name: "INVALID_REQUEST", message: message)
    }

    var members: [JSONMember] {
        var members = [JSONMember("code", .number(String(code))), JSONMember("name", .string(name)), JSONMember("message", .string(message))]
        if let reason { members.append(JSONMember("reason", .string(reason))) }
        return members
    }

    init?(members json: JSONValue) {
        guard let code = json["code"]?.integerValue, let name = json["name"]?.stringValue else { return nil }
        self.init(code: code, name: name, message: json["message"]?.stringValue ?? "", reason: json["reason"]?.stringValue)
    }

    public var json: JSONValue { .object(members) }

    public init(wire json: JSONValue) throws {
        guard let body = RTCErrorBody(members: json) else { throw RTCWireError("an error needs a code and a name") }
        self = body
    }
}

/// Why someone left: `{"code", "name"}`, with `message` for the one who left.
public struct RTCReason: Sendable, Equatable, Hashable {
    public var code: Int
    public var name: String
    public var message: String?

    public init(code: Int, name: String, message: String? = nil) {
        self.code = code
        self.name = name
        self.message = message
    }

    public init(_ reason: LeaveReason, message: Bool) {
        self.init(code: reason.code, name: reason.name, message: message ? reason.message : nil)
    }

    var json: JSONValue {
        var members = [JSONMember("code", .number(String(code))), JSONMember("name", .string(name))]
        if let message { members.append(JSONMember("message", .string(message))) }
        return .object(members)
    }

    init?(json: JSONValue?) {
        guard let json, let code = json["code"]?.integerValue, let name = json["name"]?.stringValue else { return nil }
        self.init(code: code, name: name, message: json["message"]?.stringValue)
    }
}

/// A server event (`{"event": "...", ...}`).
public enum RTCEvent: Sendable, Equatable, RTCWireCodable {
    /// `media` (CONTRACT.md section 7): `{available, iceServers, maxSendBitrateBps}`; nil when read from a server that sends none.
    case meetingJoined(participantId: String, participants: [ParticipantInfo], permissions: [String], config: JSONValue, media: JSONValue?)
    case participantJoined(participantId: String, name: String)
    case participantLeft(participantId: String, name: String, reason: RTCReason)
    case entryRequested(participantId: String, name: String)
    case entryResponded(participantId: String, decision: String)
    case micRequested(participantId: String)
    case webcamRequested(participantId: String)
    case micChanged(participantId: String, enabled: Bool)
    case webcamChanged(participantId: String, enabled: Bool)
    case meetingLeft(reason: RTCReason)
    /// A refusal that answers no request (a full lobby, a malformed frame).
    case error(RTCErrorBody)
    /// A publisher's track started (`enabled`) or stopped reaching the others; `kind` is `audio` or `video`.
    case stream(participantId: String, kind: String, enabled: Bool)
    /// `<kind>-state-changed`: a job's status as participants see it (`RECORDING_STARTED`, ...).
    case jobStateChanged(kind: JobKind, status: String, id: String, details: [JSONMember])
    /// An event this version does not know, kept whole.
    case other(name: String, body: JSONValue)

    /// The event's name on the wire.
    public var name: String {
        switch self {
        case .meetingJoined: "meeting-joined"
        case .participantJoined: "participant-joined"
        case .participantLeft: "participant-left"
        case .entryRequested: "entry-requested"
        case .entryResponded: "entry-responded"
        case .micRequested: "mic-requested"
        case .webcamRequested: "webcam-requested"
        case .micChanged: "mic-changed"
        case .webcamChanged: "webcam-changed"
        case .meetingLeft: "meeting-left"
        case .error: "error"
        case .stream(_, _, let enabled): enabled ? "stream-enabled" : "stream-disabled"
        case .jobStateChanged(let kind, _, _, _): "\(kind.rawValue)-state-changed"
        case .other(let name, _): name
        }
    }

    /// The meeting's event for one connection; `config` is the joiner's effective settings and
    /// `media` what it may do with media.
    public init(_ event: MeetingEvent, config: JSONValue, media: JSONValue? = nil) {
        switch event {
        case .meetingJoined(let participantId, let participants, let permissions):
            self = .meetingJoined(
                participantId: participantId, participants: participants, permissions: permissions.names, config: config, media: media)
        case .participantJoined(let participantId, let name): self = .participantJoined(participantId: participantId, name: name)
        case .participantLeft(let participantId, let name, let reason):
            self = .participantLeft(participantId: participantId, name: name, reason: RTCReason(reason, message: false))
        case .entryRequested(let participantId, let name): self = .entryRequested(participantId: participantId, name: name)
        case .entryResponded(let participantId, let decision): self = .entryResponded(participantId: participantId, decision: decision.rawValue)
        case .micRequested(let by): self = .micRequested(participantId: by)
        case .webcamRequested(let by): self = .webcamRequested(participantId: by)
        case .micChanged(let participantId, let enabled): self = .micChanged(participantId: participantId, enabled: enabled)
        case .webcamChanged(let participantId, let enabled): self = .webcamChanged(participantId: participantId, enabled: enabled)
        case .meetingLeft(let reason): self = .meetingLeft(reason: RTCReason(reason, message: true))
        case .error(let code): self = .error(RTCErrorBody(code))
        }
    }

    public var json: JSONValue {
        let members: [JSONMember]
        switch self {
        case .meetingJoined(let participantId, let participants, let permissions, let config, let media):
            members =
                [
                    JSONMember("participantId", .string(participantId)),
                    JSONMember(
                        "participants",
                        .array(
                            participants.map { info in
                                .object([
                                    JSONMember("participantId", .string(info.participantId)), JSONMember("name", .string(info.name)),
                                    JSONMember("mic", .bool(info.mic)), JSONMember("webcam", .bool(info.webcam)),
                                ])
                            })),
                    JSONMember("permissions", .array(permissions.map(JSONValue.string))),
                    JSONMember("config", config),
                ] + (media.map { [JSONMember("media", $0)] } ?? [])
        case .participantJoined(let participantId, let name), .entryRequested(let participantId, let name):
            members = [JSONMember("participantId", .string(participantId)), JSONMember("name", .string(name))]
        case .participantLeft(let participantId, let name, let reason):
            members = [JSONMember("participantId", .string(participantId)), JSONMember("name", .string(name)), JSONMember("reason", reason.json)]
        case .entryResponded(let participantId, let decision):
            members = [JSONMember("participantId", .string(participantId)), JSONMember("decision", .string(decision))]
        case .micRequested(let participantId), .webcamRequested(let participantId):
            members = [JSONMember("participantId", .string(participantId))]
        case .micChanged(let participantId, let enabled), .webcamChanged(let participantId, let enabled):
            members = [JSONMember("participantId", .string(participantId)), JSONMember("enabled", .bool(enabled))]
        case .meetingLeft(let reason):
            members = [JSONMember("reason", reason.json)]
        case .error(let body):
            members = body.members
        case .stream(let participantId, let kind, _):
            members = [JSONMember("participantId", .string(participantId)), JSONMember("kind", .string(kind))]
        case .jobStateChanged(_, let status, let id, let details):
            members = [JSONMember("status", .string(status)), JSONMember("id", .string(id))] + details
        case .other(_, let body):
            return body
        }
        return .object([JSONMember("event", .string(name))] + members)
    }

    /// Reads an event; one it does not know, or cannot read, is `other`.
    public init(json: JSONValue) {
        let name = json["event"]?.stringValue ?? ""
        func string(_ key: String) -> String? { json[key]?.stringValue }
        func flag(_ key: String) -> Bool? {
            if case .bool(let value)? = json[key] { return value }
            return nil
        }
        let participant = string("participantId")
        let known: RTCEvent? =
            switch name {
            case "meeting-joined":
                participant.map { id in
                    var people: [ParticipantInfo] = []
                    if case .array(let items)? = json["participants"] {
                        people = items.compactMap { item in
                            guard let id = item["participantId"]?.stringValue else { return nil }
                            return ParticipantInfo(
                                participantId: id, name: item["name"]?.stringValue ?? id, mic: item["mic"] == .bool(true),
                                webcam: item["webcam"] == .bool(true))
                        }
                    }
                    var permissions: [String] = []
                    if case .array(let names)? = json["permissions"] { permissions = names.compactMap(\.stringValue) }
                    return .meetingJoined(
                        participantId: id, participants: people, permissions: permissions, config: json["config"] ?? .object([]), media: json["media"]
                    )
                }
            case "participant-joined": participant.map { .participantJoined(participantId: $0, name: string("name") ?? $0) }
            case "participant-left":
                participant.flatMap { id in
                    RTCReason(json: json["reason"]).map { .participantLeft(participantId: id, name: string("name") ?? id, reason: $0) }
                }
            case "entry-requested": participant.map { .entryRequested(participantId: $0, name: string("name") ?? $0) }
            case "entry-responded": participant.flatMap { id in string("decision").map { .entryResponded(participantId: id, decision: $0) } }
            case "mic-requested": participant.map { .micRequested(participantId: $0) }
            case "webcam-requested": participant.map { .webcamRequested(participantId: $0) }
            case "mic-changed": participant.flatMap { id in flag("enabled").map { .micChanged(participantId: id, enabled: $0) } }
            case "webcam-changed": participant.flatMap { id in flag("enabled").map { .webcamChanged(participantId: id, enabled: $0) } }
            case "meeting-left": RTCReason(json: json["reason"]).map { .meetingLeft(reason: $0) }
            case "error": RTCErrorBody(members: json).map { .error($0) }
            case "stream-enabled", "stream-disabled":
                participant.flatMap { id in
                    string("kind").map { .stream(participantId: id, kind: $0, enabled: name == "stream-enabled") }
                }
            default: Self.jobEvent(name, json)
            }
        self = known ?? .other(name: name, body: json)
    }

    private static func jobEvent(_ name: String, _ json: JSONValue) -> RTCEvent? {
        guard name.hasSuffix("-state-changed"), let kind = JobKind(rawValue: String(name.dropLast("-state-changed".count))),
            let status = json["status"]?.stringValue, let id = json["id"]?.stringValue, case .object(let members) = json
        else { return nil }
        return .jobStateChanged(kind: kind, status: status, id: id, details: members.filter { !["event", "status", "id"].contains($0.key) })
    }

    /// Never throws: an event this version cannot read is `other`.
    public init(wire json: JSONValue) { self.init(json: json) }
}

/// The answer to request `id`: `{"id", "ok": true}` (with the `job` for a job request), or
/// `{"id", "ok": false, "error": {...}}`.
public struct RTCReply: Sendable, Equatable, RTCWireCodable {
    public var id: Int
    public var error: RTCErrorBody?
    public var job: JSONValue?
    /// What else a successful reply carries: `sdp` for `publish`, `subscriptionId` and `sdp` for `subscribe`.
    public var fields: [JSONMember]

    /// Whether the request was carried out (`"ok": true`).
    public var ok: Bool { error == nil }

    public init(id: Int, error: RTCErrorBody? = nil, job: JSONValue? = nil, fields: [JSONMember] = []) {
        self.id = id
        self.error = error
        self.job = job
        self.fields = fields
    }

    /// The field named `key` of a successful reply.
    public subscript(key: String) -> JSONValue? {
        fields.first { $0.key == key }?.value
    }

    public var json: JSONValue {
        var members = [JSONMember("id", .number(String(id))), JSONMember("ok", .bool(error == nil))]
        if let job { members.append(JSONMember("job", job)) }
        members += fields
        if let error { members.append(JSONMember("error", error.json)) }
        return .object(members)
    }

    /// Reads a reply: an object with a whole `id` and an `ok`; nil for anything else (an event).
    public init?(json: JSONValue) {
        guard let id = json["id"]?.integerValue, case .bool(let ok)? = json["ok"], case .object(let members) = json else { return nil }
        self.init(
            id: id, error: ok ? nil : (json["error"].flatMap(RTCErrorBody.init(members:)) ?? RTCErrorBody(code: 0, name: "", message: "")),
            job: json["job"], fields: members.filter { !["id", "ok", "job", "error"].contains($0.key) })
    }

    public init(wire json: JSONValue) throws {
        guard let reply = RTCReply(json: json) else { throw RTCWireError("a reply needs a whole id and ok") }
        self = reply
    }
}

/// A client request: `{"id", "method", ...fields}`. The server reads it with
/// `RTCMessage.request` (the same parser `init(json:)` uses); clients write it with `json`.
public struct RTCRequest: Sendable, Equatable, RTCWireCodable {
    public var id: Int
    public var message: RTCMessage.Inbound

    public init(id: Int, _ message: RTCMessage.Inbound) {
        self.id = id
        self.message = message
    }

    public var json: JSONValue {
        let (method, fields) = Self.spelled(message)
        return .object([JSONMember("id", .number(String(id))), JSONMember("method", .string(method))] + fields)
    }

    public init(json: JSONValue) throws(RTCMessage.ParseError) {
        switch RTCMessage.request(json.jsonText) {
        case .success(let (id, message)): self.init(id: id, message)
        case .failure(let error): throw error
        }
    }

    private static func spelled(_ message: RTCMessage.Inbound) -> (String, [JSONMember]) {
        func participant(_ id: String) -> [JSONMember] { [JSONMember("participantId", .string(id))] }
        switch message {
        case .startJob(let kind, let body):
            guard case .object(let members) = body else { return ("start\(kind.methodSuffix)", []) }
            return ("start\(kind.methodSuffix)", members.filter { $0.key != "id" && $0.key != "method" })
        case .stopJob(let kind):
            return ("stop\(kind.methodSuffix)", [])
        case .media(let request):
            switch request {
            case .publish(let sdp): return ("publish", [JSONMember("sdp", .string(sdp))])
            case .unpublish: return ("unpublish", [])
            case .subscribe(let id): return ("subscribe", participant(id))
            case .subscribeAnswer(let subscription, let sdp):
                return ("subscribeAnswer", [JSONMember("subscriptionId", .string(subscription)), JSONMember("sdp", .string(sdp))])
            case .unsubscribe(let subscription): return ("unsubscribe", [JSONMember("subscriptionId", .string(subscription))])
            case .trickle(let target, let candidate):
                return ("trickle", [JSONMember("target", .string(target)), JSONMember("candidate", candidate ?? .null)])
            }
        case .meeting(let request):
            switch request {
            case .respondEntry(let id, let decision):
                return ("respondEntry", participant(id) + [JSONMember("decision", .string(decision.rawValue))])
            case .enableMic(let id): return ("enableMic", participant(id))
            case .enableWebcam(let id): return ("enableWebcam", participant(id))
            case .disableMic(let id): return ("disableMic", participant(id))
            case .disableWebcam(let id): return ("disableWebcam", participant(id))
            case .respondMicRequest(let accept): return ("respondMicRequest", [JSONMember("accept", .bool(accept))])
            case .respondWebcamRequest(let accept): return ("respondWebcamRequest", [JSONMember("accept", .bool(accept))])
            case .setMic(let enabled): return ("setMic", [JSONMember("enabled", .bool(enabled))])
            case .setWebcam(let enabled): return ("setWebcam", [JSONMember("enabled", .bool(enabled))])
            case .removeParticipant(let id): return ("removeParticipant", participant(id))
            case .leave: return ("leave", [])
            case .end: return ("end", [])
            }
        }
    }

    public init(wire json: JSONValue) throws {
        do throws(RTCMessage.ParseError) {
            try self.init(json: json)
        } catch {
            throw RTCWireError(error.message)
        }
    }
}

extension JobKind {
    /// How the `/rtc` methods name the kind: `startRecording`, `stopHls`, ...
    public var methodSuffix: String {
        RTCMessage.jobMethods.first { $0.value == self }?.key ?? rawValue
    }
}

/// A frame that does not have the shape its type needs.
public struct RTCWireError: Error, Sendable, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
