import Foundation
import Testing

@testable import AdmitToken

@Suite("explanation")
struct ExplanationTests {
    @Test("every problem is listed, not only the first")
    func allProblems() {
        let token = forge(
            header: #"{"alg":"HS512"}"#,
            payload(#""permissions":["ask_join","allow_mod"],"exp":\#(Int(now) - 7380),"roomId":"r""#, without: ["permissions", "exp"]))
        let explanation = Explanation(token: token, clock: .fixed(now))
        #expect(explanation.problems.map(\.reason) == [.algorithm, .expired, .permissions, .versionRequired])
        #expect(explanation.problems[1].detail == "expired 2 h 3 min ago")
        #expect(!explanation.signatureChecked)
    }

    @Test("without a secret a well-formed token shows no problem; with the wrong one it does")
    func signatureOnlyWithSecret() {
        let token = forge(payload(), secret: "someone-else")
        #expect(Explanation(token: token, clock: .fixed(now)).isValid)
        let checked = Explanation(token: token, keys: SingleSecret(secret), clock: .fixed(now))
        #expect(checked.signatureChecked)
        #expect(checked.problems.map(\.reason) == [.signature])
    }

    @Test("the JSON report has the contract's fields")
    func jsonReport() throws {
        let explanation = Explanation(token: forge(payload(without: ["exp"])), keys: SingleSecret(secret), clock: .fixed(now))
        let json = explanation.json
        #expect(json["header"]?["alg"] == .string("HS256"))
        #expect(json["claims"]?["apikey"] == .string("demo-key"))
        #expect(json["signatureChecked"] == .bool(true))
        #expect(json["valid"] == .bool(false))
        guard case .array(let problems)? = json["problems"] else { Issue.record("no problems array"); return }
        #expect(problems.count == 1)
        #expect(problems.first?["code"] == .number("4002"))
        #expect(problems.first?["name"] == .string("INVALID_TOKEN"))
        #expect(problems.first?["reason"] == .string("exp-missing"))
        #expect(problems.first?["message"] == .string(ErrorCode.invalidToken.message))
    }

    @Test("the text report shows times in ISO 8601 and relative to now")
    func textReport() {
        let text = Explanation(token: forge(payload()), clock: .fixed(now)).text
        #expect(text.contains("exp"))
        #expect(text.contains("2026-11-29T23:30:00Z, expires in 1 h"))
        #expect(text.contains("2026-11-29T22:29:00Z, 1 min ago"))
    }

    @Test("a Bearer prefix and surrounding whitespace are ignored")
    func bearer() {
        #expect(Explanation(token: "  Bearer " + forge(payload()) + "\n", keys: SingleSecret(secret), clock: .fixed(now)).isValid)
    }

    @Test("a payload that is not JSON still shows the header")
    func partial() {
        let token = b64(#"{"alg":"HS256"}"#) + "." + b64("not json") + ".AAAA"
        let explanation = Explanation(token: token, clock: .fixed(now))
        #expect(explanation.header?["alg"] == .string("HS256"))
        #expect(explanation.claims == nil)
        #expect(explanation.problems.first?.reason == .malformed)
    }
}
