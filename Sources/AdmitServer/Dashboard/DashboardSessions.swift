import AdmitStore
import Crypto
import Foundation
import Hummingbird
import Synchronization

/// The dashboard's server-side sessions (CONTRACT.md section 8). Signing in with the admin
/// credential makes a session: a random id in an `HttpOnly` cookie (the store keeps only its
/// SHA-256, so the table holds nothing a cookie could be rebuilt from) and a CSRF token the page
/// reads from `GET /dashboard/api/session` and sends with every change. Sessions live in the
/// store, so every node on one database knows them (behind a load balancer a request may
/// reach any node); they expire (12 hours by default; expired rows go at each sign-in) and end
/// at sign-out on every node. Failed sign-ins are counted per address on each node: the fifth
/// within a minute blocks every sign-in from that address for a minute, the right credential
/// included; that table is bounded.
final class DashboardSessions: Sendable {
    struct Session: Sendable {
        var csrf: String
        var expires: Date
    }

    enum SignIn: Equatable {
        /// The cookie's value and the session's CSRF token.
        case signedIn(cookie: String, csrf: String)
        case wrongCredential
        case throttled
    }

    /// One address's recent failures (a sliding minute) and its block.
    private struct Failures {
        var times: [ContinuousClock.Instant] = []
        var blockedUntil: ContinuousClock.Instant?
        var lastSeen: ContinuousClock.Instant

        func blocked(at now: ContinuousClock.Instant) -> Bool { blockedUntil.map { now < $0 } ?? false }
    }

    private struct State {
        var failures: [String: Failures] = [:]
    }

    /// How long a session lasts.
    let lifetime: Duration
    /// Addresses whose failures are counted at most.
    let maxAddresses: Int
    /// Where sessions live: the store, so every node on one database knows them.
    private let store: any DashboardSessionRepository
    /// Derived from the master key: a session row is `HMAC(key, cookie)`, and the CSRF token
    /// `HMAC(key, "csrf" + cookie)` (not stored at all). Whoever can write to the database
    /// still cannot make a cookie that a row stands for.
    private let state = Mutex(State())
    private let checkCredential: @Sendable (String) -> Bool

    static let failuresAllowed = 5
    static let window: Duration = .seconds(60)

    private let key: SymmetricKey

    init(
        store: any DashboardSessionRepository, key: SymmetricKey = SymmetricKey(size: .bits256), lifetime: Duration = .seconds(12 * 3600),
        maxAddresses: Int = 10_000, checkCredential: @escaping @Sendable (String) -> Bool
    ) {
        self.store = store
        self.key = key
        self.lifetime = lifetime
        self.maxAddresses = max(1, maxAddresses)
        self.checkCredential = checkCredential
    }

