import AdmitApp
import AdmitStore
import AdmitToken
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import Prometheus

/// Puts `FastPath` at the front of each connection's pipeline, then sets the connection up
/// as `inner` does.
struct FastPathChannel<Inner: ServerChildChannel>: ServerChildChannel {
    typealias Value = Inner.Value

    let inner: Inner
    let dependencies: FastPath.Dependencies
    /// The connection's time limits; nil leaves connections without them.
    var limits: ConnectionDeadlines.Limits?

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        do {
            let metrics = dependencies.services.metrics
            let deadlines = limits.map { ConnectionDeadlines(limits: $0) { metrics.connectionExpired($0.rawValue) } }
            // Front to back: the fast path (it tells the deadlines of its own reads and answers
            // directly), the deadlines (which see everything once the fast path has handed over), the codec.
            if let deadlines { try channel.pipeline.syncOperations.addHandler(deadlines, position: .first) }
            try channel.pipeline.syncOperations.addHandler(FastPath(dependencies, deadlines: deadlines), position: .first)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
        return inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Value, logger: Logger) async {
        await inner.handle(value: value, logger: logger)
    }
}

/// The `Date` header's text (RFC 9110 IMF-fixdate), made once per second.
struct HTTPDate {
    private var second = 0
    private var text = ""

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    mutating func now() -> String {
        var seconds = time(nil)
        if seconds != second {
            var parts = tm()
            gmtime_r(&seconds, &parts)
            func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
            text =
                "\(Self.days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(Self.months[Int(parts.tm_mon)]) \(1900 + parts.tm_year) "
                + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
            second = seconds
        }
        return text
    }
}
