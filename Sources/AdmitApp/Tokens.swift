import AdmitCore
package import AdmitToken
import Foundation

/// What `/get-token` signs with: the key, the permissions and the longest lifetime.
package struct TokenPolicy: Sendable {
    package var apiKey: String
    package var permissions: Permissions
    /// Seconds.
    package var maxLifetime: Int

    package init(apiKey: String, permissions: Permissions, maxLifetime: Int) {
        self.apiKey = apiKey
        self.permissions = permissions
        self.maxLifetime = maxLifetime
    }
}

/// Mints `/get-token`'s short-lived tokens (the official examples' token endpoint), with the
/// same rules for the router and the fast path.
package struct TokenMint: Sendable {
    /// nil when `/get-token` is off.
    package let policy: TokenPolicy?
    let keyRing: KeyRing
    let access: Access
    /// Per client address; nil for no limit.
    let limiter: RateLimiter?

    package init(policy: TokenPolicy?, keyRing: KeyRing, access: Access, limiter: RateLimiter?) {
        self.policy = policy
        self.keyRing = keyRing
        self.access = access
        self.limiter = limiter
    }

    /// A token for `roomId` and `peerId` (empty values count as absent), or the refusal: off
    /// (not found), a refused origin (4025), the client's rate limit, the key missing or
    /// deactivated (unavailable), a malformed `peerId` (4004).
    package func token(roomId: String?, peerId: String?, origin: String?, client: String) throws(AppError) -> String {
        guard let policy else {
            throw AppError.notFound("/get-token is off: start with --dev or --token-endpoint-key KEY.")
        }
        try access.requireOrigin(origin, apiKey: policy.apiKey)
        guard limiter?.allow(client) ?? true else {
            throw AppError(.tooManyRequests, "Too many token requests; try again in a minute.")
        }
        guard let secret = keyRing.signingSecret(for: policy.apiKey) else {
            throw AppError(.unavailable, "The token endpoint's API key is missing or deactivated.")
        }
        let roomId = roomId.flatMap { $0.isEmpty ? nil : $0 }
        let peerId = peerId.flatMap { $0.isEmpty ? nil : $0 }
        if let peerId, !TokenUse.isValidParticipantID(peerId) {
            throw AppError.code(.invalidParticipantID, kind: .invalid)
        }
        let scoped = roomId != nil || peerId != nil
        let claims = Claims(
            apiKey: policy.apiKey, permissions: policy.permissions, lifetime: policy.maxLifetime, now: Date().timeIntervalSince1970,
            roomId: roomId, participantId: peerId, roles: scoped ? .rtc : nil)
        return Signer(secret: secret).sign(claims)
    }
}
