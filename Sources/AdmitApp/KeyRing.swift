package import AdmitCore
package import AdmitStore
package import AdmitToken
import Foundation
import Synchronization

/// The API keys the verifier knows, held in memory (verification never waits on the store)
/// and reloaded from the store after every change and periodically.
package final class KeyRing: KeyProvider {
    private let keys = Mutex(KeyTable([:]))
    /// Each key's API settings, reloaded with the keys (so a change reaches the next join on every server).
    private let settingsByKey = Mutex<[String: APISettings]>([:])
    /// Each key's name (the `user.name` rooms show).
    private let names = Mutex<[String: String]>([:])
    private let repositories: any Repositories
    private let box: SecretBox

    package init(repositories: any Repositories, box: SecretBox) {
        self.repositories = repositories
        self.box = box
    }

    package func verificationKey(for apiKey: String) -> VerificationKey? {
        keys.withLock { $0[apiKey] }
    }

    package func namedKey(utf8 apiKey: UnsafeRawBufferPointer) -> (name: String, key: VerificationKey)? {
        keys.withLock { $0.lookup(utf8: apiKey) }
    }

    /// The current secret of an active key, for signing without a trip to the store.
    package func signingSecret(for apiKey: String) -> Secret? {
        guard let key = verificationKey(for: apiKey), !key.isDeactivated else { return nil }
        return key.secrets.first?.secret
    }

    /// The key's API settings; empty (everything unset) for a key without any.
    package func settings(for apiKey: String) -> APISettings {
        settingsByKey.withLock { $0[apiKey] } ?? APISettings()
    }

    /// The name the key was created with, if the key exists.
    package func name(of apiKey: String) -> String? {
        names.withLock { $0[apiKey] }
    }

    /// Orders reloads: one that started earlier never replaces what a later one installed.
    private let reloads = ReloadOrder()

    /// Reads every key from the store and opens its live secrets. Reloads may run at once
    /// (each change reloads, and so does the periodic refresh): a read that started before
    /// another's is not installed over it, so a change a reload has seen is never undone.
    package func reload() async throws {
        let ticket = reloads.begin()
        var loaded: [String: VerificationKey] = [:]
        var settings: [String: APISettings] = [:]
        var named: [String: String] = [:]
        for record in try await repositories.keys() {
            loaded[record.apiKey] = try verificationKey(record)
            named[record.apiKey] = record.name
            if record.settings != nil { settings[record.apiKey] = APISettings(storedText: record.settings) }
        }
        let table = KeyTable(loaded)
        reloads.install(ticket) {
            keys.withLock { $0 = table }
            settingsByKey.withLock { $0 = settings }
            names.withLock { $0 = named }
        }
    }

    package func verificationKey(_ record: APIKeyRecord) throws -> VerificationKey {
        func opened(_ sealed: Data) throws -> Secret {
            guard let secret = Secret(try box.open(sealed, apiKey: record.apiKey)) else {
                throw StoreError("API key \(record.apiKey) has an empty secret")
            }
            return secret
        }
        var secrets = [LiveSecret(try opened(record.sealedSecret))]
        let now = Date()
        for previous in record.previousSecrets where previous.validUntil > now {
            secrets.append(LiveSecret(try opened(previous.sealed), validUntil: previous.validUntil.timeIntervalSince1970))
        }
        return VerificationKey(secrets: secrets, isDeactivated: record.isDeactivated)
    }
}

/// Revocations in memory for step 8, reloaded with the keys.
package final class RevocationList: RevocationChecking {
    private let byKey = Mutex<[String: [RevocationRecord]]>([:])
    private let repositories: any Repositories

    package init(repositories: any Repositories) {
        self.repositories = repositories
    }

    private let reloads = ReloadOrder()

    package func reload() async throws {
        let ticket = reloads.begin()
        let all = try await repositories.revocations()
        let grouped = Dictionary(grouping: all, by: \.apiKey)
        reloads.install(ticket) { byKey.withLock { $0 = grouped } }
    }

    /// Every revocation loaded, in no particular order.
    package var all: [RevocationRecord] { byKey.withLock { $0.values.flatMap { $0 } } }

    package func isRevoked(_ claims: Claims) -> Bool {
        byKey.withLock { $0[claims.apiKey] }?.contains { Self.matches($0, claims) } ?? false
    }

    /// A revocation names a jti, a participant, a room (each alone or together), or a time
    /// before which every token of the key was issued (tokens without `iat` included).
    package static func matches(_ revocation: RevocationRecord, _ claims: Claims) -> Bool {
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
    /// Settings as the store keeps them: the one parser of the stored text (validated when it
    /// was written, read leniently; none stored is everything unset).
    package init(storedText text: String?) {
        self.init(stored: text.flatMap { try? JSONValue(parsing: $0) } ?? .object([]))
    }
}

/// Tickets for reloads that run at once: a reload takes one before it reads the store and
/// installs what it read only if no reload with a later ticket installed first.
package final class ReloadOrder: Sendable {
    private let state = Mutex<(issued: UInt64, installed: UInt64)>((0, 0))

    package init() {}

    package func begin() -> UInt64 {
        state.withLock { state in
            state.issued &+= 1
            return state.issued
        }
    }

    package func install(_ ticket: UInt64, _ apply: () -> Void) {
        state.withLock { state in
            guard ticket > state.installed else { return }
            state.installed = ticket
            apply()
        }
    }
}
