import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird

extension JobRecord {
    /// The job as the API shows it: `id`, `status`, the resolved `config` (each value with its
    /// source), the worker's URLs, and what the start asked for. The workers' view adds `action`
    /// (what to do now: `start`, `stop`, or null), `kind` and `apiKey`.
    func json(worker: Bool = false, action: String? = nil) -> JSONValue {
        var members: [JSONMember] = [JSONMember("id", .string(id))]
        if worker {
            members += [
                JSONMember("action", action.map(JSONValue.string) ?? .null), JSONMember("kind", .string(kind)), JSONMember("apiKey", .string(apiKey)),
            ]
        }
        members += [
            JSONMember("roomId", .string(roomId)), JSONMember("sessionId", .string(sessionId)), JSONMember("status", .string(status)),
            JSONMember("config", (try? JSONValue(parsing: config)) ?? .object([])),
        ]
        let urls: [(String, String?)] =
            kind == "hls"
            ? [("playbackHlsUrl", playbackHlsUrl), ("livestreamUrl", livestreamUrl)]
            : [
                ("fileUrl", fileUrl), ("playbackHlsUrl", playbackHlsUrl), ("livestreamUrl", livestreamUrl),
            ]
        for (name, value) in urls where value != nil || kind == "hls" {
            members.append(JSONMember(name, value.map(JSONValue.string) ?? .null))
        }
        if let error { members.append(JSONMember("error", .string(error))) }
        if case .object(let extras)? = try? JSONValue(parsing: request) {
            // Stream keys are credentials for the RTMP endpoints: only workers (admin credential) see them.
            members += worker ? extras : extras.map { $0.key == "outputs" ? JSONMember("outputs", Self.redactingStreamKeys($0.value)) : $0 }
        }
        members += [JSONMember("createdAt", .string(createdAt.iso8601)), JSONMember("updatedAt", .string(updatedAt.iso8601))]
        return .object(members)
    }
}

extension JobRecord {
    static func redactingStreamKeys(_ outputs: JSONValue) -> JSONValue {
        guard case .array(let items) = outputs else { return outputs }
        return .array(
            items.map { item in
                guard case .object(let members) = item else { return item }
                return .object(members.map { $0.key == "streamKey" ? JSONMember("streamKey", .string("(redacted)")) : $0 })
            })
    }
}

extension Date {
    /// ISO 8601 with milliseconds, as the other responses show times.
    var iso8601: String { formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)) }
}
