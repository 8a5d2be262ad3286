public import Crypto
public import Foundation

/// Seals API key secrets at rest with AES-256-GCM under the server's master key, bound to
/// the API key they belong to (associated data), so a copied database file leaks nothing
/// and a sealed secret moved to another key's row does not open.
public struct SecretBox: Sendable {
    private let key: SymmetricKey

    /// A box over a 32-byte master key.
    public init(masterKey: Data) throws {
        guard masterKey.count == 32 else { throw StoreError("the master key must be 32 bytes (base64 of 32 random bytes)") }
        self.key = SymmetricKey(data: masterKey)
    }

    /// A box over a master key written as base64 (surrounding whitespace ignored).
    public init(base64: String) throws {
        guard let data = Data(base64Encoded: base64.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw StoreError("the master key is not base64")
        }
        try self.init(masterKey: data)
    }

    /// A new random master key, as base64.
    public static func generateMasterKey() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    /// A key for another purpose, derived from the master key (HKDF-SHA256 with `label`): the
    /// database alone never holds what it takes to make one of its values.
    public func derivedKey(_ label: String) -> SymmetricKey {
        HKDF<SHA256>.deriveKey(inputKeyMaterial: key, info: Data(label.utf8), outputByteCount: 32)
    }

    public func seal(_ secret: String, apiKey: String) throws -> Data {
        let box = try AES.GCM.seal(Data(secret.utf8), using: key, authenticating: Data(apiKey.utf8))
        guard let combined = box.combined else { throw StoreError("sealing failed") }
        return combined
    }

    public func open(_ sealed: Data, apiKey: String) throws -> String {
        do {
            let box = try AES.GCM.SealedBox(combined: sealed)
            let data = try AES.GCM.open(box, using: key, authenticating: Data(apiKey.utf8))
            return String(decoding: data, as: UTF8.self)
        } catch {
            throw StoreError("cannot open the secret of API key \(apiKey): wrong master key or damaged data")
        }
    }
}
