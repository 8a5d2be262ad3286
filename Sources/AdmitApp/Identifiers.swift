/// Random identifiers and secrets, from the system's cryptographic generator.
package enum Identifiers {
    private static let roomAlphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
    private static let hex = Array("0123456789abcdef")

    /// A room id shaped like VideoSDK's: `abcd-efgh-ijkl` (62 bits of randomness).
    package static func roomId() -> String {
        var generator = SystemRandomNumberGenerator()
        let characters = (0..<12).map { _ in roomAlphabet[Int.random(in: 0..<roomAlphabet.count, using: &generator)] }
        return String(characters[0..<4]) + "-" + String(characters[4..<8]) + "-" + String(characters[8..<12])
    }

    /// `count` random hex digits.
    package static func hex(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in hex[Int.random(in: 0..<16, using: &generator)] })
    }

    /// An API key: a random UUID-shaped identifier, public.
    package static func apiKey() -> String {
        let digits = hex(32)
        let parts = [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { range in
            String(digits[digits.index(digits.startIndex, offsetBy: range.lowerBound)..<digits.index(digits.startIndex, offsetBy: range.upperBound)])
        }
        return parts.joined(separator: "-")
    }

    /// A secret: 256 random bits as 64 hex digits.
    package static func secret() -> String { hex(64) }

    /// An internal record id: 24 hex digits.
    package static func recordId() -> String { hex(24) }
}
