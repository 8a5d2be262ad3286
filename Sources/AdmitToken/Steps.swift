/// The contract's verification steps, one function per concern, shared by `Verifier`
/// (which stops at the first problem) and `Explanation` (which reports them all).
enum Steps {
    /// Step 1, claims part: claims whose JSON type makes the payload malformed.
    static func claimTypes(_ payload: Payload) -> TokenError? {
        guard payload.hasMalformedClaim else { return nil }
        var wrong: [String] = []
        if case .invalid = payload.roomId { wrong.append("roomId must be a string") }
        if case .invalid = payload.participantId { wrong.append("participantId must be a string") }
        if case .invalid = payload.jwtID { wrong.append("jti must be a string") }
        if case .invalid = payload.issuedAt { wrong.append("iat must be a number") }
        if case .invalid = payload.notBefore { wrong.append("nbf must be a number") }
        guard !wrong.isEmpty else { return nil }
        return TokenError(.invalidToken, .malformed, wrong.joined(separator: "; "))
    }

    /// Step 2: the algorithm is fixed by the server, never taken from the header.
    static func algorithm(_ header: Header) -> TokenError? {
        guard let algorithm = header.algorithm else {
            return TokenError(.invalidToken, .algorithm, "the header has no alg; only HS256 is accepted")
        }
        guard algorithm == "HS256" else {
            return TokenError(.invalidToken, .algorithm, "alg is \(algorithm); only HS256 is accepted")
        }
        return nil
    }

    static func crit(_ header: Header) -> TokenError? {
        header.hasCrit ? TokenError(.invalidToken, .crit, "the header has crit; Admit understands no JWS extensions") : nil
    }

    /// Step 3: the API key is named and known, and not deactivated.
    static func apiKey(_ payload: Payload, keys: any KeyProvider) -> Result<VerificationKey, TokenError> {
        let problem: String
        switch payload.apiKey {
        case .absent: problem = "the apikey claim is missing"
        case .invalid: problem = "apikey must be a string"
        case .value(let name) where name.isEmpty: problem = "apikey is empty"
        case .value(let name):
            guard let key = keys.verificationKey(for: name) else { return .failure(unknownKey(name)) }
            if key.isDeactivated { return .failure(deactivatedKey(name)) }
            return .success(key)
        }
        return .failure(TokenError(.invalidAPIKey, .unknownAPIKey, problem))
    }

    /// Step 3 for an `apikey` still in the payload's bytes (present, a string without escapes):
    /// the key with its name, looked up without making a string first.
    static func apiKey(utf8 name: UnsafeRawBufferPointer, keys: any KeyProvider) -> Result<(name: String, key: VerificationKey), TokenError> {
        guard !name.isEmpty else { return .failure(TokenError(.invalidAPIKey, .unknownAPIKey, "apikey is empty")) }
        guard let found = keys.namedKey(utf8: name) else { return .failure(unknownKey(String(decoding: name, as: UTF8.self))) }
        if found.key.isDeactivated { return .failure(deactivatedKey(found.name)) }
        return .success(found)
    }

    private static func unknownKey(_ name: String) -> TokenError {
        TokenError(.invalidAPIKey, .unknownAPIKey, "no API key named \(name) is known here")
    }

    private static func deactivatedKey(_ name: String) -> TokenError {
        TokenError(.apiKeyDeactivated, .deactivated, "API key \(name) is deactivated")
    }

    /// Step 4: the signature matches one live secret of the key (constant-time comparisons).
    static func signature(
        _ signature: SIMD32<UInt8>?, input: UnsafeRawBufferPointer, key: VerificationKey, now: Double
    ) -> TokenError? {
        guard var signature else {
            return TokenError(.invalidToken, .signature, "the signature is not 32 bytes long, as HS256 makes it")
        }
        var matched = false
        withUnsafeBytes(of: &signature) { signatureBytes in
            for live in key.secrets where live.validUntil.map({ now < $0 }) ?? true {
                if live.secret.isValid(signature: signatureBytes, for: input) { matched = true }
            }
        }
        return matched ? nil : TokenError(.invalidToken, .signature, "the signature does not match the API key's secret")
    }

