package import AdmitCore
package import AdmitToken
import Foundation

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
            extras.append(JSONMember("outputs", .array(items)))
        }
    }
}

/// A worker's report (`POST /admin/v1/jobs/:id/status`).
package struct StatusReport {
    package var status: JobStatus
    var fileUrl: String?
    package var playbackHlsUrl: String?
    package var livestreamUrl: String?
    var error: String?
    /// The file the job produced: `meta` (an object), `filePath`, `size` (bytes), `type`, `fileUrl`, in that order.
    var file: [JSONMember]?

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
        fileUrl = try Self.url(text("fileUrl", limit: 2048), "fileUrl")
        playbackHlsUrl = try Self.url(text("playbackHlsUrl", limit: 2048), "playbackHlsUrl")
        livestreamUrl = try Self.url(text("livestreamUrl", limit: 2048), "livestreamUrl")
        error = try text("error", limit: 1000)
        if let value = body["file"], value != .null {
            file = try Self.file(value)
        }
    }

    /// A reported URL: Admit hands it to players (the HLS ones by redirect), so only an absolute
    /// http(s) URL with a host, of visible ASCII, is taken.
    private static func url(_ text: String?, _ name: String) throws(AppError) -> String? {
        guard let text else { return nil }
        guard text.utf8.allSatisfy({ (0x21...0x7E).contains($0) }), let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https", components.host?.isEmpty == false
        else {
            throw AppError.invalid("`\(name)` must be an absolute http or https URL.")
        }
        return text
    }

    /// A reported file, checked field by field; fields it leaves out are null.
    private static func file(_ value: JSONValue) throws(AppError) -> [JSONMember] {
        guard case .object(let members) = value else {
            throw AppError.invalid("`file` must be an object {meta, filePath, size, type, fileUrl}.")
        }
        let known = ["meta", "filePath", "size", "type", "fileUrl"]
        // `id` is Admit's: a worker sending back the file it read from the list is not refused for it.
        if let unknown = members.first(where: { !known.contains($0.key) && $0.key != "id" }) {
            throw AppError.invalid("`file.\(unknown.key)` is not a file field (meta, filePath, size, type, fileUrl).")
        }
        var out: [JSONMember] = []
        for key in known {
            let field = value[key] ?? .null
            switch (key, field) {
            case (_, .null):
                break
            case ("meta", .object):
                guard field.jsonText.utf8.count <= 4096 else { throw AppError.invalid("`file.meta` must be at most 4096 bytes of JSON.") }
            case ("size", _):
                guard let size = field.integerValue, size >= 0 else { throw AppError.invalid("`file.size` must be a whole number of bytes.") }
                out.append(JSONMember(key, .number(String(size))))  // 1e3 and 1000.0 are shown as 1000
                continue
            case ("filePath", .string(let text)), ("type", .string(let text)), ("fileUrl", .string(let text)):
                guard !text.isEmpty, text.utf8.count <= 2048 else { throw AppError.invalid("`file.\(key)` must be a string of 1 to 2048 bytes.") }
                if key == "fileUrl" { _ = try url(text, "file.fileUrl") }
            default:
                throw AppError.invalid(key == "meta" ? "`file.meta` must be an object." : "`file.\(key)` must be a string of 1 to 2048 bytes.")
            }
            out.append(JSONMember(key, field))
        }
        return out
    }
}
