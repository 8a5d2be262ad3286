import Crypto

#if canImport(CCryptoBoringSSL)
    // swift-crypto's own BoringSSL, which its `SHA256` wraps. Calling its SHA-256 context
    // functions directly keeps swift-crypto's primitive while skipping the wrapper's
    // per-call heap copies of the context (see docs/decisions.md, "The MAC").
    import CCryptoBoringSSL
#endif

/// An API key's signing secret with its HMAC-SHA256 key schedule computed once.
///
/// The secret's UTF-8 bytes are the HMAC key, as `jsonwebtoken` and PyJWT use a string
/// secret. HMAC (RFC 2104) is composed from SHA-256: the two padded-key states are hashed
/// once, and each MAC only continues copies of them. Where swift-crypto builds on its
/// BoringSSL (Linux), the states are BoringSSL contexts copied on the stack; elsewhere
/// they are swift-crypto `SHA256` values. The description never shows the value.
public struct Secret: @unchecked Sendable, CustomStringConvertible {
    #if canImport(CCryptoBoringSSL)
        private let inner: SHA256_CTX
        private let outer: SHA256_CTX
    #else
        private let inner: SHA256
        private let outer: SHA256
    #endif

    /// A secret from its text; nil when the text is empty (an empty key signs nothing safely).
    public init?(_ text: String) {
        guard !text.isEmpty else { return nil }
        self.init(bytes: Array(text.utf8))
    }

    /// A secret from raw key bytes.
    init(bytes: [UInt8]) {
        var key = bytes.count > 64 ? Array(SHA256.hash(data: bytes)) : bytes
        key += [UInt8](repeating: 0, count: 64 - key.count)
        let innerPad = key.map { $0 ^ 0x36 }
        let outerPad = key.map { $0 ^ 0x5C }
        #if canImport(CCryptoBoringSSL)
            var inner = SHA256_CTX()
            var outer = SHA256_CTX()
            CCryptoBoringSSL_SHA256_Init(&inner)
            CCryptoBoringSSL_SHA256_Init(&outer)
            innerPad.withUnsafeBytes { _ = CCryptoBoringSSL_SHA256_Update(&inner, $0.baseAddress, 64) }
            outerPad.withUnsafeBytes { _ = CCryptoBoringSSL_SHA256_Update(&outer, $0.baseAddress, 64) }
        #else
            var inner = SHA256()
            inner.update(data: innerPad)
            var outer = SHA256()
            outer.update(data: outerPad)
        #endif
        self.inner = inner
        self.outer = outer
    }

    public var description: String { "Secret(redacted)" }

    /// HMAC-SHA256 of `input`, given to `body` as 32 bytes.
    @inline(__always)
    func withMAC<R>(_ input: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        #if canImport(CCryptoBoringSSL)
            var context = inner
            var digest = SIMD32<UInt8>()
            defer {
                // The working context continues the key's state: wipe it, as swift-crypto does.
                withUnsafeMutableBytes(of: &context) { CCryptoBoringSSL_OPENSSL_cleanse($0.baseAddress, $0.count) }
            }
            return withUnsafeMutableBytes(of: &digest) { digestBytes in
                let out = digestBytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
                CCryptoBoringSSL_SHA256_Update(&context, input.baseAddress, input.count)
                CCryptoBoringSSL_SHA256_Final(out, &context)
                context = outer
                CCryptoBoringSSL_SHA256_Update(&context, out, 32)
                CCryptoBoringSSL_SHA256_Final(out, &context)
                return body(UnsafeRawBufferPointer(digestBytes))
            }
        #else
            var innerHash = inner
            innerHash.update(bufferPointer: input)
            var outerHash = outer
            innerHash.finalize().withUnsafeBytes { outerHash.update(bufferPointer: $0) }
            return outerHash.finalize().withUnsafeBytes(body)
        #endif
    }

    /// HMAC-SHA256 of `bytes` under this secret: for signing what the server sends on the key's
    /// behalf (webhooks), so receivers can check it with the secret they already hold.
    public func authenticationCode(for bytes: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBytes { input in output.withUnsafeMutableBytes { mac(input, into: $0) } }
        return output
    }

    /// HMAC-SHA256 of `input` written into `output` (32 bytes).
    func mac(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) {
        withMAC(input) { output.copyMemory(from: $0) }
    }

    /// Whether `signature` is this secret's MAC of `input`, compared in constant time.
    func isValid(signature: UnsafeRawBufferPointer, for input: UnsafeRawBufferPointer) -> Bool {
        withMAC(input) { expected in
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

    /// The key whose name is the UTF-8 text `apiKey` (valid UTF-8, taken from a token), with
    /// that name as a string. The verifier asks this first, so a provider holding a
    /// `KeyTable` answers without building a string; the default builds one and asks
    /// `verificationKey(for:)`.
    func namedKey(utf8 apiKey: UnsafeRawBufferPointer) -> (name: String, key: VerificationKey)?
}

extension KeyProvider {
    public func namedKey(utf8 apiKey: UnsafeRawBufferPointer) -> (name: String, key: VerificationKey)? {
        let name = String(decoding: apiKey, as: UTF8.self)
        return verificationKey(for: name).map { (name, $0) }
    }
}

/// A fixed set of API keys.
public struct StaticKeys: KeyProvider {
    public let keys: KeyTable

    public init(_ keys: [String: VerificationKey]) {
        self.keys = KeyTable(keys)
    }

    public func verificationKey(for apiKey: String) -> VerificationKey? {
        keys[apiKey]
    }

    public func namedKey(utf8 apiKey: UnsafeRawBufferPointer) -> (name: String, key: VerificationKey)? {
        keys.lookup(utf8: apiKey)
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