    /// Signs in from `address` with `credential`. The attempt counts as a failure before the
    /// credential is checked (under one lock), so parallel guesses cannot all slip in before
    /// the count rises; a right credential then takes it back.
    func signIn(_ credential: String, from address: String, now: ContinuousClock.Instant = .now) async throws -> SignIn {
        let key = Self.addressKey(address)
        guard attempt(key, now: now) else { return .throttled }
        guard checkCredential(credential) else { return .wrongCredential }
        // The right credential: no longer a failure, whatever the store does next.
        succeeded(key)
        let cookie = Self.random()
        let seconds = Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) / 1e18
        try? await store.deleteDashboardSessions(expiredBefore: Date())
        try await store.insertDashboardSession(
            DashboardSessionRecord(digest: digest(cookie), csrf: "", expiresAt: Date().addingTimeInterval(seconds)))
        return .signedIn(cookie: cookie, csrf: csrf(for: cookie))
    }

    /// Whether `address` may try the admin credential now (the admin API's Bearer path counts
    /// too); the try is recorded as a failure until `succeeded` takes it back.
    func attempt(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { state in
            var record = state.failures[key] ?? Failures(lastSeen: now)
            if record.blocked(at: now) { return false }
            record.times = record.times.filter { now - $0 < Self.window }
            record.times.append(now)
            record.lastSeen = now
            if record.times.count >= Self.failuresAllowed { record.blockedUntil = now + Self.window }
            if state.failures[key] == nil, state.failures.count >= maxAddresses { Self.forgetFailures(&state, now: now, max: maxAddresses) }
            state.failures[key] = record
            return true
        }
    }

    /// A try of the admin credential that was right: it no longer counts against the address.
    func succeeded(_ key: String) {
        _ = state.withLock { $0.failures.removeValue(forKey: key) }
    }

    /// A wrong admin credential on the admin API's Bearer path: counted like a failed sign-in.
    func failed(_ key: String, now: ContinuousClock.Instant = .now) {
        _ = attempt(key, now: now)
    }

    /// Whether the address is blocked now (429 for every try).
    func isBlocked(_ key: String, now: ContinuousClock.Instant = .now) -> Bool {
        state.withLock { $0.failures[key]?.blocked(at: now) ?? false }
    }

    /// The key failures are counted under: an IPv4 address, or an IPv6 address's /64 (one
    /// host's whole allocation, which one client can cycle through).
    static func addressKey(_ address: String) -> String {
        guard address.contains(":") else { return address }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address, &v6) == 1 else { return address }
        let bytes = withUnsafeBytes(of: &v6) { Array($0.prefix(8)) }
        return bytes.map { String(format: "%02x", $0) }.joined() + "::/64"
    }

    /// Every `admit_session` value a request carries (another app on the same host may have
    /// set one with a narrower path, which the browser sends first).
    static func cookies(in request: Request) -> [String] {
        var values: [String] = []
        for field in request.headers where field.name == .cookie {
            for pair in field.value.split(separator: ";").prefix(64) {
                let trimmed = pair.drop { $0 == " " }
                guard trimmed.hasPrefix(DashboardController.cookieName + "=") else { continue }
                values.append(String(trimmed.dropFirst(DashboardController.cookieName.count + 1)))
            }
        }
        return values
    }

    /// The live session among a request's `admit_session` cookies.
    func session(in request: Request) async throws -> (cookie: String, session: Session)? {
        // At most three cookies are looked up: each costs the store a query.
        for cookie in Self.cookies(in: request).prefix(3) {
            if let session = try await session(cookie) { return (cookie, session) }
        }
        return nil
    }

    /// The live session a cookie value names (from any node's sign-in).
    func session(_ cookie: String?) async throws -> Session? {
        guard let cookie, !cookie.isEmpty, cookie.utf8.count <= 128 else { return nil }
        let digest = digest(cookie)
        let record: DashboardSessionRecord?
        do {
            record = try await store.dashboardSession(digest: digest)
        } catch {
            throw APIError(.serviceUnavailable, "The dashboard's sessions cannot be read now; try again.")
        }
        guard let record else { return nil }
        guard record.expiresAt > Date() else {
            try? await store.deleteDashboardSession(digest: digest)
            return nil
        }
        return Session(csrf: csrf(for: cookie), expires: record.expiresAt)
    }

    /// Ends the session a cookie value names, on every node.
    func signOut(_ cookie: String?) async throws {
        guard let cookie, !cookie.isEmpty, cookie.utf8.count <= 128 else { return }
        try await store.deleteDashboardSession(digest: digest(cookie))
    }

    /// What the store keeps for a cookie: hex `HMAC-SHA256(key, cookie)`.
    func digest(_ cookie: String) -> String {
        HMAC<SHA256>.authenticationCode(for: Data(cookie.utf8), using: key).map { String(format: "%02x", $0) }.joined()
    }

    /// A session's CSRF token, derived from its cookie (base64url of `HMAC(key, "csrf" + cookie)`).
    func csrf(for cookie: String) -> String {
        Data(HMAC<SHA256>.authenticationCode(for: Data(("csrf" + cookie).utf8), using: key)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
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

    var addressCount: Int { state.withLock { $0.failures.count } }

    /// Makes room among the failure records: expired ones go, then (an attacker cycling
    /// addresses) the oldest window.
    private static func forgetFailures(_ state: inout State, now: ContinuousClock.Instant, max: Int) {
        state.failures = state.failures.filter { record in
            record.value.blocked(at: now) || record.value.times.contains { now - $0 < window }
        }
        guard state.failures.count >= max else { return }
        // Blocked addresses stay: an attacker cycling addresses must not free its own block.
        let unblocked = state.failures.filter { !$0.value.blocked(at: now) }
        let pool = unblocked.isEmpty ? state.failures : unblocked
        if let oldest = pool.min(by: { $0.value.lastSeen < $1.value.lastSeen })?.key { state.failures[oldest] = nil }
    }

    /// 32 random bytes, base64url.
    private static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
}
