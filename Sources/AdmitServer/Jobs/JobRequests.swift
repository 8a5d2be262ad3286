import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird

/// The fields of a start (REST body or `/rtc` request) besides the room: `config` (checked field
/// by field), and what the job hands to its worker as given: `webhookUrl`, `awsDirPath`,
/// `transcription`, and for livestreams the required `outputs`.
struct StartRequest {
    var config: MediaRequest
    /// Kept with the job for its worker.
    var extras: [JSONMember] = []
    /// The start asks for transcription alongside (`transcription.enabled: true`).
    var transcription = false

    /// `allowPrivateWebhooks`: `--webhook-allow-private` (a `webhookUrl` may then name any host).
    init(_ kind: JobKind, _ body: JSONValue, allowPrivateWebhooks: Bool = false) throws(JobFailure) {
        func bad(_ message: String, code: ErrorCode? = nil) -> JobFailure {
            JobFailure(status: .badRequest, code: code, rtcCode: code ?? kind.startCode, message: message)
        }
        do throws(SettingsError) {
            config = try MediaRequest(config: body["config"])
        } catch {
            throw bad(error.message)
        }
        if let value = body["webhookUrl"], value != .null {
            guard let url = value.stringValue else { throw bad("`webhookUrl` must be an http(s) URL of at most 2048 bytes.") }
            if case .failure(let refusal) = WebhookTarget.check(url, allowPrivate: allowPrivateWebhooks) {
                throw bad("`webhookUrl` \(refusal.message).")
            }
            extras.append(JSONMember("webhookUrl", value))
        }
        if let value = body["awsDirPath"], value != .null {
            guard let path = value.stringValue, !path.isEmpty, path.utf8.count <= 1024 else {
                throw bad("`awsDirPath` must be a path of 1 to 1024 bytes.")
            }
            extras.append(JSONMember("awsDirPath", value))
        }
        if let value = body["transcription"], value != .null {
            guard case .object = value, value.jsonText.utf8.count <= 4096 else {
                throw bad("`transcription` must be an object such as {\"enabled\": true}.")
            }
            if let enabled = value["enabled"] {
                guard case .bool(let flag) = enabled else { throw bad("`transcription.enabled` must be true or false.") }
                transcription = flag
            }
            extras.append(JSONMember("transcription", value))
        }
        if kind == .livestream {
            let outputs = body["outputs"]
            guard case .array(let items)? = outputs, (1...10).contains(items.count),
                items.allSatisfy({ item in
                    guard case .object = item, let url = item["url"]?.stringValue, let key = item["streamKey"]?.stringValue else { return false }
                    return (url.hasPrefix("rtmp://") || url.hasPrefix("rtmps://")) && url.utf8.count <= 2048 && key.utf8.count <= 1024
                })
            else {
                throw bad(
                    "`outputs` must list 1 to 10 objects {\"url\": \"rtmp(s)://...\", \"streamKey\": \"...\"}.",
                    code: .invalidLivestreamConfig)
            }
            extras.append(JSONMember("outputs", outputs!))
        }
    }
}

/// A worker's report (`POST /admin/v1/jobs/:id/status`).
struct StatusReport {
    var status: JobStatus
    var fileUrl: String?
    var playbackHlsUrl: String?
    var livestreamUrl: String?
    var error: String?

    init(_ body: JSONValue) throws(APIError) {
        guard let name = body["status"]?.stringValue, let status = JobStatus(rawValue: name), status != .starting else {
            throw APIError.badRequest("`status` must be one of started, playable, stopping, stopped, failed.")
        }
        self.status = status
        func text(_ key: String, limit: Int) throws(APIError) -> String? {
            guard let value = body[key], value != .null else { return nil }
            guard let text = value.stringValue, !text.isEmpty, text.utf8.count <= limit else {
                throw APIError.badRequest("`\(key)` must be a string of 1 to \(limit) bytes.")
            }
            return text
        }
        fileUrl = try text("fileUrl", limit: 2048)
        playbackHlsUrl = try text("playbackHlsUrl", limit: 2048)
        livestreamUrl = try text("livestreamUrl", limit: 2048)
        error = try text("error", limit: 1000)
    }
}

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
