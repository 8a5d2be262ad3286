import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Synchronization

/// The API keys the verifier knows, held in memory (verification never waits on the store)
/// and reloaded from the store after every change and periodically.
final class KeyRing: KeyProvider {
    private let keys = Mutex(KeyTable([:]))
    /// Each key's API settings, reloaded with the keys (so a change reaches the next join on every server).
    private let settingsByKey = Mutex<[String: APISettings]>([:])
    private let repositories: any Repositories
    private let box: SecretBox

    init(repositories: any Repositories, box: SecretBox) {
        self.repositories = repositories
        self.box = box
    }

    func verificationKey(for apiKey: String) -> VerificationKey? {
        keys.withLock { $0[apiKey] }
    }

    func namedKey(utf8 apiKey: UnsafeRawBufferPointer) -> (name: String, key: VerificationKey)? {
        keys.withLock { $0.lookup(utf8: apiKey) }
    }

    /// The current secret of an active key, for signing without a trip to the store.
    func signingSecret(for apiKey: String) -> Secret? {
        guard let key = verificationKey(for: apiKey), !key.isDeactivated else { return nil }
        return key.secrets.first?.secret
    }

    /// The key's API settings; empty (everything unset) for a key without any.
    func settings(for apiKey: String) -> APISettings {
        settingsByKey.withLock { $0[apiKey] } ?? APISettings()
    }

    /// Reads every key from the store and opens its live secrets.
    func reload() async throws {
        var loaded: [String: VerificationKey] = [:]
        var settings: [String: APISettings] = [:]
        for record in try await repositories.keys() {
            loaded[record.apiKey] = try verificationKey(record)
            if let text = record.settings { settings[record.apiKey] = APISettings(stored: text) }
        }
        let table = KeyTable(loaded)
        keys.withLock { $0 = table }
        settingsByKey.withLock { $0 = settings }
    }

    func verificationKey(_ record: APIKeyRecord) throws -> VerificationKey {
        var secrets = [LiveSecret(Secret(try box.open(record.sealedSecret, apiKey: record.apiKey))!)]
        if let previous = record.previousSealedSecret, let until = record.previousSecretValidUntil, until > Date() {
            secrets.append(LiveSecret(Secret(try box.open(previous, apiKey: record.apiKey))!, validUntil: until.timeIntervalSince1970))
        }
        return VerificationKey(secrets: secrets, isDeactivated: record.isDeactivated)
    }
}

/// Revocations in memory for step 8, reloaded with the keys.
final class RevocationList: RevocationChecking {
    private let byKey = Mutex<[String: [RevocationRecord]]>([:])
    private let repositories: any Repositories

    init(repositories: any Repositories) {
        self.repositories = repositories
    }

    func reload() async throws {
        let all = try await repositories.revocations()
        byKey.withLock { $0 = Dictionary(grouping: all, by: \.apiKey) }
    }

    func isRevoked(_ claims: Claims) -> Bool {
        byKey.withLock { $0[claims.apiKey] }?.contains { Self.matches($0, claims) } ?? false
    }

    /// A revocation names a jti, a participant, a room (each alone or together), or a time
    /// before which every token of the key was issued (tokens without `iat` included).
    static func matches(_ revocation: RevocationRecord, _ claims: Claims) -> Bool {
        if let jti = revocation.jwtID, claims.jwtID != jti { return false }
        if let participant = revocation.participantId, claims.participantId != participant { return false }
        if let room = revocation.roomId, claims.roomId != room { return false }
        if let before = revocation.issuedBefore {
            guard let issued = claims.issuedAt else { return true }
            if issued >= before.timeIntervalSince1970 { return false }
        }
        return revocation.jwtID != nil || revocation.participantId != nil || revocation.roomId != nil || revocation.issuedBefore != nil
    }
}

extension APISettings {
    /// Settings as the store keeps them (validated when they were written; read leniently).
    init(stored text: String) {
        self.init(stored: (try? JSONValue(parsing: text)) ?? .object([]))
    }
}
