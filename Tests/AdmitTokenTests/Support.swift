import Crypto
import Foundation

@testable import AdmitToken

/// Fixed instant for deterministic tests: 2026-11-29T22:30:00Z.
let now: Double = 1_795_991_400
let apiKey = "demo-key"
let secretText = "test-secret-0123456789abcdef0123456789abcdef"
let secret = Secret(secretText)!

/// base64url without padding, written independently of the module's codec.
func b64(_ text: String) -> String { b64(Data(text.utf8)) }

func b64(_ data: Data) -> String {
    data.base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

/// A token made from raw header and payload JSON texts, signed with HMAC-SHA256 by swift-crypto directly.
func forge(header: String = #"{"alg":"HS256","typ":"JWT"}"#, _ payload: String, secret: String = secretText) -> String {
    let input = b64(header) + "." + b64(payload)
    let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
    return input + "." + b64(Data(mac))
}

/// A token over raw payload bytes (which need not be UTF-8).
func forge(bytes: [UInt8], secret: String = secretText) -> String {
    let input = b64(#"{"alg":"HS256","typ":"JWT"}"#) + "." + b64(Data(bytes))
    let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: Data(secret.utf8)))
    return input + "." + b64(Data(mac))
}

/// A payload JSON text: the seed's claims, valid at `now`, with `extra` members appended
/// and the names in `without` left out.
func payload(_ extra: String = "", without: Set<String> = []) -> String {
    let base: [(String, String)] = [
        ("apikey", #""demo-key""#),
        ("permissions", #"["allow_join"]"#),
        ("iat", String(Int(now) - 60)),
        ("exp", String(Int(now) + 3600)),
    ]
    var members = base.filter { !without.contains($0.0) }.map { "\"\($0.0)\":\($0.1)" }
    if !extra.isEmpty { members.append(extra) }
    return "{" + members.joined(separator: ",") + "}"
}

/// A verifier knowing `demo-key` (and `off-key`, deactivated), at the fixed instant.
func verifier(leeway: Double = 60, revocations: (any RevocationChecking)? = nil) -> Verifier {
    Verifier(
        keys: StaticKeys([
            apiKey: VerificationKey(secrets: [LiveSecret(secret)]),
            "off-key": VerificationKey(secrets: [LiveSecret(secret)], isDeactivated: true),
        ]),
        leeway: leeway, clock: .fixed(now), revocations: revocations)
}
