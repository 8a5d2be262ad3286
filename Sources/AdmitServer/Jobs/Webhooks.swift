import AdmitApp
import AdmitStore
import AdmitToken
import Foundation
import Logging
import Synchronization

/// Sends webhooks: `{"webhookType": "recording-started", "data": {...}}` by POST to a job's
/// `webhookUrl` (every event of that job) and to the room's `webhook.endPoint` (the events its
/// `events` list names). Each delivery is signed with the API key's current secret:
/// `X-Admit-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. Deliveries run in
/// the background with a 5 s timeout and up to 3 attempts; a failure is logged and counted, and
/// never delays a meeting or a job. Targets must be public (`WebhookTarget`), checked again on
/// the resolved address at delivery, and redirects are never followed (`WebhookClient`).
struct Webhooks: Sendable {
    let keyRing: KeyRing
    let metrics: Metrics
    let logger: Logger
    /// `--webhook-allow-private`: deliveries may reach loopback and private addresses (local development).
    var allowPrivate = false
    /// Seconds between attempts (tests shorten it).
    var retryDelays: [Double] = [1, 5]

    /// Posts `event` with `data` to each URL, in the background.
    func send(_ event: String, apiKey: String, data: JSONValue, to urls: [String]) {
        guard !urls.isEmpty, let secret = keyRing.signingSecret(for: apiKey) else { return }
        let body = Array(JSONValue.object([JSONMember("webhookType", .string(event)), JSONMember("data", data)]).jsonText.utf8)
        let time = String(Int64(Date().timeIntervalSince1970.rounded(.down)))
        let signature = secret.authenticationCode(for: Array("\(time).".utf8) + body).map { String(format: "%02x", $0) }.joined()
        let headers = [("Content-Type", "application/json"), ("X-Admit-Signature", "t=\(time),v1=\(signature)")]
        for url in urls {
            // Checked again here: a URL stored before the rule, or by a server that allowed private targets.
            guard case .success(let target) = WebhookTarget.check(url, allowPrivate: allowPrivate) else {
                metrics.webhook("refused")
                logger.warning("webhook target refused", metadata: ["event": "\(event)"])
                continue
            }
            guard Self.inFlight.enter() else {
                // A burst beyond what receivers answer: dropped and counted, never queued without bound.
                metrics.webhook("dropped")
                logger.warning("webhook dropped: too many deliveries in flight", metadata: ["event": "\(event)"])
                continue
            }
            Task {
                await deliver(target, headers: headers, body: body, event: event)
                Self.inFlight.leave()
            }
        }
    }

    /// Deliveries under way, across keys: at most `DeliveryGate.limit`.
    static let inFlight = DeliveryGate()

    private func deliver(_ target: WebhookTarget, headers: [(String, String)], body: [UInt8], event: String) async {
        for attempt in 0...retryDelays.count {
            if attempt > 0 { try? await Task.sleep(for: .seconds(retryDelays[attempt - 1])) }
            do {
                let status = try await WebhookClient.post(target, headers: headers, body: body, allowPrivate: allowPrivate)
                if (200..<300).contains(status) {
                    metrics.webhook("delivered")
                    return
                }
            } catch let failure as WebhookClient.Failure where failure.refusal == .privateAddress {
                // The name resolves to an internal address: no retry changes that.
                metrics.webhook("refused")
                logger.warning("webhook target refused", metadata: ["event": "\(event)", "host": "\(target.host)"])
                return
            } catch {}
        }
        metrics.webhook("failed")
        // The URL's host only: paths and queries may carry the receiver's own tokens.
        logger.warning("webhook not delivered", metadata: ["event": "\(event)", "host": "\(target.host)"])
    }
}

/// Counts deliveries in flight (each holds a task, and at times a resolver thread).
final class DeliveryGate: Sendable {
    static let limit = 256
    private let count = Mutex(0)

    func enter() -> Bool {
        count.withLock { count in
            guard count < Self.limit else { return false }
            count += 1
            return true
        }
    }

    func leave() {
        count.withLock { $0 = max(0, $0 - 1) }
    }
}
