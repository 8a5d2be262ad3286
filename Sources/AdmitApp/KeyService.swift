public import AdmitStore
import AdmitToken
public import Foundation

/// API key management, shared by the admin API and `admit keys`: secrets are generated
/// here, sealed before they reach the store, and shown once.
public struct KeyService: Sendable {
    let repositories: any Repositories
    let box: SecretBox
    /// Called after every change so that the verifier sees it at once.
    let changed: @Sendable () async throws -> Void

    public init(repositories: any Repositories, box: SecretBox, changed: @escaping @Sendable () async throws -> Void = {}) {
        self.repositories = repositories
        self.box = box
        self.changed = changed
    }

    /// A key with its secret in clear: only ever returned by `create` and `rotate`.
    public struct Issued: Sendable {
        public var record: APIKeyRecord
        public var secret: String
        /// After a rotation: until when the secret it replaced verifies (now, for a grace of 0).
        public var previousSecretValidUntil: Date? = nil
    }

    public func create(name: String, now: Date = .stamp()) async throws -> Issued {
        let apiKey = Identifiers.apiKey()
        let secret = Identifiers.secret()
        let record = APIKeyRecord(
            apiKey: apiKey, name: name, sealedSecret: try box.seal(secret, apiKey: apiKey), createdAt: now, updatedAt: now)
        try await repositories.insertKey(record)
        try await changed()
        return Issued(record: record, secret: secret)
    }

    /// A new secret; the one it replaces keeps verifying for `grace` seconds, and secrets
    /// replaced earlier keep the grace their own rotations promised. Atomic in the store, so
    /// concurrent rotations and deactivations all take effect.
    public func rotate(apiKey: String, grace: Int = 3600, now: Date = .stamp()) async throws -> Issued? {
        let secret = Identifiers.secret()
        let sealed = try box.seal(secret, apiKey: apiKey)
        let until = now.addingTimeInterval(TimeInterval(grace))
        guard let record = try await repositories.rotateKey(apiKey: apiKey, sealedSecret: sealed, previousValidUntil: until, now: now) else {
            return nil
        }
        try await changed()
        return Issued(record: record, secret: secret, previousSecretValidUntil: until)
    }

    /// Deactivates the key: its tokens are refused with 4053 from now on.
    public func deactivate(apiKey: String, now: Date = .stamp()) async throws -> APIKeyRecord? {
        guard let record = try await repositories.deactivateKey(apiKey: apiKey, now: now) else { return nil }
        try await changed()
        return record
    }

    public func list() async throws -> [APIKeyRecord] {
        try await repositories.keys()
    }

    /// The current secret of a key, opened (dev mode shows the dev key's secret at start).
    public func secret(of record: APIKeyRecord) throws -> String {
        try box.open(record.sealedSecret, apiKey: record.apiKey)
    }
}
