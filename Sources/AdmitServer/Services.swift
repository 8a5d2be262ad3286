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
    /// Token verification and step 9's request checks.
    let access: Access
    /// Rooms: create, find, validate, deactivate.
    let roomService: RoomService
    /// Why a webhook URL is refused (nil: accepted): `WebhookTarget` under `--webhook-allow-private`.
    let webhookRefusal: @Sendable (String) -> String?
    let verifier: Verifier
    let metrics: Metrics
    /// The API key that dev mode's `/get-token` signs with.
    let devKey: String?
    /// SHA-256 of the admin credential, compared in constant time.
    let adminDigest: SHA256Digest
    /// `/get-token`'s tokens.
    let tokenMint: TokenMint
    /// Who a request's client is (`--trusted-proxy`).
    let clientAddress: ClientAddress
    /// Absolute URLs in answers (`--public-url`).
    let links: PublicLinks
    /// The dashboard's signed-in sessions.
    let dashboard: DashboardSessions

    /// A room as the v2 API answers it.
    func roomResponse(_ room: RoomRecord) -> RoomResponse {
        RoomResponse(room, links: links, owner: keyRing.name(of: room.apiKey))
    }

    /// The same, encoded (the fast path's validate answers these bytes).
    func roomJSON(_ room: RoomRecord) -> [UInt8] {
        RoomResponse.json(room, links: links, owner: keyRing.name(of: room.apiKey))
    }

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

    /// Verifies `token` for `use` (`Access.verify`); failures become the contract's error.
    func verify(_ token: String?, for use: TokenUse?) throws(APIError) -> Claims {
        try mapped { () throws(AppError) in try access.verify(token, for: use) }
    }

    /// A server API call (`Access.serverAPI`): the token from `Authorization`, the origin checked unless the token is room-scoped.
    func requireServerAPI(_ request: Request) throws(APIError) -> Claims {
        try mapped { () throws(AppError) in try access.serverAPI(Self.accessToken(request), origin: request.headers[.origin]) }
    }

    func requireOriginUnlessScoped(_ claims: Claims, _ origin: String?) throws(APIError) {
        try mapped { () throws(AppError) in try access.requireOriginUnlessScoped(claims, origin) }
    }

    func requireOrigin(_ request: Request, apiKey: String) throws(APIError) {
        try requireOrigin(request.headers[.origin], apiKey: apiKey)
    }

    func requireOrigin(_ origin: String?, apiKey: String) throws(APIError) {
        try mapped { () throws(AppError) in try access.requireOrigin(origin, apiKey: apiKey) }
    }

    /// The admin credential in `Authorization: Bearer ...`, compared in constant time; or,
    /// without an `Authorization` header, a dashboard session's cookie, with its CSRF token
    /// (`X-CSRF-Token`) on every request that changes something (403 without).
    func requireAdmin(_ request: Request, address: String) async throws {
        if request.headers[.authorization] == nil, let session = try await dashboard.session(in: request)?.session {
            guard
                request.method == .get || request.method == .head
                    || DashboardSessions.csrfMatches(session, request.headers[DashboardController.csrfHeader])
            else { throw APIError(.forbidden, "A dashboard request that changes something needs its CSRF token (X-CSRF-Token).") }
            return
        }
        if request.headers[.authorization] == nil, DashboardSessions.cookies(in: request).isEmpty == false {
            throw APIError(.unauthorized, "The dashboard session has ended: sign in again.")
        }
        // Guesses through the Bearer header count with the sign-in form's, per address.
        let key = DashboardSessions.addressKey(address)
        guard !dashboard.isBlocked(key) else {
            throw APIError(.tooManyRequests, "Too many wrong admin credentials from this address: wait a minute.")
        }
        guard isAdminCredential(Self.accessToken(request) ?? "") else {
            if request.headers[.authorization] != nil { dashboard.failed(key) }
            throw APIError(.unauthorized, "The admin credential is missing or wrong (Authorization: Bearer <admin token>).")
        }
    }

    /// Whether `given` is the admin credential, compared in constant time.
    func isAdminCredential(_ given: String) -> Bool {
        Self.isAdminCredential(given, digest: adminDigest)
    }

    static func isAdminCredential(_ given: String, digest adminDigest: SHA256Digest) -> Bool {
        let digest = SHA256.hash(data: Data(given.utf8))
        var difference: UInt8 = 0
        for (a, b) in zip(digest, adminDigest) { difference |= a ^ b }
        return difference == 0 && !given.isEmpty
    }
}

/// Runs a use case, answering its refusal in the contract's shape.
func mapped<T>(_ body: () throws(AppError) -> T) throws(APIError) -> T {
    do throws(AppError) {
        return try body()
    } catch {
        throw APIError(error)
    }
}
