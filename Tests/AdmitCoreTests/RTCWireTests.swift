import AdmitCore
import AdmitToken
import Foundation
import Testing

@Suite("/rtc frames: one spelling, read back by both sides")
struct RTCWireTests {
    static let meetingEvents: [MeetingEvent] = [
        .meetingJoined(
            participantId: "p1", participants: [ParticipantInfo(participantId: "p2", name: "Two \"quoted\"", mic: true, webcam: false)],
            permissions: [.allowJoin, .allowMod]),
        .participantJoined(participantId: "p2", name: "Ünïcødé 🎥"),
        .participantLeft(participantId: "p2", name: "Two", reason: .removePeer),
        .entryRequested(participantId: "g", name: "Guest"),
        .entryResponded(participantId: "g", decision: .denied),
        .micRequested(by: "host"), .webcamRequested(by: "host"),
        .micChanged(participantId: "p1", enabled: true), .webcamChanged(participantId: "p1", enabled: false),
        .meetingLeft(reason: .meetingEndAPI),
        .error(.lobbyFull),
    ]

    static let requests: [RTCMessage.Inbound] = [
        .meeting(.respondEntry(participantId: "g", decision: .allowed)), .meeting(.respondEntry(participantId: "g", decision: .denied)),
        .meeting(.enableMic(participantId: "a")), .meeting(.disableMic(participantId: "a")), .meeting(.enableWebcam(participantId: "a")),
        .meeting(.disableWebcam(participantId: "a")), .meeting(.respondMicRequest(accept: true)), .meeting(.respondWebcamRequest(accept: false)),
        .meeting(.setMic(enabled: false)), .meeting(.setWebcam(enabled: true)), .meeting(.removeParticipant(participantId: "x")),
        .meeting(.leave), .meeting(.end), .stopJob(.hls), .stopJob(.transcription),
    ]

    @Test("every event the meeting makes reads back as itself, from its text and through Foundation's coders")
    func events() throws {
        // Members in name order: Foundation's decoder does not keep order, so `Codable` sorts them.
        let config = JSONValue.object([
            JSONMember("maxSendBitrate", .object([JSONMember("source", .string("sdk")), JSONMember("value", .string("hd"))])),
            JSONMember("webcam", .object([JSONMember("enabled", .bool(true)), JSONMember("height", .number("720"))])),
        ])
        var names: Set<String> = []
        for meetingEvent in Self.meetingEvents {
            let event = RTCEvent(meetingEvent, config: config)
            names.insert(event.name)
            let parsed = try JSONValue(parsing: event.text)
            #expect(parsed["event"]?.stringValue == event.name)
            #expect(RTCEvent(json: parsed) == event, "\(event.text)")
            let decoded = try JSONDecoder().decode(RTCEvent.self, from: JSONEncoder().encode(event))
            #expect(decoded == event)
        }
        #expect(names.count == Self.meetingEvents.count)
        let job = RTCEvent.jobStateChanged(
            kind: .hls, status: "HLS_PLAYABLE", id: "j1", details: [JSONMember("playbackHlsUrl", .string("https://x/y.m3u8"))])
        #expect(RTCEvent(json: try JSONValue(parsing: job.text)) == job)
        #expect(job.name == "hls-state-changed")
        // An event this version does not know is kept whole, not dropped.
        let unknown = try JSONValue(parsing: #"{"event":"reaction-sent","participantId":"p","emoji":"👍"}"#)
        #expect(RTCEvent(json: unknown) == .other(name: "reaction-sent", body: unknown))
        let stream = RTCEvent.stream(participantId: "p", kind: "video", enabled: false)
        #expect(RTCEvent(json: try JSONValue(parsing: stream.text)) == stream && stream.name == "stream-disabled")
    }

    @Test("every request a client writes is read by the server's parser as the same request")
    func requests() throws {
        var all = Self.requests
        all.append(.startJob(.recording, .object([JSONMember("config", .object([JSONMember("quality", .string("high"))]))])))
        for (index, message) in all.enumerated() {
            let request = RTCRequest(id: index + 1, message)
            guard case .success(let (id, parsed)) = RTCMessage.request(request.json.jsonText) else {
                Issue.record("the server could not read \(request.json.jsonText)")
                continue
            }
            #expect(id == index + 1)
            if case .startJob(let kind, let body) = message, case .startJob(let parsedKind, let parsedBody) = parsed {
                // The server keeps the whole frame as the start's body; its own fields are the ones written.
                #expect(parsedKind == kind)
                #expect(parsedBody["config"] == body["config"])
            } else {
                #expect(parsed == message, "\(request.json.jsonText)")
            }
            #expect(try JSONDecoder().decode(RTCRequest.self, from: JSONEncoder().encode(request)).id == index + 1)
        }
    }

    @Test("JSONValue through Foundation's coders: members sorted by name, whole numbers exact, no infinity")
    func codable() throws {
        let value = try JSONValue(parsing: #"{"b":[1,-2,18446744073709551615,0.5,true,null,"x"],"a":{"z":1,"y":2}}"#)
        let decoded = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(value))
        #expect(decoded == (try JSONValue(parsing: #"{"a":{"y":2,"z":1},"b":[1,-2,18446744073709551615,0.5,true,null,"x"]}"#)))
        #expect(throws: (any Error).self) { try JSONEncoder().encode(JSONValue.number("1e400")) }
    }

    @Test("replies: success, a job, and a refusal with its code and reason read back; an event is no reply")
    func replies() throws {
        for reply in [
            RTCReply(id: 1), RTCReply(id: 2, job: .object([JSONMember("id", .string("j"))])),
            RTCReply(id: 3, error: RTCErrorBody(.startRecordingFailed, reason: "needs allow_mod")),
            RTCReply(id: 4, error: .invalidRequest("`id` must be a whole number.")),
        ] {
            #expect(RTCReply(json: try JSONValue(parsing: reply.text)) == reply)
            #expect(try JSONDecoder().decode(RTCReply.self, from: JSONEncoder().encode(reply)) == reply)
        }
        #expect(RTCReply(json: try JSONValue(parsing: RTCEvent.error(RTCErrorBody(.lobbyFull)).text)) == nil)
        #expect(RTCReply(json: try JSONValue(parsing: #"{"id":1e300,"ok":true}"#)) == nil)
    }
}
