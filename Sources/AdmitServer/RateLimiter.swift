import Foundation
import Synchronization

/// A token bucket per client: `perMinute` requests a minute, refilled continuously.
final class RateLimiter: Sendable {
    private struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    private let perMinute: Int
    private let buckets = Mutex<[String: Bucket]>([:])

    init(perMinute: Int) {
        self.perMinute = perMinute
    }

    /// Whether `client` may make one more request now.
    func allow(_ client: String, now: ContinuousClock.Instant = .now) -> Bool {
        let capacity = Double(perMinute)
        return buckets.withLock { buckets in
            if buckets.count > 10_000 { buckets.removeAll() }  // bounded memory under address churn
            var bucket = buckets[client] ?? Bucket(tokens: capacity, updated: now)
            let elapsed = Double((now - bucket.updated).components.seconds) + Double((now - bucket.updated).components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + elapsed * capacity / 60)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[client] = bucket
            return allowed
        }
    }
}
