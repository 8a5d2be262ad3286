/// The compact serialization split into its three segments (step 1 of verification).
struct TokenParts {
    /// Tokens larger than this are refused before any decoding.
    static let maxSize = 8192

    var header: Range<Int>
    var payload: Range<Int>
    var signature: Range<Int>

    /// The signing input: `header.payload`.
    var signingInput: Range<Int> { 0..<payload.upperBound }

    static func split(_ token: UnsafeRawBufferPointer) -> Result<TokenParts, TokenError> {
        guard token.count <= maxSize else {
            return .failure(TokenError(.invalidToken, .tooLarge, "the token is \(token.count) bytes; at most \(maxSize) are accepted"))
        }
        guard !token.isEmpty else { return .failure(TokenError(.invalidToken, .malformed, "the token is empty")) }
        var dots = (first: -1, second: -1)
        var count = 0
        for index in 0..<token.count where token[index] == UInt8(ascii: ".") {
            count += 1
            if count == 1 { dots.first = index } else if count == 2 { dots.second = index }
        }
        guard count == 2 else {
            return .failure(TokenError(.invalidToken, .malformed, "a token has 3 parts separated by dots; this one has \(count + 1)"))
        }
        let parts = TokenParts(header: 0..<dots.first, payload: dots.first + 1..<dots.second, signature: dots.second + 1..<token.count)
        guard !parts.header.isEmpty else { return .failure(TokenError(.invalidToken, .malformed, "the header part is empty")) }
        guard !parts.payload.isEmpty else { return .failure(TokenError(.invalidToken, .malformed, "the payload part is empty")) }
        return .success(parts)
    }

    static func header(_ token: UnsafeRawBufferPointer, _ range: Range<Int>) -> Result<Header, TokenError> {
        do throws(JSONError) {
            return .success(try Header.decode(segment: UnsafeRawBufferPointer(rebasing: token[range])))
        } catch {
            return .failure(TokenError(.invalidToken, .malformed, "header: \(error)"))
        }
    }

    static func payload(_ token: UnsafeRawBufferPointer, _ range: Range<Int>) -> Result<Payload, TokenError> {
        let segment = UnsafeRawBufferPointer(rebasing: token[range])
        guard let count = Base64URL.decodedCount(segment.count) else {
            return .failure(TokenError(.invalidToken, .malformed, "the payload is not base64url"))
        }
        return withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { buffer in
            guard Base64URL.decode(segment, into: buffer) else {
                return .failure(TokenError(.invalidToken, .malformed, "the payload is not base64url"))
            }
            do throws(JSONError) {
                return .success(try Payload.decode(UnsafeRawBufferPointer(buffer)))
            } catch {
                return .failure(TokenError(.invalidToken, .malformed, "payload: \(error)"))
            }
        }
    }

    /// The decoded signature, or nil when it is valid base64url of another length than
    /// HS256's 32 bytes (judged at step 4, like any wrong signature).
    static func signature(_ token: UnsafeRawBufferPointer, _ range: Range<Int>) -> Result<SIMD32<UInt8>?, TokenError> {
        let segment = UnsafeRawBufferPointer(rebasing: token[range])
        if segment.count == 43 {
            var bytes = SIMD32<UInt8>()
            let ok = withUnsafeMutableBytes(of: &bytes) { Base64URL.decode(segment, into: $0) }
            return ok ? .success(bytes) : .failure(TokenError(.invalidToken, .malformed, "the signature is not base64url"))
        }
        return Base64URL.decode(segment) == nil
            ? .failure(TokenError(.invalidToken, .malformed, "the signature is not base64url"))
            : .success(nil)
    }
}
