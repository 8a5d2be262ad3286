import AdmitToken
import Foundation
import Synchronization

/// The absolute URLs in answers (`links`, HLS playback, signalling), built from the server's
/// public base URL: `--public-url`, or `http://HOST:PORT` from where it listens. Behind a
/// reverse proxy the operator sets `--public-url` to the address clients use.
final class PublicLinks: Sendable {
    /// Scheme, host, port and any path prefix; no trailing slash.
    var base: String { current.withLock { $0 } }
    private let current: Mutex<String>
    /// Set by `--public-url`: the port the server binds does not change it.
    private let fixed: Bool
    private let listening: String

    /// `base` must have passed `refusal(of:)`; its scheme and host are written in lower case.
    init(base: String) {
        var base = base
        if var components = URLComponents(string: base) {
            components.scheme = components.scheme?.lowercased()
            components.host = components.host?.lowercased()
            base = components.string ?? base
        }
        while base.hasSuffix("/") { base.removeLast() }
        current = Mutex(base)
        fixed = true
        listening = ""
    }

    /// The base for a server listening on `host`:`port`: a wildcard address becomes `localhost`
    /// (reachable from this machine only: set `--public-url` for others), IPv6 goes in brackets.
    init(host: String, port: Int) {
        listening =
            switch host {
            case "0.0.0.0", "::", "[::]", "": "localhost"
            default: host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
            }
        current = Mutex("http://\(listening):\(port)")
        fixed = false
    }

    /// The port the server bound (port 0 asks the system for one): the default base names it.
    func bound(port: Int) {
        guard !fixed else { return }
        current.withLock { $0 = "http://\(listening):\(port)" }
    }

    /// Why `text` cannot be a public base URL (nil: it can): an absolute http(s) URL with a
    /// host, no query, fragment or credentials.
    static func refusal(of text: String) -> String? {
        guard let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = components.host, !host.isEmpty
        else { return "must be an absolute http or https URL, such as https://meet.example.com" }
        if components.query != nil || components.fragment != nil { return "must not have a query or a fragment" }
        if components.user != nil || components.password != nil { return "must not carry credentials" }
        return nil
    }

    /// The `links` object of answers about a room: the room, and the room's sessions.
    func roomLinks(_ roomId: String) -> JSONValue {
        .object([JSONMember("get_room", .string(room(roomId))), JSONMember("get_session", .string(sessions(roomId: roomId)))])
    }

    /// Whether `url` names this server's HLS playback route (a worker reporting it back would
    /// make the route redirect to itself): same host and port, any letter case, under `/hls/`.
    func isOwnPlayback(_ url: String) -> Bool {
        guard let given = URLComponents(string: url), let own = URLComponents(string: base) else { return false }
        let ownPath = own.path.hasSuffix("/") ? String(own.path.dropLast()) : own.path
        return given.host?.lowercased() == own.host?.lowercased() && given.port == own.port
            && given.path.lowercased().hasPrefix((ownPath + "/hls/").lowercased())
    }

    /// `GET /v2/rooms/:roomId`.
    func room(_ roomId: String) -> String { "\(base)/v2/rooms/\(Self.segment(roomId))" }

    /// `GET /v2/sessions/?roomId=`: the room's sessions.
    func sessions(roomId: String) -> String { "\(base)/v2/sessions/?roomId=\(Self.queryValue(roomId))" }

    /// Where an HLS job's stream is played from: Admit redirects it to the worker's playlist.
    func hlsPlayback(jobId: String) -> String { "\(base)/hls/\(Self.segment(jobId))/index.m3u8" }

    /// The low-latency variant of the same stream (the worker's `livestreamUrl`).
    func hlsLive(jobId: String) -> String { "\(base)/hls/\(Self.segment(jobId))/live.m3u8" }

    /// The base without its scheme (`meet.example.com`, `127.0.0.1:8080`): the SDK preflights'
    /// `baseUrl`, which the official SDKs read as a host to open `wss://{baseUrl}/...` on.
    var baseWithoutScheme: String {
        let base = base
        if let range = base.range(of: "://") { return String(base[range.upperBound...]) }
        return base
    }

    /// The `/rtc` WebSocket, for the SDK preflights' `signalingUrl`.
    var signaling: String {
        let base = base
        let socket = base.hasPrefix("https://") ? "wss://" + base.dropFirst(8) : "ws://" + base.dropFirst(base.hasPrefix("http://") ? 7 : 0)
        return socket + "/rtc"
    }

    /// RFC 3986's unreserved characters, ASCII only.
    private static let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

    private static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? text
    }

    private static func queryValue(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: Self.unreserved) ?? text
    }
}
