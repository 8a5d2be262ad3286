import AdmitStore
import AdmitToken
import Foundation
import Logging

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// Sends webhooks: `{"webhookType": "recording-started", "data": {...}}` by POST to a job's
/// `webhookUrl` (every event of that job) and to the room's `webhook.endPoint` (the events its
/// `events` list names). Each delivery is signed with the API key's current secret:
/// `X-Admit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Deliveries run in
/// the background with a 5 s timeout and up to 3 attempts; a failure is logged and counted, and
/// never delays a meeting or a job.
struct Webhooks: Sendable {
    let keyRing: KeyRing
    let metrics: Metrics
    let logger: Logger
    /// Seconds between attempts (tests shorten it).
    var retryDelays: [Double] = [1, 5]

    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = 5
        configuration.timeoutIntervalForResource = 10
        configuration.httpCookieStorage = nil
        configuration.urlCache = nil
        return URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }()

    /// The URLs an event goes to: the job's own URL, and the room's endpoint when it subscribed.
    static func targets(event: String, jobURL: String?, room: RoomRecord?) -> [String] {
        var urls: [String] = []
        if let jobURL { urls.append(jobURL) }
        if let text = room?.webhook, let hook = try? JSONValue(parsing: text), let endPoint = hook["endPoint"]?.stringValue,
            case .array(let events)? = hook["events"], events.contains(.string(event)), !urls.contains(endPoint)
        {
            urls.append(endPoint)
        }
        return urls
    }

    /// Whether the room's webhook wants `participant-joined` or `participant-left` (the hub then
    /// tracks who comes and goes in that room; other rooms pay nothing for it).
    static func subscribesToParticipants(_ room: RoomRecord?) -> Bool {
        !targets(event: "participant-joined", jobURL: nil, room: room).isEmpty || !targets(event: "participant-left", jobURL: nil, room: room).isEmpty
    }

    /// Posts `event` with `data` to each URL, in the background.
    func send(_ event: String, apiKey: String, data: JSONValue, to urls: [String]) {
        guard !urls.isEmpty, let secret = keyRing.signingSecret(for: apiKey) else { return }
        let body = Array(JSONValue.object([JSONMember("webhookType", .string(event)), JSONMember("data", data)]).jsonText.utf8)
        let time = String(Int(Date().timeIntervalSince1970))
        let signature = secret.authenticationCode(for: Array("\(time).".utf8) + body).map { String(format: "%02x", $0) }.joined()
        for url in urls {
            guard let target = URL(string: url) else { continue }
            var request = URLRequest(url: target)
            request.httpMethod = "POST"
            request.httpBody = Data(body)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.setValue("t=\(time),v1=\(signature)", forHTTPHeaderField: "X-Admit-Signature")
            Task { await deliver(request, event: event) }
        }
    }

    private func deliver(_ request: URLRequest, event: String) async {
        for attempt in 0...retryDelays.count {
            if attempt > 0 { try? await Task.sleep(for: .seconds(retryDelays[attempt - 1])) }
            if let (_, response) = try? await Self.session.data(for: request), let http = response as? HTTPURLResponse,
                (200..<300).contains(http.statusCode)
            {
                metrics.webhook("delivered")
                return
            }
        }
        metrics.webhook("failed")
        // The URL's host only: paths and queries may carry the receiver's own tokens.
        logger.warning("webhook not delivered", metadata: ["event": "\(event)", "host": "\(request.url?.host ?? "")"])
    }
}

/// Webhooks never follow redirects: a receiver cannot bounce a signed delivery to another
/// address (an internal one, say). A redirect counts as a failed attempt.
private final class NoRedirects: NSObject, URLSessionTaskDelegate, Sendable {
    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse, newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }
}
