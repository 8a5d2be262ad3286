import Foundation
import Prometheus
import Synchronization

/// The server's Prometheus metrics, in a registry of its own (no global bootstrap, so
/// several applications in one test process do not collide).
final class Metrics: Sendable {
    let registry = PrometheusCollectorRegistry()
    private static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5), .milliseconds(5),
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
    ]

    // The metric names, each with the help line the exposition shows.
    private static var requests: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "admit", metricName: "http_requests", unitName: "total",
            helpText: "HTTP requests answered, by method, route template and status.")
    }
    private static var requestDuration: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "admit", metricName: "http_request_duration", unitName: "seconds",
            helpText: "Time to answer an HTTP request, by method and route template.")
    }
    private static var verifications: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "admit", metricName: "token_verifications", unitName: "total",
            helpText: "Token verifications, by outcome: valid, missing, or the refusal's reason.")
    }
    private static var webhooks: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "admit", metricName: "webhooks", unitName: "total",
            helpText:
                "Webhook deliveries, by outcome: delivered, failed (after every attempt), refused (internal target), dropped (too many in flight).")
    }
    private static var connectionsExpired: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "admit", metricName: "connections_expired", unitName: "total",
            helpText: "Connections closed by a limit, by limit: head-timeout, idle-timeout, ping-timeout, unread-events.")
    }
    private static var rtcRateLimited: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "admit", metricName: "rtc_requests_refused", unitName: "total",
            helpText: "/rtc requests refused for going over the per-connection rate (4029).")
    }
    private static var jobTransitions: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "admit", metricName: "job_transitions", unitName: "total", helpText: "Job state changes, by kind and new status.")
    }

    private struct RequestKey: Hashable {
        var method: String
        var route: String
        var status: Int
    }

    /// The registry validates names on every lookup: keep the handles instead.
    private let requestMetrics = Mutex<[RequestKey: (Counter, DurationHistogram)]>([:])
    private let verificationCounters = Mutex<[String: Counter]>([:])
    private let webhookCounters = Mutex<[String: Counter]>([:])
    private let jobCounters = Mutex<[String: Counter]>([:])
    private let expiryCounters = Mutex<[String: Counter]>([:])

    private let rtcCounters = Mutex<[String: Counter]>([:])

    /// A connection closed by a limit: a time limit (`ConnectionDeadlines.Expiry`), or
    /// `unread-events` (a meeting client that stopped reading, `FrameOutlet.maxBacklog`).
    func connectionExpired(_ reason: String) {
        count(expiryCounters, reason) { registry.makeCounter(descriptor: Self.connectionsExpired, labels: [("reason", reason)]) }
    }

    /// An `/rtc` request refused by the per-connection rate limit.
    func rtcRequestRefused() {
        count(rtcCounters, "") { registry.makeCounter(descriptor: Self.rtcRateLimited) }
    }

    /// One request answered: counted by method, route template and status; timed by route template.
    func request(method: String, route: String, status: Int, duration: Duration) {
        let (counter, histogram) = requestHandles(method: method, route: route, status: status)
        counter.increment()
        histogram.record(duration)
    }

    /// The counter and histogram of `request(method:route:status:duration:)`, for a caller
    /// that records the same kind of request often and keeps them.
    func requestHandles(method: String, route: String, status: Int) -> (Counter, DurationHistogram) {
        let key = RequestKey(method: method, route: route, status: status)
        return requestMetrics.withLock { metrics in
            if let found = metrics[key] { return found }
            let made = (
                registry.makeCounter(
                    descriptor: Self.requests, labels: [("method", method), ("route", route), ("status", String(status))]),
                registry.makeDurationHistogram(
                    descriptor: Self.requestDuration, labels: [("method", method), ("route", route)], buckets: Self.buckets)
            )
            metrics[key] = made
            return made
        }
    }

    /// One token verification, by outcome: `valid`, `missing`, or the refusal's reason.
    func verification(_ outcome: String) {
        count(verificationCounters, outcome) { registry.makeCounter(descriptor: Self.verifications, labels: [("outcome", outcome)]) }
    }

    /// One webhook delivery, by outcome: `delivered` or `failed` (after every attempt).
    func webhook(_ outcome: String) {
        count(webhookCounters, outcome) { registry.makeCounter(descriptor: Self.webhooks, labels: [("outcome", outcome)]) }
    }

    /// One job state change, by kind and new status (`starting` counts the starts).
    func job(kind: String, status: String) {
        count(jobCounters, "\(kind)|\(status)") {
            registry.makeCounter(descriptor: Self.jobTransitions, labels: [("kind", kind), ("status", status)])
        }
    }

    /// Increments the counter cached under `key`, made by `make` on first use.
    private func count(_ cache: borrowing Mutex<[String: Counter]>, _ key: String, make: () -> Counter) {
        let counter = cache.withLock { counters in
            if let found = counters[key] { return found }
            let made = make()
            counters[key] = made
            return made
        }
        counter.increment()
    }

    // MARK: Several nodes (issue 14)

    private static func gauge(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "admit", metricName: name, unitName: "", helpText: help)
    }

    private static var relayedConnections: MetricNameDescriptor {
        gauge(
            "relayed_connections",
            "Connections to this node relayed to their room's owner (out), and participants relayed here (in).")
    }

    private static var relayLagDescriptor: MetricNameDescriptor {
        MetricNameDescriptor(
            namespace: "admit", metricName: "relay_lag", unitName: "seconds",
            helpText: "Time from another node sending a message to this node receiving it (the senders' clocks).")
    }
    private let relayLagHistogram = Mutex<DurationHistogram?>(nil)
    private let clusterGauges = Mutex<(owned: Gauge, relaysOut: Gauge, relaysIn: Gauge)?>(nil)

    /// This node's id, as `admit_node_info{node="..."} 1`.
    func node(_ id: String) {
        registry.makeGauge(descriptor: Self.gauge("node_info", "This node's id (--node-id)."), labels: [("node", id)]).set(to: 1.0)
        cluster(ownedRooms: 0, relays: (0, 0))
    }

    /// Rooms whose meeting this node owns, connections relayed to other nodes, participants relayed from them.
    func cluster(ownedRooms: Int, relays: (out: Int, in: Int)) {
        let gauges = clusterGauges.withLock { gauges in
            if let gauges { return gauges }
            let made = (
                registry.makeGauge(descriptor: Self.gauge("rooms_owned", "Rooms whose live meeting this node owns (holds the lease of).")),
                registry.makeGauge(descriptor: Self.relayedConnections, labels: [("direction", "out")]),
                registry.makeGauge(descriptor: Self.relayedConnections, labels: [("direction", "in")])
            )
            gauges = made
            return made
        }
        gauges.owned.set(to: Double(ownedRooms))
        gauges.relaysOut.set(to: Double(relays.out))
        gauges.relaysIn.set(to: Double(relays.in))
    }

    /// One message's time from another node.
    func relayLag(_ seconds: TimeInterval) {
        let histogram = relayLagHistogram.withLock { histogram in
            if let histogram { return histogram }
            let made = registry.makeDurationHistogram(descriptor: Self.relayLagDescriptor, buckets: Self.buckets)
            histogram = made
            return made
        }
        histogram.recordNanoseconds(Int64((max(0, min(seconds, 3600)) * 1e9).rounded()))
    }

    /// The Prometheus text exposition.
    func render() -> [UInt8] {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return buffer
    }
}
