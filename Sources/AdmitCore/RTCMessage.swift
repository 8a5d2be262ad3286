public import AdmitToken

/// A text frame from an `/rtc` client, read into what it asks (CONTRACT.md section 4):
/// `{"id": 1, "method": "...", ...}`. Pure, so it is fuzzed on its own; the server only
/// carries out what it returns.
public enum RTCMessage {
    public enum Inbound: Equatable, Sendable {
        case meeting(MeetingRequest)
        case startJob(JobKind, JSONValue)
        case stopJob(JobKind)
    }

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

    public struct ParseError: Error, Equatable, Sendable {
        public var id: Int?
        public var message: String
    }
}
