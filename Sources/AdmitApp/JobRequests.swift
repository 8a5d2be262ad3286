package import AdmitCore
package import AdmitToken

/// The fields of a start (REST body or `/rtc` request) besides the room: `config` (checked field
/// by field), and what the job hands to its worker as given: `webhookUrl`, `awsDirPath`,
/// `transcription`, and for livestreams the required `outputs`.
package struct StartRequest {
    var config: MediaRequest
    /// Kept with the job for its worker.
    var extras: [JSONMember] = []
    /// The start asks for transcription alongside (`transcription.enabled: true`).
    var transcription = false

    /// `webhookRefusal`: why a `webhookUrl` is refused (nil: accepted), by the server's address rules.
    package init(_ kind: JobKind, _ body: JSONValue, webhookRefusal: (String) -> String? = { _ in nil }) throws(AppError) {
        func bad(_ message: String, code: ErrorCode? = nil) -> AppError {
            AppError(.invalid, message, code: code)
        }
        do throws(SettingsError) {
            config = try MediaRequest(config: body["config"])
        } catch {
            throw bad(error.message)
        }
        if let value = body["webhookUrl"], value != .null {
            guard let url = value.stringValue else { throw bad("`webhookUrl` must be an http(s) URL of at most 2048 bytes.") }
            if let refusal = webhookRefusal(url) { throw bad("`webhookUrl` \(refusal).") }
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
package struct StatusReport {
    package var status: JobStatus
    var fileUrl: String?
    var playbackHlsUrl: String?
    var livestreamUrl: String?
    var error: String?

    package init(_ body: JSONValue) throws(AppError) {
        guard let name = body["status"]?.stringValue, let status = JobStatus(rawValue: name), status != .starting else {
            throw AppError.invalid("`status` must be one of started, playable, stopping, stopped, failed.")
        }
        self.status = status
        func text(_ key: String, limit: Int) throws(AppError) -> String? {
            guard let value = body[key], value != .null else { return nil }
            guard let text = value.stringValue, !text.isEmpty, text.utf8.count <= limit else {
                throw AppError.invalid("`\(key)` must be a string of 1 to \(limit) bytes.")
            }
            return text
        }
        fileUrl = try text("fileUrl", limit: 2048)
        playbackHlsUrl = try text("playbackHlsUrl", limit: 2048)
        livestreamUrl = try text("livestreamUrl", limit: 2048)
        error = try text("error", limit: 1000)
    }
}
