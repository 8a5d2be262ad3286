import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird

extension JobRecord {
    /// The job as the API shows it: `id`, `status`, `start` and `end`, the resolved `config` (each
    /// value with its source), the worker's URLs and `file`, and what the start asked for. The
    /// workers' view adds `action` (what to do now: `start`, `stop`, or null), `kind` and `apiKey`.
    /// HLS jobs always carry their URLs: Admit's own (`links`) until a worker reports others.
    /// Workers see what was reported (null until then), so they never take Admit's for theirs.
    func json(links: PublicLinks, worker: Bool = false, action: String? = nil) -> JSONValue {
        var members: [JSONMember] = [JSONMember("id", .string(id))]
        if worker {
            members += [
                JSONMember("action", action.map(JSONValue.string) ?? .null), JSONMember("kind", .string(kind)), JSONMember("apiKey", .string(apiKey)),
            ]
        }
        members += [
            JSONMember("roomId", .string(roomId)), JSONMember("sessionId", .string(sessionId)), JSONMember("status", .string(status)),
            JSONMember("start", .string(createdAt.iso8601)), JSONMember("end", endedAt.map { .string($0.iso8601) } ?? .null),
            JSONMember("config", (try? JSONValue(parsing: config)) ?? .object([])),
        ]
        if kind == "hls", !worker {
            let playback = playbackHlsUrl ?? links.hlsPlayback(jobId: id)
            members += [
                JSONMember("downstreamUrl", .string(playback)), JSONMember("playbackHlsUrl", .string(playback)),
                JSONMember("livestreamUrl", .string(livestreamUrl ?? links.hlsLive(jobId: id))),
            ]
        } else {
            // The reported URLs; a worker's view of an HLS job shows both, null until reported.
            let urls = [("fileUrl", fileUrl), ("playbackHlsUrl", playbackHlsUrl), ("livestreamUrl", livestreamUrl)]
            for (name, value) in urls where value != nil || (kind == "hls" && name != "fileUrl") {
                members.append(JSONMember(name, value.map(JSONValue.string) ?? .null))
            }
        }
        if let file, let parsed = try? JSONValue(parsing: file) { members.append(JSONMember("file", parsed)) }
        if let error { members.append(JSONMember("error", .string(error))) }
        if case .object(let extras)? = try? JSONValue(parsing: request) {
            // Stream keys are credentials for the RTMP endpoints: only workers (admin credential) see them.
            members += worker ? extras : extras.map { $0.key == "outputs" ? JSONMember("outputs", Self.redactingStreamKeys($0.value)) : $0 }
        }
        members += [JSONMember("createdAt", .string(createdAt.iso8601)), JSONMember("updatedAt", .string(updatedAt.iso8601))]
        return .object(members)
    }

    /// `POST /v2/hls/start`'s answer, as VideoSDK documents it: where the stream will play,
    /// known at start (Admit's own URLs, which redirect to the worker's playlist once it has one).
    func hlsStarted(links: PublicLinks) -> JSONValue {
        let playback = links.hlsPlayback(jobId: id)
        return .object([
            JSONMember("sessionId", .string(sessionId)), JSONMember("start", .string(createdAt.iso8601)), JSONMember("roomId", .string(roomId)),
            JSONMember("links", links.roomLinks(roomId)),
            JSONMember("downstreamUrl", .string(playback)), JSONMember("playbackHlsUrl", .string(playback)),
            JSONMember("livestreamUrl", .string(links.hlsLive(jobId: id))), JSONMember("id", .string(id)),
        ])
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
