/// Verifies access tokens in the contract's order of steps (CONTRACT.md section 1).
///
/// The algorithm is always HS256, whatever the header says; the key is found from the
/// `apikey` claim; time comes from the injected clock with one leeway for `exp`, `nbf`
/// and `iat`. Verification does no I/O and allocates little, so it can run on every request.
public struct Verifier: Sendable {
    /// Where API keys and their secrets come from.
    public var keys: any KeyProvider
    /// Seconds of clock skew tolerated for `exp`, `nbf` and `iat`.
    public var leeway: Double
    public var clock: TokenClock
    /// The furthest ahead `exp` may be, in seconds from now (beyond the leeway); infinity, the
    /// default, allows any. Off by default, as in the contract; an operator may refuse tokens
    /// minted to live for years (`--max-token-lifetime`).
    public var maxLifetime: Double = .infinity
    /// Step 8's list; nil checks nothing.
    public var revocations: (any RevocationChecking)? {
        get { revocationList is NoRevocations ? nil : revocationList }
        set { revocationList = newValue ?? NoRevocations() }
    }
    /// Never optional, so step 8 calls it in place: unwrapping an optional existential copies it.
    private var revocationList: any RevocationChecking

    public init(keys: any KeyProvider, leeway: Double = 60, clock: TokenClock = .system, revocations: (any RevocationChecking)? = nil) {
        self.keys = keys
        self.leeway = leeway
        self.clock = clock
        self.revocationList = revocations ?? NoRevocations()
    }

    /// The claims of `token` when steps 1-8 pass, and step 9 for `use` when given.
    public func verify(_ token: String, for use: TokenUse? = nil) throws(TokenError) -> Claims {
        var token = token
        var failure: TokenError?
        // Out of the closure through an optional and a variable: `withUTF8` rethrows untyped errors.
        let claims: Claims? = token.withUTF8 { bytes in
            do throws(TokenError) {
                return try checkedClaims(UnsafeRawBufferPointer(bytes))
            } catch {
                failure = error
                return nil
            }
        }
        guard let claims else { throw failure ?? TokenError(.invalidToken, .malformed, "the token could not be read") }
        if let use { try use.check(claims) }
        return claims
    }

    /// Steps 1-8 over the token's bytes.
    public func verify(_ token: UnsafeRawBufferPointer) -> Result<Claims, TokenError> {
        Result { () throws(TokenError) in try checkedClaims(token) }
    }

    @inline(__always)
    private func checkedClaims(_ token: UnsafeRawBufferPointer) throws(TokenError) -> Claims {
        let parts = try TokenParts.split(token)
        let header = try TokenParts.header(token, parts.header)
        return try TokenParts.withPayload(token, parts.payload) { (payload, json) throws(TokenError) -> Claims in
            let signature = try TokenParts.signature(token, parts.signature)
            if let error = Steps.claimTypes(payload) ?? Steps.algorithm(header) ?? Steps.crit(header) { throw error }
            let key: VerificationKey
            var apiKey: String?
            if let range = payload.apiKeyBytes {
                (apiKey, key) = try Steps.apiKey(utf8: UnsafeRawBufferPointer(rebasing: json[range]), keys: keys).get()
            } else {
                key = try Steps.apiKey(payload, keys: keys).get()
            }
            let now = clock.now()
            let input = UnsafeRawBufferPointer(rebasing: token[parts.signingInput])
            if let error = Steps.signature(signature, input: input, key: key, now: now)
                ?? Steps.expiry(payload, now: now, leeway: leeway)
                ?? Steps.lifetime(payload, now: now, leeway: leeway, maximum: maxLifetime)
                ?? Steps.notBefore(payload, now: now, leeway: leeway)
                ?? Steps.issuedAt(payload, now: now, leeway: leeway)
                ?? Steps.permissions(payload)
                ?? Steps.version(payload)
                ?? Steps.roles(payload)
            {
                throw error
            }
            var claims = payload.claims
            if let apiKey { claims.apiKey = apiKey }
            if revocationList.isRevoked(claims) { throw Steps.revoked }
            return claims
        }
    }
}

/// What a verifier without a revocation list checks: nothing.
private struct NoRevocations: RevocationChecking {
    func isRevoked(_ claims: Claims) -> Bool { false }
}