    /// Step 5: `exp` is present and not past.
    static func expiry(_ payload: Payload, now: Double, leeway: Double) -> TokenError? {
        switch payload.expiresAt {
        case .absent: return TokenError(.invalidToken, .expMissing, "the exp claim is missing; a token without it would never expire")
        case .invalid: return TokenError(.invalidToken, .expMissing, "exp must be a number of seconds since 1970")
        case .value(let exp):
            guard now < exp + leeway else {
                return TokenError(.invalidToken, .expired, RelativeTime.expiry(exp, now: now))
            }
            return nil
        }
    }

    /// Step 5, when the operator sets a maximum lifetime: `exp` is not further ahead than it.
    @inline(__always)
    static func lifetime(_ payload: Payload, now: Double, leeway: Double, maximum: Double) -> TokenError? {
        guard let exp = payload.expiresAt.value, exp - now > maximum + leeway else { return nil }
        return TokenError(
            .invalidToken, .lifetime,
            "exp is \(RelativeTime.describe(exp - now)) ahead; this server accepts tokens that expire within \(RelativeTime.describe(maximum))")
    }

    /// Step 5: `nbf` is not in the future.
    static func notBefore(_ payload: Payload, now: Double, leeway: Double) -> TokenError? {
        guard let nbf = payload.notBefore.value, nbf > now + leeway else { return nil }
        return TokenError(.invalidToken, .notYetValid, "the token is valid only in \(RelativeTime.describe(nbf - now)) (nbf)")
    }

    /// Step 5: `iat` is not in the future.
    static func issuedAt(_ payload: Payload, now: Double, leeway: Double) -> TokenError? {
        guard let iat = payload.issuedAt.value, iat > now + leeway else { return nil }
        return TokenError(.invalidToken, .issuedInFuture, "iat is \(RelativeTime.describe(iat - now)) in the future; check the signer's clock")
    }

    /// Step 6: permissions are present, known, and `ask_join` stands alone.
    static func permissions(_ payload: Payload) -> TokenError? {
        let problem: String
        switch payload.permissions {
        case .absent: problem = "the permissions claim is missing"
        case .invalid: problem = "permissions must be an array of strings"
        case .value(let set):
            if let unknown = payload.unknownPermissions.first {
                problem = "unknown permission \(unknown); use allow_join, ask_join or allow_mod"
            } else if set.isEmpty {
                problem = "permissions is empty"
            } else if set.contains(.askJoin), !set.isDisjoint(with: [.allowJoin, .allowMod]) {
                problem = "ask_join cannot be combined with allow_join or allow_mod"
            } else {
                return nil
            }
        }
        return TokenError(.invalidPermissions, .permissions, problem)
    }

    /// Step 7: version 2 where v2 claims are used, and known roles.
    static func version(_ payload: Payload) -> TokenError? {
        switch payload.version {
        case .invalid: return TokenError(.invalidToken, .version, "version must be 2")
        case .value(let version) where version != 2: return TokenError(.invalidToken, .version, "version is \(version); only 2 is supported")
        case .absent where payload.roomId.isPresent || payload.participantId.isPresent || payload.roles.isPresent:
            return TokenError(.invalidToken, .versionRequired, "roomId, participantId and roles need version 2")
        default: return nil
        }
    }

    static func roles(_ payload: Payload) -> TokenError? {
        switch payload.roles {
        case .absent: return nil
        case .invalid: return TokenError(.invalidToken, .roles, "roles must be an array of strings")
        case .value(let roles):
            if let unknown = payload.unknownRoles.first {
                return TokenError(.invalidToken, .roles, "unknown role \(unknown); use crawler or rtc")
            }
            return roles.isEmpty ? TokenError(.invalidToken, .roles, "roles is empty; leave it out to allow both uses") : nil
        }
    }

    /// Step 8.
    static let revoked = TokenError(.invalidToken, .revoked, "the token has been revoked")
}
