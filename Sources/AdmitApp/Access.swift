import AdmitCore
package import AdmitStore
package import AdmitToken

/// Who may do what with a token: verification (steps 1-8) and the request checks of step 9
/// (room scope, then origin against the key's whitelist), in the contract's order. Every
/// transport asks here: the router, the fast path, `/rtc`.
package struct Access: Sendable {
    package let keyRing: KeyRing
    package let verifier: Verifier
    /// Told every verification's outcome (`valid`, `missing`, or the refusal's reason): metrics.
    package let outcome: @Sendable (String) -> Void

    package init(keyRing: KeyRing, verifier: Verifier, outcome: @escaping @Sendable (String) -> Void = { _ in }) {
        self.keyRing = keyRing
        self.verifier = verifier
        self.outcome = outcome
    }

    /// Verifies `token` for `use`.
    package func verify(_ token: String?, for use: TokenUse?) throws(AppError) -> Claims {
        guard let token, !token.isEmpty else {
            outcome("missing")
            throw .token(TokenError(.invalidToken, .malformed, "no token was given"))
        }
        do throws(TokenError) {
            let claims = try verifier.verify(token, for: use)
            outcome("valid")
            return claims
        } catch {
            outcome(error.reason.rawValue)
            throw .token(error)
        }
    }

    /// A server API call: a token with role `crawler` (or no roles). Step 9's order is role,
    /// room, origin: a token without `roomId` can fail no room check, so its origin is judged
    /// here, before any room is looked up (a foreign page cannot tell which rooms exist); a
    /// room-scoped token's origin is judged right after its room, by `requireRoom`.
    package func serverAPI(_ token: String?, origin: String?) throws(AppError) -> Claims {
        let claims = try verify(token, for: .serverAPI(roomId: nil))
        try requireOriginUnlessScoped(claims, origin)
        return claims
    }

    /// The origin check of a token that names no room (see `serverAPI`).
    package func requireOriginUnlessScoped(_ claims: Claims, _ origin: String?) throws(AppError) {
        if claims.roomId == nil { try requireOrigin(origin, apiKey: claims.apiKey) }
    }

    /// A request that carries `Origin` must match the key's domain whitelist (when it has one): 4025.
    package func requireOrigin(_ origin: String?, apiKey: String) throws(AppError) {
        guard let origin else { return }
        guard Whitelist.allows(origin: origin, whitelist: keyRing.settings(for: apiKey).whitelist) else {
            outcome("origin")
            throw .token(TokenError(.unauthorizedRequest, .origin, "origin \(origin) is not in the API key's whitelist"))
        }
    }

    /// A room-scoped token touches only its own room (named by id or custom id) [4022], then
    /// the request's origin must pass the whitelist [4025]: step 9's order for the server API.
    package func requireRoom(_ claims: Claims, _ room: RoomRecord, origin: String?) throws(AppError) {
        if let scoped = claims.roomId, scoped != room.roomId, scoped != room.customRoomId {
            throw .token(TokenError(.unauthorizedMeetingID, .room, "the token is for room \(scoped), not \(room.roomId)"))
        }
        try requireOrigin(origin, apiKey: claims.apiKey)
    }
}
