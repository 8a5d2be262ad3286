/// Signs claims into a compact HS256 JWS: `{"alg":"HS256","typ":"JWT"}`, the claims, the MAC.
public struct Signer: Sendable {
    /// base64url of `{"alg":"HS256","typ":"JWT"}` followed by the dot.
    private static let headerPrefix: [UInt8] = Array("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.".utf8)

    public let secret: Secret

    public init(secret: Secret) {
        self.secret = secret
    }

    /// The token for `claims`.
    public func sign(_ claims: Claims) -> String {
        claims.withEncoded { payload in
            let payloadCount = Base64URL.encodedCount(payload.count)
            let count = Self.headerPrefix.count + payloadCount + 1 + 43
            return String(unsafeUninitializedCapacity: count) { buffer in
                let raw = UnsafeMutableRawBufferPointer(buffer)
                Self.headerPrefix.withUnsafeBytes { raw.copyMemory(from: $0) }
                var offset = Self.headerPrefix.count
                Base64URL.encode(payload, into: UnsafeMutableRawBufferPointer(rebasing: raw[offset...]))
                offset += payloadCount
                var mac = SIMD32<UInt8>()
                withUnsafeMutableBytes(of: &mac) { secret.mac(UnsafeRawBufferPointer(rebasing: raw[..<offset]), into: $0) }
                raw[offset] = UInt8(ascii: ".")
                offset += 1
                withUnsafeBytes(of: &mac) { Base64URL.encode($0, into: UnsafeMutableRawBufferPointer(rebasing: raw[offset...])) }
                return count
            }
        }
    }
}

/// Token lifetimes written as `jsonwebtoken` users write `expiresIn`.
public enum Lifetime {
    /// The longest lifetime accepted: ten years. Longer tokens are almost certainly mistakes.
    public static let maximum = 10 * 365 * 86_400

    /// Seconds for plain digits (`3600`) or a whole number with a unit: `90s`, `120m`, `24h`, `7d`.
    /// Nil for anything else, zero, or more than `maximum`.
    public static func seconds(_ text: String) -> Int? {
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3_600, "d": 86_400]
        var digits = Substring(text)
        var unit = 1
        if let last = text.last, !last.isNumber {
            guard let size = units[last] else { return nil }
            unit = size
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.count <= 10, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
            let value = Int(digits), value > 0, value * unit <= maximum
        else { return nil }
        return value * unit
    }
}
