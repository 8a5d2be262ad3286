public import AdmitToken

/// A text frame from an `/rtc` client, read into what it asks (CONTRACT.md section 4):
/// `{"id": 1, "method": "...", ...}`. Pure, so it is fuzzed on its own; the server only
/// carries out what it returns.
public enum RTCMessage {
    public enum Inbound: Equatable, Sendable {
        case meeting(MeetingRequest)
        case startJob(JobKind, JSONValue)
        case stopJob(JobKind)
        case media(StreamRequest)
    }

    /// Longest SDP taken (a browser's offer with simulcast is a few KiB).
    public static let maxSDPBytes = 32 * 1024

    /// The job methods: `startRecording`/`stopRecording`, `startHls`/`stopHls`, ...
    public static let jobMethods: [String: JobKind] = [
        "Recording": .recording, "Hls": .hls, "Livestream": .livestream, "Transcription": .transcription,
    ]

    /// Parses `{"id": 1, "method": "...", ...}`.
    public static func request(_ text: String) -> Result<(id: Int, request: Inbound), ParseError> {
        guard let value = try? JSONValue(parsing: text), case .object = value else {
            return .failure(ParseError(id: nil, message: "A request is a JSON object."))
        }
        guard let id = value["id"]?.integerValue else {
            return .failure(ParseError(id: nil, message: "`id` must be a whole number."))
        }
        guard let method = value["method"]?.stringValue else { return .failure(ParseError(id: id, message: "`method` is required.")) }
        for prefix in ["start", "stop"] where method.hasPrefix(prefix) {
            if let kind = jobMethods[String(method.dropFirst(prefix.count))] {
                return .success((id, prefix == "start" ? .startJob(kind, value) : .stopJob(kind)))
            }
        }
        func string(_ key: String) -> String? { value[key]?.stringValue }
        func bool(_ key: String) -> Bool? {
            if case .bool(let flag)? = value[key] { return flag }
            return nil
        }
        func need<T>(_ field: T?, _ key: String, _ kind: String) -> Result<T, ParseError> {
            field.map { .success($0) } ?? .failure(ParseError(id: id, message: "`\(key)` must be \(kind) for \(method)."))
        }
        if let media = streamRequest(method, value, id: id) { return media.map { (id, .media($0)) } }
        let parsed: Result<MeetingRequest, ParseError>
        switch method {
        case "respondEntry":
            parsed = need(string("participantId"), "participantId", "a string").flatMap { participant in
                need(string("decision").flatMap(EntryDecision.init(rawValue:)), "decision", "allowed or denied").map {
                    .respondEntry(participantId: participant, decision: $0)
                }
            }
        case "enableMic": parsed = need(string("participantId"), "participantId", "a string").map { .enableMic(participantId: $0) }
        case "enableWebcam": parsed = need(string("participantId"), "participantId", "a string").map { .enableWebcam(participantId: $0) }
        case "disableMic": parsed = need(string("participantId"), "participantId", "a string").map { .disableMic(participantId: $0) }
        case "disableWebcam": parsed = need(string("participantId"), "participantId", "a string").map { .disableWebcam(participantId: $0) }
        case "respondMicRequest": parsed = need(bool("accept"), "accept", "true or false").map { .respondMicRequest(accept: $0) }
        case "respondWebcamRequest": parsed = need(bool("accept"), "accept", "true or false").map { .respondWebcamRequest(accept: $0) }
        case "setMic": parsed = need(bool("enabled"), "enabled", "true or false").map { .setMic(enabled: $0) }
        case "setWebcam": parsed = need(bool("enabled"), "enabled", "true or false").map { .setWebcam(enabled: $0) }
        case "removeParticipant": parsed = need(string("participantId"), "participantId", "a string").map { .removeParticipant(participantId: $0) }
        case "leave": parsed = .success(.leave)
        case "end": parsed = .success(.end)
        default: parsed = .failure(ParseError(id: id, message: "Unknown method \(method)."))
        }
        return parsed.map { (id, .meeting($0)) }
    }

