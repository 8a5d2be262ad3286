import Foundation
import Testing

@testable import AdmitToken

/// Signed tokens whose time claims take values no clock will reach. The signature is valid,
/// so these reach step 5 and its messages, where unsigned fuzzing never gets.
@Suite("extreme time claims")
struct ExtremeTimesTests {
    static let extremes: [String] = [
        "1e19", "-1e19", "1e300", "-1e300", "1.7976931348623157e308", "-1.7976931348623157e308",
        "9223372036854775807", "9223372036854775808", "-9223372036854775809", "1e15", "-1e15",
        "999999999999", "1e12", "-1e12", "5e-324", "-0", "0", "1e400", "-1e400",
    ]

    /// The contract's steps as a plain model. A number too large for a Double (1e400) is no
    /// NumericDate: `nbf` or `iat` so written fail step 1's claim types, `exp` reads as missing.
    /// Then step 5: exp first, then nbf, then iat, one leeway.
    static func expectedReason(exp: Double?, nbf: Double?, iat: Double?, leeway: Double = 60) -> TokenError.Reason? {
        if nbf?.isFinite == false || iat?.isFinite == false { return .malformed }
        guard let exp, exp.isFinite else { return .expMissing }
        if !(now < exp + leeway) { return .expired }
        if let nbf, nbf > now + leeway { return .notYetValid }
        if let iat, iat > now + leeway { return .issuedInFuture }
        return nil
    }

    static func reason(of token: String) -> TokenError.Reason? {
        do {
            _ = try verifier().verify(token)
            return nil
        } catch {
            return error.reason
        }
    }

    @Test("a signed token with an extreme exp, nbf or iat is refused (or accepted) with the model's reason", arguments: extremes)
    func eachClaim(text: String) throws {
        let value = try #require(Double(text))
        let expToken = forge(payload(#""exp":\#(text)"#, without: ["exp"]))
        #expect(Self.reason(of: expToken) == Self.expectedReason(exp: value, nbf: nil, iat: now - 60))
        let nbfToken = forge(payload(#""nbf":\#(text)"#))
        #expect(Self.reason(of: nbfToken) == Self.expectedReason(exp: now + 3600, nbf: value, iat: now - 60))
        let iatToken = forge(payload(#""iat":\#(text)"#, without: ["iat"]))
        #expect(Self.reason(of: iatToken) == Self.expectedReason(exp: now + 3600, nbf: nil, iat: value))
    }

    @Test("the issue's crashing tokens get their reasons: nbf 1e19 not yet valid, exp -1e19 expired, iat 1e19 in the future")
    func reportedTokens() throws {
        #expect(Self.reason(of: forge(payload(#""nbf":1e19"#))) == .notYetValid)
        #expect(Self.reason(of: forge(payload(#""exp":-1e19"#, without: ["exp"]))) == .expired)
        #expect(Self.reason(of: forge(payload(#""iat":1e19"#, without: ["iat"]))) == .issuedInFuture)
        #expect(throws: TokenError(.invalidToken, .notYetValid, "the token is valid only in more than 30000 years (nbf)")) {
            try verifier().verify(forge(payload(#""nbf":1e19"#)))
        }
    }

    @Test("inspect explains every extreme time in words, signed or not")
    func inspectExtremes() {
        let keys = StaticKeys([apiKey: VerificationKey(secrets: [LiveSecret(secret)])])
        for text in Self.extremes {
            let token = forge(payload(#""exp":\#(text),"nbf":\#(text),"iat":\#(text)"#, without: ["exp", "iat"]))
            for provider in [nil, keys as (any KeyProvider)?] {
                let explanation = Explanation(token: token, keys: provider, clock: .fixed(now))
                #expect(explanation.text.contains("Claims:"))
                #expect(explanation.problems.contains { $0.reason == .expired } == (Double(text).map { $0.isFinite && !(now < $0 + 60) } ?? false))
                _ = explanation.json.jsonText
            }
        }
    }

    @Test("relative times are total: every magnitude and infinity read as words")
    func relativeTimeIsTotal() {
        #expect(RelativeTime.describe(7380) == "2 h 3 min")
        #expect(RelativeTime.describe(-45) == "45 s")
        #expect(RelativeTime.describe(1e19) == "more than 30000 years")
        #expect(RelativeTime.describe(-.infinity) == "more than 30000 years")
        #expect(RelativeTime.describe(.nan) == "an unknown time")
        #expect(RelativeTime.describe(999_999_999_999) == "11574074 d 1 h")
        #expect(RelativeTime.expiry(-1e19, now: now) == "expired more than 30000 years ago")
    }

    /// Random combinations of the three claims over every order of magnitude, signed with the
    /// key's secret, against the model. Deterministic, so a failure names its case.
    @Test("fuzzing signed tokens over time claims of every magnitude agrees with the model")
    func fuzzSigned() {
        var generator = PayloadFuzzTests.Generator(state: 0x5EED_71AE_5A17_0001)
        func value() -> (text: String, value: Double)? {
            switch Int.random(in: 0..<10, using: &generator) {
            case 0: return nil
            case 1: return ("\(Int(now) + Int.random(in: -200...200, using: &generator))", 0)
            case 2:
                let text = Self.extremes.randomElement(using: &generator) ?? "0"
                return (text, 0)
            default:
                let sign = Bool.random(using: &generator) ? "-" : ""
                let mantissa = Int.random(in: 1...9, using: &generator)
                let exponent = Int.random(in: 0...330, using: &generator)
                return ("\(sign)\(mantissa)e\(exponent)", 0)
            }
        }
        var mismatches: [String] = []
        for _ in 0..<4000 {
            let exp = value(), nbf = value(), iat = value()
            var members: [String] = []
            if let exp { members.append(#""exp":\#(exp.text)"#) }
            if let nbf { members.append(#""nbf":\#(nbf.text)"#) }
            if let iat { members.append(#""iat":\#(iat.text)"#) }
            let token = forge(payload(members.joined(separator: ","), without: ["exp", "iat"]))
            let expected = Self.expectedReason(
                exp: exp.flatMap { Double($0.text) }, nbf: nbf.flatMap { Double($0.text) }, iat: iat.flatMap { Double($0.text) })
            let actual = Self.reason(of: token)
            if actual != expected { mismatches.append("\(members): \(String(describing: actual)) vs \(String(describing: expected))") }
            _ = Explanation(token: token, keys: nil, clock: .fixed(now)).text
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }
}
