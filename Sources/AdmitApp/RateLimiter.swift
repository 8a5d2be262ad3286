import Foundation
import Synchronization

/// A token bucket per client: `perMinute` requests a minute, refilled continuously.
///
/// At most `capacity` clients are tracked; past that the one seen least recently is
/// forgotten (LRU), one at a time. A forgotten client starts again with a full bucket,
/// which is what an idle one would have anyway, while every busy client keeps its state:
/// an attacker cycling through addresses cannot reset the others' buckets.
package final class RateLimiter: Sendable {
    private struct Entry {
        var key: String
        var tokens: Double
        var updated: ContinuousClock.Instant
        /// Neighbours in recency order (indices into `entries`; -1 for none).
        var newer: Int
        var older: Int
    }

    private struct State {
        var index: [String: Int] = [:]
        var entries: [Entry] = []
        var newest = -1
        var oldest = -1
    }

    private let perMinute: Int
    package let capacity: Int
    private let state = Mutex(State())

    package init(perMinute: Int, capacity: Int = 10_000) {
        self.perMinute = perMinute
        self.capacity = max(1, capacity)
    }

    /// Clients tracked now.
    package var count: Int { state.withLock { $0.index.count } }

    /// Whether `client` may make one more request now.
    package func allow(_ client: String, now: ContinuousClock.Instant = .now) -> Bool {
        let capacity = Double(perMinute)
        return state.withLock { state in
            let slot: Int
            if let found = state.index[client] {
                slot = found
                Self.unlink(&state, slot)
            } else if state.entries.count < self.capacity {
                slot = state.entries.count
                state.entries.append(Entry(key: client, tokens: capacity, updated: now, newer: -1, older: -1))
                state.index[client] = slot
            } else {
                // Reuse the least recently seen client's slot.
                slot = state.oldest
                Self.unlink(&state, slot)
                state.index.removeValue(forKey: state.entries[slot].key)
                state.entries[slot] = Entry(key: client, tokens: capacity, updated: now, newer: -1, older: -1)
                state.index[client] = slot
            }
            // In place: copying the entry out would copy (and retain) its key.
            let elapsed = now - state.entries[slot].updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let tokens = min(capacity, state.entries[slot].tokens + max(0, seconds) * capacity / 60)
            let allowed = tokens >= 1
            state.entries[slot].tokens = allowed ? tokens - 1 : tokens
            state.entries[slot].updated = now
            Self.pushNewest(&state, slot)
            return allowed
        }
    }

    /// Returns one request to `client`'s bucket (a request that was counted but did not happen).
    package func giveBack(_ client: String) {
        let capacity = Double(perMinute)
        state.withLock { state in
            guard let slot = state.index[client] else { return }
            state.entries[slot].tokens = min(capacity, state.entries[slot].tokens + 1)
        }
    }

    private static func unlink(_ state: inout State, _ slot: Int) {
        let entry = state.entries[slot]
        if entry.newer >= 0 { state.entries[entry.newer].older = entry.older } else { state.newest = entry.older }
        if entry.older >= 0 { state.entries[entry.older].newer = entry.newer } else { state.oldest = entry.newer }
        state.entries[slot].newer = -1
        state.entries[slot].older = -1
    }

    private static func pushNewest(_ state: inout State, _ slot: Int) {
        state.entries[slot].older = state.newest
        state.entries[slot].newer = -1
        if state.newest >= 0 { state.entries[state.newest].newer = slot }
        state.newest = slot
        if state.oldest < 0 { state.oldest = slot }
    }
}
