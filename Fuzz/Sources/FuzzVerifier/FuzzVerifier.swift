import AdmitToken

/// libFuzzer target for the token verifier and `admit token inspect`'s explanation.
///
/// The first byte picks the mode: even, the input is a whole token, as an attacker without a
/// secret sends it (steps 1-4 stop most of these); odd, the rest is a payload that is signed
/// with the key's secret first, so every step after the signature check (time claims,
/// permissions, version, roles, revocation, step 9, and their messages) sees it too.
enum FuzzVerifier {
    static let secret = Secret("fuzz-secret-0123456789abcdef0123456789abcdef")
    static let verifier: Verifier? = secret.map { secret in
        var verifier = Verifier(
            keys: StaticKeys(["fuzz-key": VerificationKey(secrets: [LiveSecret(secret)])]), leeway: 60, clock: .fixed(1_795_991_400))
        verifier.maxLifetime = 86_400
        return verifier
    }
    static let header = Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8)

    static func run(_ input: UnsafeRawBufferPointer) {
        guard let first = input.first, let verifier, let secret else { return }
        let rest = Array(input.dropFirst())
        let token: String
        if first & 1 == 0 {
            token = String(decoding: rest, as: UTF8.self)
        } else {
            let signingInput = base64URL(header) + "." + base64URL(rest)
            token = signingInput + "." + base64URL(secret.authenticationCode(for: Array(signingInput.utf8)))
        }
        let uses: [TokenUse?] = [nil, .join(roomId: "abcd-efgh-ijkl", participantId: "p1"), .serverAPI(roomId: nil)]
        let use = uses[Int(first >> 1) % uses.count]
        switch Result(catching: { () throws(TokenError) in try verifier.verify(token, for: use) }) {
        case .success(let claims):
            // Whatever was accepted is the known key's, with the permissions rule of step 6.
            precondition(claims.apiKey == "fuzz-key")
            precondition(!(claims.permissions.contains(.askJoin) && !claims.permissions.isDisjoint(with: [.allowJoin, .allowMod])))
        case .failure(let error):
            _ = error.body.jsonText
        }
        let explanation = Explanation(token: token, keys: StaticKeys(["fuzz-key": VerificationKey(secrets: [LiveSecret(secret)])]), use: use)
        _ = explanation.text
        _ = explanation.json.jsonText
    }

    /// base64url without padding, written here so the target depends on the public API only.
    static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 4 / 3 + 4)
        var index = 0
        while index + 3 <= bytes.count {
            let value = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8 | Int(bytes[index + 2])
            out += [alphabet[value >> 18], alphabet[(value >> 12) & 63], alphabet[(value >> 6) & 63], alphabet[value & 63]]
            index += 3
        }
        if bytes.count - index == 1 {
            let value = Int(bytes[index]) << 16
            out += [alphabet[value >> 18], alphabet[(value >> 12) & 63]]
        } else if bytes.count - index == 2 {
            let value = Int(bytes[index]) << 16 | Int(bytes[index + 1]) << 8
            out += [alphabet[value >> 18], alphabet[(value >> 12) & 63], alphabet[(value >> 6) & 63]]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        FuzzVerifier.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable's entry point as `<module>_main`: hand over to libFuzzer's driver.
    @_cdecl("FuzzVerifier_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var argc = argc
        var argv = argv
        return runDriver(&argc, &argv, fuzzOne)
    }
#else
    @main
    struct Usage {
        static func main() {
            print("A libFuzzer target: build and run it with Fuzz/run.sh.")
        }
    }
#endif
