/// How many requests one `/rtc` connection may send (CONTRACT.md section 4: about 50 a second
/// with bursts of 100): a token bucket, and a second, leaky count of the requests it refused.
/// A client a little over the rate only loses the requests over it; one that keeps far over
/// it (refusals piling up faster than they leak away, past a burst's worth) is closed.
/// A value type with time passed in, so tests drive it without clocks.
public struct RequestBudget: Sendable, Equatable {
    public enum Decision: Sendable, Hashable {
        /// Carry the request out.
        case allowed
        /// Refuse this request (4029), keep the connection.
        case refused
        /// Close the connection (WebSocket close code 4029).
        case close
    }

    public let perSecond: Double
    public let burst: Double
    private var tokens: Double
    private var refusals: Double = 0
    private var updated: Double?

    public init(perSecond: Int = 50, burst: Int = 100) {
        self.perSecond = Double(max(1, perSecond))
        self.burst = Double(max(1, burst))
        self.tokens = self.burst
    }

    /// One request at `now` (seconds on any monotonic clock).
    public mutating func take(now: Double) -> Decision {
        let elapsed = max(0, now - (updated ?? now))
        updated = now
        tokens = min(burst, tokens + elapsed * perSecond)
        refusals = max(0, refusals - elapsed * perSecond)
        if tokens >= 1 {
            tokens -= 1
            return .allowed
        }
        refusals += 1
        return refusals > burst ? .close : .refused
    }
}
