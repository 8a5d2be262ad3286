import AdmitApp
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird

/// The admin API (`/admin/v1`), the dashboard's backend: guarded by the admin credential,
/// never by an access token.
struct AdminController {
    let services: Services
    let hub: MeetingHub
    let revocations: LiveRevocations

    struct KeyResponse: ResponseEncodable, Sendable {
        var apiKey: String
        var name: String
        var deactivated: Bool
        var createdAt: Date
        var updatedAt: Date
        var previousSecretValidUntil: Date?
        /// Only right after `create`; never listed.
        var secret: String?

        init(_ record: APIKeyRecord, secret: String? = nil) {
            apiKey = record.apiKey
            name = record.name
            deactivated = record.isDeactivated
            createdAt = record.createdAt
            updatedAt = record.updatedAt
            previousSecretValidUntil = record.previousSecretValidUntil
            self.secret = secret
        }
    }

    struct CreateKey: Decodable {
        var name: String
        init(from decoder: any Decoder) throws {
            name = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .name)
            guard !name.isEmpty, name.count <= 200 else { throw decoder.invalid("`name` must be 1 to 200 characters.") }
        }
        private enum CodingKeys: String, CodingKey { case name }
    }

    struct Rotate: Decodable {
        var graceSeconds: Int = 3600
        init(from decoder: any Decoder) throws {
            graceSeconds = try decoder.container(keyedBy: CodingKeys.self).decodeIfPresent(Int.self, forKey: .graceSeconds) ?? 3600
            guard (0...30 * 86_400).contains(graceSeconds) else { throw decoder.invalid("`graceSeconds` must be from 0 to 2592000 (30 days).") }
        }
        private enum CodingKeys: String, CodingKey { case graceSeconds }
    }

    struct Rotated: ResponseEncodable, Sendable {
        var apiKey: String
        var secret: String
        var previousSecretValidUntil: Date?
    }

    struct TokenRequest: Decodable {
        var permissions: Permissions
        var lifetime: Int
        var roomId: String?
        var participantId: String?
        var roles: Roles?

        private enum CodingKeys: String, CodingKey { case permissions, expiresIn, roomId, participantId, roles }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            permissions = try names(container.decode([String].self, forKey: .permissions), "permissions", decoder) as Permissions
            guard !permissions.isEmpty else { throw decoder.invalid("`permissions` must not be empty.") }
            if permissions.contains(.askJoin), !permissions.isDisjoint(with: [.allowJoin, .allowMod]) {
                throw decoder.invalid("`permissions`: ask_join cannot be combined with allow_join or allow_mod.")
            }
            if let seconds = try? container.decode(Int.self, forKey: .expiresIn) {
                guard let checked = Lifetime.seconds(String(seconds)) else { throw decoder.invalid("`expiresIn` must be from 1 second to 10 years.") }
                lifetime = checked
            } else {
                let text = try container.decode(String.self, forKey: .expiresIn)
                guard let checked = Lifetime.seconds(text) else {
                    throw decoder.invalid("`expiresIn` must be seconds or a whole number with s, m, h or d (120m), at most 10 years.")
                }
                lifetime = checked
            }
            roomId = try container.decodeIfPresent(String.self, forKey: .roomId)
            participantId = try container.decodeIfPresent(String.self, forKey: .participantId)
            if let participantId, !TokenUse.isValidParticipantID(participantId) {
                throw decoder.invalid("`participantId` must be non-empty without whitespace.")
            }
            roles = try container.decodeIfPresent([String].self, forKey: .roles).map { try names($0, "roles", decoder) as Roles }
            if roles?.isEmpty == true { throw decoder.invalid("`roles` must not be empty; leave it out for both uses.") }
        }
    }

    struct RevocationRequest: Decodable {
        var apiKey: String
        var jti: String?
        var participantId: String?
        var roomId: String?
        var issuedBefore: Date?

        private enum CodingKeys: String, CodingKey { case apiKey, jti, participantId, roomId, issuedBefore }

        /// 9999-12-31T23:59:59Z.
        static let latestCutOff: Double = 253_402_300_799

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            apiKey = try container.decode(String.self, forKey: .apiKey)
            jti = try container.decodeIfPresent(String.self, forKey: .jti)
            participantId = try container.decodeIfPresent(String.self, forKey: .participantId)
            roomId = try container.decodeIfPresent(String.self, forKey: .roomId)
            if let seconds = try? container.decodeIfPresent(Double.self, forKey: .issuedBefore) {
                // A cut-off is a time a token could carry: 1970 to the end of year 9999. Anything
                // else is a client mistake (and 1e18 seconds cannot even be stored in milliseconds).
                guard seconds.isFinite, (0...Self.latestCutOff).contains(seconds) else {
                    throw decoder.invalid("`issuedBefore` must be seconds since 1970, from 0 to \(Int(Self.latestCutOff)) (the year 9999).")
                }
                issuedBefore = Date(timeIntervalSince1970: seconds)
            } else if let text = try container.decodeIfPresent(String.self, forKey: .issuedBefore) {
                guard let date = try? Date(text, strategy: .iso8601),
                    (0...Self.latestCutOff).contains(date.timeIntervalSince1970)
                else {
                    throw decoder.invalid("`issuedBefore` must be an ISO 8601 time or seconds since 1970.")
                }
                issuedBefore = date
            }
            guard jti != nil || participantId != nil || roomId != nil || issuedBefore != nil else {
                throw decoder.invalid("Name what to revoke: `jti`, `participantId`, `roomId` or `issuedBefore`.")
            }
        }
    }

    struct RevocationResponse: ResponseEncodable, Sendable {
        var id: String
        var apiKey: String
        var jti: String?
        var participantId: String?
        var roomId: String?
        var issuedBefore: Date?
        var createdAt: Date
    }

    struct TokenResponse: ResponseEncodable, Sendable {
        var token: String
    }

    func register(on router: Router<AppContext>) {
        let admin = router.group("/admin/v1").add(middleware: AdminGuard(services: services))
        admin.post("/api-keys") { request, context in
            let body = try await decodeBody(CreateKey.self, request, context)
            let issued = try await services.keys.create(name: body.name)
            return KeyResponse(issued.record, secret: issued.secret)
        }
        admin.get("/api-keys") { request, _ in
            let (page, perPage) = try pagination(request)
            let all = try await services.keys.list()
            let start = min(all.count, (page - 1) * perPage)
            let items = all[start..<min(all.count, start + perPage)].map { KeyResponse($0) }
            return PageResponse(items: Array(items), page: page, perPage: perPage, total: all.count)
        }
        admin.post("/api-keys/:apiKey/rotate") { request, context in
            let body = try await decodeBody(Rotate.self, request, context)
            let apiKey = try context.parameters.require("apiKey")
            let rotated: KeyService.Issued?
            do {
                rotated = try await services.keys.rotate(apiKey: apiKey, grace: body.graceSeconds)
            } catch is TooManyLiveSecrets {
                throw APIError.conflict(
                    "API key \(apiKey) already keeps \(APIKeyRecord.maxPreviousSecrets) replaced secrets within their grace; rotate again when one has expired, or with a shorter graceSeconds."
                )
            }
            guard let issued = rotated else { throw APIError.notFound("No API key \(apiKey).") }
            return Rotated(apiKey: issued.record.apiKey, secret: issued.secret, previousSecretValidUntil: issued.previousSecretValidUntil)
        }
        admin.post("/api-keys/:apiKey/deactivate") { _, context in
            guard let record = try await services.keys.deactivate(apiKey: try context.parameters.require("apiKey")) else {
                throw APIError.notFound("No API key \(context.parameters.get("apiKey") ?? "").")
            }
            return KeyResponse(record)
        }
        admin.post("/api-keys/:apiKey/tokens") { request, context in
            let apiKey = try context.parameters.require("apiKey")
            let body = try await decodeBody(TokenRequest.self, request, context)
            guard let record = try await services.repositories.key(apiKey) else { throw APIError.notFound("No API key \(apiKey).") }
            guard !record.isDeactivated else { throw APIError.conflict("API key \(apiKey) is deactivated.") }
            let claims = Claims(
                apiKey: apiKey, permissions: body.permissions, lifetime: body.lifetime, now: Date().timeIntervalSince1970,
                roomId: body.roomId, participantId: body.participantId, roles: body.roles)
            return TokenResponse(token: Signer(secret: Secret(try services.keys.secret(of: record))!).sign(claims))
        }
        admin.post("/revocations") { request, context in
            let body = try await decodeBody(RevocationRequest.self, request, context)
            guard try await services.repositories.key(body.apiKey) != nil else { throw APIError.notFound("No API key \(body.apiKey).") }
            // A room named by its customRoomId means the same room as by its roomId: store the roomId.
            var roomId = body.roomId
            if let named = body.roomId {
                guard let room = try await services.repositories.room(apiKey: body.apiKey, id: named) else {
                    throw APIError.notFound("No room \(named) for API key \(body.apiKey).")
                }
                roomId = room.roomId
            }
            let record = RevocationRecord(
                id: Identifiers.recordId(), apiKey: body.apiKey, jwtID: body.jti, participantId: body.participantId,
                roomId: roomId, issuedBefore: body.issuedBefore, createdAt: .stamp())
            // Noted first: this node's own NOTIFY must not make it apply the record a second time.
            revocations.noteApplied(record.id)
            try await services.repositories.insertRevocation(record)
            try await services.revocations.reload()
            // Live meetings too: matching participants are removed (1010) and cannot come back.
            // Other nodes do the same for theirs when they load the list (LiveRevocations).
            await hub.revoke(record)
            return RevocationResponse(
                id: record.id, apiKey: record.apiKey, jti: record.jwtID, participantId: record.participantId, roomId: record.roomId,
                issuedBefore: record.issuedBefore, createdAt: record.createdAt)
        }
    }
}

/// Refuses admin requests without the admin credential.
struct AdminGuard: RouterMiddleware {
    let services: Services
    func handle(_ request: Request, context: AppContext, next: (Request, AppContext) async throws -> Response) async throws -> Response {
        try await services.requireAdmin(
            request, address: services.clientAddress.resolve(remote: context.remoteAddress, forwardedFor: ClientAddress.forwardedFor(request.headers))
        )
        return try await next(request, context)
    }
}

/// The set a JSON array of names stands for, or a 400 naming the field and the unknown value.
private func names<Names: WireNamedSet>(_ list: [String], _ field: String, _ decoder: any Decoder) throws -> Names {
    do {
        return try Names(names: list)
    } catch {
        throw decoder.invalid("`\(field)`: unknown value \(error.name).")
    }
}
