import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Crypto
import Foundation
import Hummingbird

/// What the controllers share: the store, the in-memory key ring and revocations, the verifier.
struct Services: Sendable {
    let configuration: AppConfiguration
    let repositories: any Repositories
    /// Room reads go through this cache; room writes too, so it stays current.
    let rooms: RoomCache
    let keyRing: KeyRing
    let revocations: RevocationList
    let keys: KeyService
    let settings: SettingsService
    let verifier: Verifier
    let metrics: Metrics
    /// The API key that dev mode's `/get-token` signs with.
    let devKey: String?
    /// SHA-256 of the admin credential, compared in constant time.
    let adminDigest: SHA256Digest
    /// nil when `/get-token` has no rate limit.
    let tokenLimiter: RateLimiter?
    /// Who a request's client is (`--trusted-proxy`).
    let clientAddress: ClientAddress

    /// Reloads keys and revocations from the store.
    func reload() async throws {
        try await keyRing.reload()
        try await revocations.reload()
    }
}

extension Services {
    /// The access token of a request: `Authorization: <token>` or `Authorization: Bearer <token>`.
    static func accessToken(_ request: Request) -> String? {
        accessToken(authorization: request.headers[.authorization])
    }

    /// The access token in an `Authorization` value (raw or `Bearer`).
    static func accessToken(authorization: String?) -> String? {
        guard let authorization else { return nil }
        // Tokens are ASCII: trim spaces and tabs on the bytes. Other text keeps Foundation's
        // trimming of every Unicode space, as before (a slow path through NSString).
        guard authorization.utf8.allSatisfy({ $0 < 0x80 }) else {
            let value = authorization.trimmingCharacters(in: .whitespaces)
            guard !value.isEmpty else { return nil }
            if value.lowercased().hasPrefix("bearer ") { return String(value.dropFirst(7)).trimmingCharacters(in: .whitespaces) }
            return value
        }
        let value = trimmedASCII(Substring(authorization))
        guard !value.isEmpty else { return nil }
        if value.utf8.count >= 7, zip(value.utf8.prefix(7), "bearer ".utf8).allSatisfy({ (0x41...0x5A ~= $0 ? $0 | 0x20 : $0) == $1 }) {
            return String(trimmedASCII(value.dropFirst(7)))
        }
        return String(value)
    }

    /// `text` without leading and trailing spaces and tabs.
    private static func trimmedASCII(_ text: Substring) -> Substring {
        let isBlank = { (byte: UInt8) in byte == 0x20 || byte == 0x09 }
        guard let first = text.utf8.firstIndex(where: { !isBlank($0) }), let last = text.utf8.lastIndex(where: { !isBlank($0) }) else {
            return ""
        }
        return text[first...last]
    }

    /// Verifies `token` for `use`, counting the outcome; failures become the contract's error.
    func verify(_ token: String?, for use: TokenUse?) throws(APIError) -> Claims {
        guard let token, !token.isEmpty else {
            metrics.verification("missing")
            throw .token(TokenError(.invalidToken, .malformed, "no token was given"))
        }
        do throws(TokenError) {
            let claims = try verifier.verify(token, for: use)
            metrics.verification("valid")
            return claims
        } catch {
            metrics.verification(error.reason.rawValue)
            throw .token(error)
        }
    }

    /// A server API call: a token with role `crawler` (or no roles). Step 9's order is role,
    /// room, origin: a token without `roomId` can fail no room check, so its origin is judged
    /// here, before any room is looked up (a foreign page cannot tell which rooms exist); a
    /// room-scoped token's origin is judged right after its room, by `requireRoom`.
    func requireServerAPI(_ request: Request) throws(APIError) -> Claims {
        let claims = try verify(Self.accessToken(request), for: .serverAPI(roomId: nil))
        try requireOriginUnlessScoped(claims, request.headers[.origin])
        return claims
    }

    /// The origin check of a token that names no room (see `requireServerAPI`).
    func requireOriginUnlessScoped(_ claims: Claims, _ origin: String?) throws(APIError) {
        if claims.roomId == nil { try requireOrigin(origin, apiKey: claims.apiKey) }
    }

    /// A request that carries `Origin` must match the key's domain whitelist (when it has one): 403, 4025.
    func requireOrigin(_ request: Request, apiKey: String) throws(APIError) {
        try requireOrigin(request.headers[.origin], apiKey: apiKey)
    }

    func requireOrigin(_ origin: String?, apiKey: String) throws(APIError) {
        guard let origin else { return }
        guard Whitelist.allows(origin: origin, whitelist: keyRing.settings(for: apiKey).whitelist) else {
            metrics.verification("origin")
            throw .token(TokenError(.unauthorizedRequest, .origin, "origin \(origin) is not in the API key's whitelist"))
        }
    }

    /// A room-scoped token touches only its own room (named by id or custom id) [4022], then
    /// the request's origin must pass the whitelist [4025]: step 9's order for the server API.
    func requireRoom(_ claims: Claims, _ room: RoomRecord, origin: String?) throws(APIError) {
        if let scoped = claims.roomId, scoped != room.roomId, scoped != room.customRoomId {
            throw .token(TokenError(.unauthorizedMeetingID, .room, "the token is for room \(scoped), not \(room.roomId)"))
        }
        try requireOrigin(origin, apiKey: claims.apiKey)
    }

    /// The admin credential in `Authorization: Bearer ...`, compared in constant time.
    func requireAdmin(_ request: Request) throws(APIError) {
        let given = Self.accessToken(request) ?? ""
        let digest = SHA256.hash(data: Data(given.utf8))
        var difference: UInt8 = 0
        for (a, b) in zip(digest, adminDigest) { difference |= a ^ b }
        guard difference == 0, !given.isEmpty else {
            throw APIError(.unauthorized, "The admin credential is missing or wrong (Authorization: Bearer <admin token>).")
        }
    }
}
