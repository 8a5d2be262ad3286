#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// The compact serialization split into its three segments (step 1 of verification).
struct TokenParts {
    /// Tokens larger than this are refused before any decoding.
    static let maxSize = 8192

    var header: Range<Int>
    var payload: Range<Int>
    var signature: Range<Int>

    /// The signing input: `header.payload`.
    var signingInput: Range<Int> { 0..<payload.upperBound }

    static func split(_ token: UnsafeRawBufferPointer) throws(TokenError) -> TokenParts {
        guard token.count <= maxSize else {
            throw TokenError(.invalidToken, .tooLarge, "the token is \(token.count) bytes; at most \(maxSize) are accepted")
        }
        guard let base = token.baseAddress, !token.isEmpty else { throw TokenError(.invalidToken, .malformed, "the token is empty") }
        func dot(after offset: Int) -> Int? {
            guard offset < token.count, let found = memchr(base + offset, Int32(UInt8(ascii: ".")), token.count - offset) else { return nil }
            return base.distance(to: UnsafeRawPointer(found))
        }
        guard let first = dot(after: 0), let second = dot(after: first + 1), dot(after: second + 1) == nil else {
            let count = token.reduce(0) { $0 + ($1 == UInt8(ascii: ".") ? 1 : 0) }
            throw TokenError(.invalidToken, .malformed, "a token has 3 parts separated by dots; this one has \(count + 1)")
        }
        let parts = TokenParts(header: 0..<first, payload: first + 1..<second, signature: second + 1..<token.count)
        guard !parts.header.isEmpty else { throw TokenError(.invalidToken, .malformed, "the header part is empty") }
        guard !parts.payload.isEmpty else { throw TokenError(.invalidToken, .malformed, "the payload part is empty") }
        return parts
    }

    static func header(_ token: UnsafeRawBufferPointer, _ range: Range<Int>) throws(TokenError) -> Header {
        do throws(JSONError) {
            return try Header.decode(segment: UnsafeRawBufferPointer(rebasing: token[range]))
        } catch {
            throw TokenError(.invalidToken, .malformed, "header: \(error)")
        }
    }

    /// Decodes the payload segment, for `inspect` (the claims as strings).
    static func payload(_ token: UnsafeRawBufferPointer, _ range: Range<Int>) throws(TokenError) -> Payload {
        try withPayload(token, range, deferringAPIKey: false) { payload, _ in copy payload }
    }

    /// Decodes the payload segment and calls `body` with it and its JSON text, which lives
    /// in temporary memory only for the call: the verifier's payload keeps the API key as a
    /// range of that text (`Payload.decode(deferringAPIKey:)`).
    @inline(__always)
    static func withPayload<R>(
        _ token: UnsafeRawBufferPointer, _ range: Range<Int>, deferringAPIKey: Bool = true,
        _ body: (borrowing Payload, UnsafeRawBufferPointer) throws(TokenError) -> R
    ) throws(TokenError) -> R {
        let segment = UnsafeRawBufferPointer(rebasing: token[range])
        guard let count = Base64URL.decodedCount(segment.count) else {
            throw TokenError(.invalidToken, .malformed, "the payload is not base64url")
        }
        // Four spare bytes let the decoder store whole words.
        return try withUnsafeTemporaryAllocation(byteCount: count + 4, alignment: 1) { (buffer) throws(TokenError) -> R in
            guard Base64URL.decode(segment, into: buffer) else {
                throw TokenError(.invalidToken, .malformed, "the payload is not base64url")
            }
            let json = UnsafeRawBufferPointer(rebasing: buffer[..<count])
            let payload: Payload
            do throws(JSONError) {
                payload = try Payload.decoded(json, deferringAPIKey: deferringAPIKey)
            } catch {
                throw TokenError(.invalidToken, .malformed, "payload: \(error)")
            }
            return try body(payload, json)
        }
    }

    /// The decoded signature, or nil when it is valid base64url of another length than
    /// HS256's 32 bytes (judged at step 4, like any wrong signature).
    static func signature(_ token: UnsafeRawBufferPointer, _ range: Range<Int>) throws(TokenError) -> SIMD32<UInt8>? {
        let segment = UnsafeRawBufferPointer(rebasing: token[range])
        if segment.count == 43 {
            var bytes = SIMD32<UInt8>()
            guard withUnsafeMutableBytes(of: &bytes, { Base64URL.decode(segment, into: $0) }) else {
                throw TokenError(.invalidToken, .malformed, "the signature is not base64url")
            }
            return bytes
        }
        guard Base64URL.decode(segment) != nil else { throw TokenError(.invalidToken, .malformed, "the signature is not base64url") }
        return nil
    }
}
