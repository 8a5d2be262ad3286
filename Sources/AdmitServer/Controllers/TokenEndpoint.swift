import AdmitToken
import Foundation

/// `/get-token`'s answer, decided in one place for the router and for the fast path
/// (`FastPath`), so both give the same token or the same refusal.
struct TokenEndpoint: Sendable {
    let services: Services

    /// The key and policy that sign: the configured ones, or in dev mode the dev key with
    /// the examples' policy; nil when `/get-token` is off.
    var signingKey: (apiKey: String, policy: AppConfiguration.TokenEndpoint)? {
        if let policy = services.configuration.tokenEndpoint { return (policy.apiKey, policy) }
        // Dev mode keeps the official examples' permissions; a configured endpoint defaults to allow_join.
        if let dev = services.devKey { return (dev, AppConfiguration.TokenEndpoint(apiKey: dev, permissions: [.allowJoin, .allowMod])) }
        return nil
    }

    /// A token for the query's `roomId` and `peerId` (empty values count as absent), or the
    /// refusal: off (404), a refused origin (4025), the client's rate limit (429), the key
    /// missing (503), a malformed `peerId` (4004). The client is the connection's address, or
    /// behind a trusted proxy the address it forwarded for.
    func token(roomId: String?, peerId: String?, origin: String?, remote: String?, forwardedFor: String?) throws(APIError) -> String {
        guard let (apiKey, policy) = signingKey else {
            throw APIError.notFound("/get-token is off: start with --dev or --token-endpoint-key KEY.")
        }
        try services.requireOrigin(origin, apiKey: apiKey)
        guard services.tokenLimiter?.allow(services.clientAddress.resolve(remote: remote, forwardedFor: forwardedFor)) ?? true else {
            throw APIError(.tooManyRequests, "Too many token requests; try again in a minute.")
        }
        guard let secret = services.keyRing.signingSecret(for: apiKey) else {
            throw APIError(.serviceUnavailable, "The token endpoint's API key is missing or deactivated.")
        }
        let roomId = roomId.flatMap { $0.isEmpty ? nil : $0 }
        let peerId = peerId.flatMap { $0.isEmpty ? nil : $0 }
        if let peerId, !TokenUse.isValidParticipantID(peerId) {
            throw APIError.code(.invalidParticipantID, .badRequest)
        }
        let scoped = roomId != nil || peerId != nil
        let claims = Claims(
            apiKey: apiKey, permissions: policy.permissions, lifetime: policy.maxLifetime, now: Date().timeIntervalSince1970,
            roomId: roomId, participantId: peerId, roles: scoped ? .rtc : nil)
        return Signer(secret: secret).sign(claims)
    }

    /// The response body: `{"token":"..."}`, written directly (a token is base64url and dots).
    static func body(_ token: String) -> String {
        #"{"token":""# + token + #""}"#
    }
}
