import Crypto
import Foundation
import Synchronization

/// The dashboard's server-side sessions (CONTRACT.md section 8). Signing in with the admin
/// credential makes a session: a random id in an `HttpOnly` cookie (kept here only as its
/// SHA-256, so the table holds nothing a cookie could be rebuilt from) and a CSRF token the page
/// reads from `GET /dashboard/api/session` and sends with every change. Sessions expire (12
/// hours by default) and end at sign-out. Failed sign-ins are counted per address: the fifth
/// within a minute blocks every sign-in from that address for a minute, the right credential
/// included. Both tables are bounded.
final class DashboardSessions: Sendable {
    struct Session: Sendable {
        var csrf: String
        var expires: ContinuousClock.Instant
    }

    enum SignIn: Equatable {
        /// The cookie's value and the session's CSRF token.
        case signedIn(cookie: String, csrf: String)
        case wrongCredential
        case throttled
    }

    private struct Failures {
        var count: Int
        var windowStart: ContinuousClock.Instant
        var blockedUntil: ContinuousClock.Instant?
    }

    private struct State {
        var sessions: [SHA256Digest: Session] = [:]
        var failures: [String: Failures] = [:]
    }

    /// How long a session lasts.
    let lifetime: Duration
    /// Sessions kept at most; past that the one closest to expiring goes.
    let maxSessions: Int
    /// Addresses whose failures are counted at most.
    let maxAddresses: Int
    private let state = Mutex(State())
    private let checkCredential: @Sendable (String) -> Bool

    static let failuresAllowed = 5
    static let window: Duration = .seconds(60)

    init(
        lifetime: Duration = .seconds(12 * 3600), maxSessions: Int = 10_000, maxAddresses: Int = 10_000,
        checkCredential: @escaping @Sendable (String) -> Bool
    ) {
        self.lifetime = lifetime
        self.maxSessions = max(1, maxSessions)
        self.maxAddresses = max(1, maxAddresses)
        self.checkCredential = checkCredential
    }

    /// Signs in from `address` with `credential`.
    func signIn(_ credential: String, from address: String, now: ContinuousClock.Instant = .now) -> SignIn {
        let blocked = state.withLock { state -> Bool in
            guard let record = state.failures[address] else { return false }
            if let until = record.blockedUntil, now < until { return true }
            if now - record.windowStart >= Self.window { state.failures[address] = nil }
            return false
        }
        if blocked { return .throttled }
        guard checkCredential(credential) else {
            return state.withLock { state in
                var record = state.failures[address] ?? Failures(count: 0, windowStart: now, blockedUntil: nil)
                if now - record.windowStart >= Self.window { record = Failures(count: 0, windowStart: now, blockedUntil: nil) }
                record.count += 1
                if record.count >= Self.failuresAllowed { record.blockedUntil = now + Self.window }
                if state.failures[address] == nil, state.failures.count >= maxAddresses { Self.forgetFailures(&state, now: now, max: maxAddresses) }
                state.failures[address] = record
                return .wrongCredential
            }
        }
        let cookie = Self.random()
        let csrf = Self.random()
        state.withLock { state in
            if state.sessions.count >= maxSessions {
                state.sessions = state.sessions.filter { $0.value.expires > now }
                if state.sessions.count >= maxSessions, let soonest = state.sessions.min(by: { $0.value.expires < $1.value.expires })?.key {
                    state.sessions[soonest] = nil
                }
            }
            state.sessions[SHA256.hash(data: Data(cookie.utf8))] = Session(csrf: csrf, expires: now + lifetime)
            state.failures[address] = nil
        }
        return .signedIn(cookie: cookie, csrf: csrf)
    }

    /// The live session a cookie value names.
    func session(_ cookie: String?, now: ContinuousClock.Instant = .now) -> Session? {
        guard let cookie, !cookie.isEmpty, cookie.utf8.count <= 128 else { return nil }
        let key = SHA256.hash(data: Data(cookie.utf8))
        return state.withLock { state in
            guard let session = state.sessions[key] else { return nil }
            guard session.expires > now else {
                state.sessions[key] = nil
                return nil
            }
            return session
        }
    }

    /// Ends the session a cookie value names.
    func signOut(_ cookie: String?) {
        guard let cookie, cookie.utf8.count <= 128 else { return }
        _ = state.withLock { $0.sessions.removeValue(forKey: SHA256.hash(data: Data(cookie.utf8))) }
    }

    /// Whether `given` is the session's CSRF token, compared in constant time.
    static func csrfMatches(_ session: Session, _ given: String?) -> Bool {
        guard let given else { return false }
        let a = SHA256.hash(data: Data(given.utf8))
        let b = SHA256.hash(data: Data(session.csrf.utf8))
        var difference: UInt8 = 0
        for (x, y) in zip(a, b) { difference |= x ^ y }
        return difference == 0
    }

    var sessionCount: Int { state.withLock { $0.sessions.count } }
    var addressCount: Int { state.withLock { $0.failures.count } }

    /// Makes room among the failure records: expired ones go, then (an attacker cycling
    /// addresses) the oldest window.
    private static func forgetFailures(_ state: inout State, now: ContinuousClock.Instant, max: Int) {
        state.failures = state.failures.filter { now - $0.value.windowStart < window || ($0.value.blockedUntil.map { now < $0 } ?? false) }
        if state.failures.count >= max, let oldest = state.failures.min(by: { $0.value.windowStart < $1.value.windowStart })?.key {
            state.failures[oldest] = nil
        }
    }

    /// 32 random bytes, base64url.
    private static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
