import AdmitApp
import AdmitCore
import AdmitToken

/// The JSON text frames of `/rtc` (CONTRACT.md section 4): events, replies, requests.
enum Wire {
    static func event(_ event: MeetingEvent, config: JSONValue) -> String {
        func object(_ name: String, _ members: [JSONMember]) -> String {
            JSONValue.object([JSONMember("event", .string(name))] + members).jsonText
        }
        func reason(_ reason: LeaveReason, message: Bool) -> JSONValue {
            var members = [JSONMember("code", .number(String(reason.code))), JSONMember("name", .string(reason.name))]
            if message { members.append(JSONMember("message", .string(reason.message))) }
            return .object(members)
        }
        switch event {
        case .meetingJoined(let participantId, let participants, let permissions):
            return object(
                "meeting-joined",
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
                    JSONMember("permissions", .array(permissions.names.map(JSONValue.string))),
                    JSONMember("config", config),
                ])
        case .participantJoined(let participantId, let name):
            return object("participant-joined", [JSONMember("participantId", .string(participantId)), JSONMember("name", .string(name))])
        case .participantLeft(let participantId, let name, let leave):
            return object(
                "participant-left",
                [
                    JSONMember("participantId", .string(participantId)), JSONMember("name", .string(name)),
                    JSONMember("reason", reason(leave, message: false)),
                ])
        case .entryRequested(let participantId, let name):
            return object("entry-requested", [JSONMember("participantId", .string(participantId)), JSONMember("name", .string(name))])
        case .entryResponded(let participantId, let decision):
            return object(
                "entry-responded", [JSONMember("participantId", .string(participantId)), JSONMember("decision", .string(decision.rawValue))])
        case .micRequested(let by):
            return object("mic-requested", [JSONMember("participantId", .string(by))])
        case .webcamRequested(let by):
            return object("webcam-requested", [JSONMember("participantId", .string(by))])
        case .micChanged(let participantId, let enabled):
            return object("mic-changed", [JSONMember("participantId", .string(participantId)), JSONMember("enabled", .bool(enabled))])
        case .webcamChanged(let participantId, let enabled):
            return object("webcam-changed", [JSONMember("participantId", .string(participantId)), JSONMember("enabled", .bool(enabled))])
        case .meetingLeft(let leave):
            return object("meeting-left", [JSONMember("reason", reason(leave, message: true))])
        case .error(let code):
            return object(
                "error",
                [
                    JSONMember("code", .number(String(code.value))), JSONMember("name", .string(code.name)),
                    JSONMember("message", .string(code.message)),
                ])
        }
    }

    static func errorObject(_ code: ErrorCode) -> JSONValue {
        .object([
            JSONMember("code", .number(String(code.value))), JSONMember("name", .string(code.name)), JSONMember("message", .string(code.message)),
        ])
    }

    static func reply(id: Int, error: ErrorCode?) -> String {
        var members = [JSONMember("id", .number(String(id))), JSONMember("ok", .bool(error == nil))]
        if let error { members.append(JSONMember("error", errorObject(error))) }
        return JSONValue.object(members).jsonText
    }

    /// A request that could not be understood: no contract code applies, so `code` is 400,
    /// as an HTTP bad request, with a sentence naming the problem.
    static func badRequest(id: Int?, _ message: String) -> String {
        let error = JSONValue.object([
            JSONMember("code", .number("400")), JSONMember("name", .string("INVALID_REQUEST")), JSONMember("message", .string(message)),
        ])
        if let id {
            return JSONValue.object([JSONMember("id", .number(String(id))), JSONMember("ok", .bool(false)), JSONMember("error", error)]).jsonText
        }
        return JSONValue.object([
            JSONMember("event", .string("error")), JSONMember("code", .number("400")), JSONMember("name", .string("INVALID_REQUEST")),
            JSONMember("message", .string(message)),
        ]).jsonText
    }

    /// A parsed request: a meeting method (run by the state machine) or a job start/stop (run by `JobService`).
    /// A successful job reply, with the job.
    static func reply(id: Int, job: JSONValue) -> String {
        JSONValue.object([JSONMember("id", .number(String(id))), JSONMember("ok", .bool(true)), JSONMember("job", job)]).jsonText
    }

    /// A failed job reply: the code, and the precise cause in `reason`.
    static func reply(id: Int, error: ErrorCode, reason: String) -> String {
        guard case .object(var members) = errorObject(error) else { return reply(id: id, error: error) }
        members.append(JSONMember("reason", .string(reason)))
        return JSONValue.object([JSONMember("id", .number(String(id))), JSONMember("ok", .bool(false)), JSONMember("error", .object(members))])
            .jsonText
    }

}
