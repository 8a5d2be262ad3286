import Crypto

/// An API key's signing secret with its HMAC key schedule computed once.
///
/// The secret's UTF-8 bytes are the HMAC key, as `jsonwebtoken` and PyJWT use a string
/// secret. Its description never shows the value.
public struct Secret: Sendable, CustomStringConvertible {
    let schedule: HMAC<SHA256>

    /// A secret from its text; nil when the text is empty (an empty key signs nothing safely).
    public init?(_ text: String) {
        guard !text.isEmpty else { return nil }
        self.schedule = HMAC<SHA256>(key: SymmetricKey(data: Array(text.utf8)))
    }

    public var description: String { "Secret(redacted)" }

    /// HMAC-SHA256 of `input` written into `output` (32 bytes).
    func mac(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        var hmac = schedule
        hmac.update(data: input)
        let code = hmac.finalize()
        code.withUnsafeBytes { output.copyMemory(from: $0) }
    }

    /// Whether `signature` is this secret's MAC of `input`, compared in constant time.
    func isValid(signature: UnsafeRawBufferPointer, for input: UnsafeRawBufferPointer) -> Bool {
        var hmac = schedule
        hmac.update(data: input)
        let code = hmac.finalize()
        return code.withUnsafeBytes { expected in
            guard expected.count == signature.count else { return false }
            var difference: UInt8 = 0
            for index in 0..<expected.count { difference |= expected[index] ^ signature[index] }
            return difference == 0
        }
    }
}

/// A secret that verifies tokens until `validUntil` (a rotated-out secret in its grace period), or for good.
public struct LiveSecret: Sendable {
    public var secret: Secret
    /// Seconds since 1970; nil means no end.
    public var validUntil: Double?

    public init(_ secret: Secret, validUntil: Double? = nil) {
        self.secret = secret
        self.validUntil = validUntil
    }
}

/// What the verifier needs to know of one API key.
public struct VerificationKey: Sendable {
    /// The secrets that may have signed a token; several during a rotation's grace period.
    public var secrets: [LiveSecret]
    /// A deactivated key's tokens are refused with 4053.
    public var isDeactivated: Bool

    public init(secrets: [LiveSecret], isDeactivated: Bool = false) {
        self.secrets = secrets
        self.isDeactivated = isDeactivated
    }
}

/// Finds an API key's secrets. Implementations answer from memory: verification never waits on I/O.
public protocol KeyProvider: Sendable {
    /// The key named in a token's `apikey` claim, or nil when the server does not know it.
    func verificationKey(for apiKey: String) -> VerificationKey?
}

/// A fixed set of API keys.
public struct StaticKeys: KeyProvider {
    public var keys: [String: VerificationKey]

    public init(_ keys: [String: VerificationKey]) {
        self.keys = keys
    }

    public func verificationKey(for apiKey: String) -> VerificationKey? {
        keys[apiKey]
    }
}

/// One secret for whatever API key the token names: the command line's check, which
/// cannot know which keys exist and so skips the "known" part of step 3.
public struct SingleSecret: KeyProvider {
    public var key: VerificationKey

    public init(_ secret: Secret) {
        self.key = VerificationKey(secrets: [LiveSecret(secret)])
    }

    public func verificationKey(for apiKey: String) -> VerificationKey? {
        key
    }
}

/// Says whether a verified token has been revoked (step 8).
public protocol RevocationChecking: Sendable {
    func isRevoked(_ claims: Claims) -> Bool
}