    /// The media methods (CONTRACT.md section 7); nil for any other method.
    static func streamRequest(_ method: String, _ value: JSONValue, id: Int) -> Result<StreamRequest, ParseError>? {
        func fail(_ message: String) -> Result<StreamRequest, ParseError> { .failure(ParseError(id: id, message: message)) }
        func sdp() -> String? {
            guard let text = value["sdp"]?.stringValue, text.utf8.count <= maxSDPBytes, SDP.isPlausible(text) else { return nil }
            return text
        }
        /// A description the SFU may see, or the failure saying why not.
        func checked(_ text: String, _ what: String) -> Result<String, ParseError> {
            SDP.refusal(text).map { .failure(ParseError(id: id, message: "`sdp` refused for \(what): \($0).")) }
                ?? .success(SDP.withoutRefusedCandidates(text))
        }
        func name(_ key: String) -> String? {
            guard let text = value[key]?.stringValue, !text.isEmpty, text.utf8.count <= 256 else { return nil }
            return text
        }
        switch method {
        case "publish":
            guard let offer = sdp() else { return fail("`sdp` must be an SDP offer of at most \(maxSDPBytes) bytes for publish.") }
            return checked(offer, "publish").map { .publish(sdp: $0) }
        case "unpublish":
            return .success(.unpublish)
        case "subscribe":
            return name("participantId").map { .success(.subscribe(participantId: $0)) } ?? fail("`participantId` must be a string for subscribe.")
        case "subscribeAnswer":
            guard let subscription = name("subscriptionId") else { return fail("`subscriptionId` must be a string for subscribeAnswer.") }
            guard let answer = sdp() else { return fail("`sdp` must be an SDP answer of at most \(maxSDPBytes) bytes for subscribeAnswer.") }
            return checked(answer, "subscribeAnswer").map { .subscribeAnswer(subscriptionId: subscription, sdp: $0) }
        case "unsubscribe":
            return name("subscriptionId").map { .success(.unsubscribe(subscriptionId: $0)) }
                ?? fail("`subscriptionId` must be a string for unsubscribe.")
        case "trickle":
            guard let target = name("target") else { return fail("`target` must be \"publisher\" or a subscriptionId for trickle.") }
            let candidate = value["candidate"] ?? .null
            if candidate == .null { return .success(.trickle(target: target, candidate: nil)) }
            guard case .object = candidate, let line = candidate["candidate"]?.stringValue, line.utf8.count <= 1024,
                candidate["sdpMid"].map({ $0 == .null || ($0.stringValue?.utf8.count ?? 1000) <= 64 }) ?? true,
                candidate["sdpMLineIndex"].map({ $0 == .null || ($0.integerValue.map { (0...1000).contains($0) } ?? false) }) ?? true
            else { return fail("`candidate` must be null or {candidate, sdpMid, sdpMLineIndex} for trickle.") }
            // A browser's end of candidates is an empty one.
            if line.isEmpty { return .success(.trickle(target: target, candidate: nil)) }
            guard let parsed = ICECandidate(parsing: line) else {
                return fail("`candidate.candidate` must be an ICE candidate (candidate:...) for trickle.")
            }
            if let refusal = parsed.refusal { return fail("`candidate` refused for trickle: \(parsed.address): \(refusal).") }
            var members = [JSONMember("candidate", .string(line))]
            if let mid = candidate["sdpMid"], mid != .null { members.append(JSONMember("sdpMid", mid)) }
            if let index = candidate["sdpMLineIndex"]?.integerValue { members.append(JSONMember("sdpMLineIndex", .number(String(index)))) }
            return .success(.trickle(target: target, candidate: .object(members)))
        default:
            return nil
        }
    }

    public struct ParseError: Error, Equatable, Sendable {
        public var id: Int?
        public var message: String
    }
}
