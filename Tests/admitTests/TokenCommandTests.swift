import AdmitToken
import Foundation
import Testing

private let secretText = "cli-secret-4f1c2a9e7b3d5f60a8c4e2b1d9f7a5c3"
private let secret = Secret(secretText)!
private let env = ["ADMIT_SECRET": secretText]

/// Mints a token through the CLI and returns it.
private func create(_ extra: [String] = []) throws -> String {
    let output = try CLI.run(["token", "create", "--api-key", "demo"] + extra, environment: env)
    try #require(output.status == 0, "admit token create failed: \(output.stderr)")
    return output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("admit token")
struct TokenCommandTests {
    @Test("create prints a token that verifies, with allow_join and a 2 h lifetime by default")
    func createDefaults() throws {
        let before = Date().timeIntervalSince1970.rounded(.down)
        let claims = try Verifier(keys: SingleSecret(secret)).verify(create())
        #expect(claims.apiKey == "demo")
        #expect(claims.permissions == .allowJoin)
        #expect(claims.version == nil)
        let iat = try #require(claims.issuedAt)
        #expect(iat >= before && iat <= before + 5)
        #expect(claims.expiresAt - iat == 7200)
    }

    @Test("room, participant and roles add version 2; every option reaches the claims")
    func createScoped() throws {
        let token = try create([
            "--permissions", "allow_join,allow_mod", "--expires-in", "10m", "--room-id", "2kyv-gzay-64pg",
            "--participant-id", "lxvdplwt", "--roles", "crawler,rtc", "--jti", "t-1",
        ])
        let claims = try Verifier(keys: SingleSecret(secret)).verify(token)
        #expect(claims.permissions == [.allowJoin, .allowMod])
        #expect(claims.version == 2)
        #expect(claims.roomId == "2kyv-gzay-64pg")
        #expect(claims.participantId == "lxvdplwt")
        #expect(claims.roles == [.crawler, .rtc])
        #expect(claims.jwtID == "t-1")
        #expect(claims.expiresAt - claims.issuedAt! == 600)
    }

    @Test("the secret can come from a file, with its trailing newline ignored")
    func secretFile() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("admit-secret-\(UUID().uuidString)")
        try Data((secretText + "\n").utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let output = try CLI.run(["token", "create", "--api-key", "demo", "--secret-file", file.path])
        #expect(output.status == 0)
        #expect(throws: Never.self) { try Verifier(keys: SingleSecret(secret)).verify(output.stdout.trimmingCharacters(in: .newlines)) }
    }

    @Test(
        "bad input exits 64 with a message naming the problem",
        arguments: [
            (["--permissions", "allow_all"], "unknown value 'allow_all'"),
            (["--permissions", "ask_join,allow_join"], "ask_join cannot be combined"),
            (["--expires-in", "2 hours"], "--expires-in '2 hours' is not a lifetime"),
            (["--roles", "admin"], "--roles: unknown value 'admin'"),
            (["--version", "3"], "only 2 exists"),
            (["--participant-id", "bob smith"], "no whitespace"),
        ])
    func badInput(_ arguments: [String], _ message: String) throws {
        let output = try CLI.run(["token", "create", "--api-key", "demo"] + arguments, environment: env)
        #expect(output.status == 64)
        #expect(output.stderr.contains(message))
        #expect(output.stdout.isEmpty)
    }

    @Test("create without any secret says how to give one")
    func missingSecret() throws {
        let output = try CLI.run(["token", "create", "--api-key", "demo"])
        #expect(output.status == 64)
        #expect(output.stderr.contains("--secret-file FILE, ADMIT_SECRET"))
    }

    @Test("verify prints the claims and exits 0 for a valid token")
    func verifyValid() throws {
        let token = try create(["--room-id", "abcd-efgh-ijkl"])
        let output = try CLI.run(["token", "verify", token, "--room-id", "abcd-efgh-ijkl"], environment: env)
        #expect(output.status == 0)
        let claims = try JSONValue(parsing: output.stdout)
        #expect(claims["apikey"] == .string("demo"))
        #expect(claims["roomId"] == .string("abcd-efgh-ijkl"))
    }

    @Test("verify prints the contract's error body on standard error and exits 1")
    func verifyInvalid() throws {
        let token = try create()
        let output = try CLI.run(["token", "verify", token, "--secret", "wrong-secret"])
        #expect(output.status == 1)
        #expect(output.stdout.isEmpty)
        let body = try JSONValue(parsing: output.stderr)
        #expect(
            body
                == .object([
                    JSONMember("statusCode", .number("401")), JSONMember("error", .string("Token is invalid or expired")),
                    JSONMember("code", .number("4002")), JSONMember("name", .string("INVALID_TOKEN")),
                    JSONMember("message", .string("`token` is empty or invalid or might have expired.")),
                    JSONMember("reason", .string("signature")),
                ]))
    }

    @Test(
        "verify checks the use: another room, another participant, the wrong role",
        arguments: [
            (["--room-id", "zzzz-yyyy-xxxx"], 4022),
            (["--participant-id", "mallory"], 4023),
            (["--use", "api"], 4024),
        ])
    func verifyUse(_ arguments: [String], _ code: Int) throws {
        let token = try create(["--room-id", "abcd-efgh-ijkl", "--participant-id", "alice", "--roles", "rtc"])
        let output = try CLI.run(["token", "verify", token] + arguments, environment: env)
        #expect(output.status == 1)
        #expect(try JSONValue(parsing: output.stderr)["code"] == .number(String(code)))
    }

    @Test("verify honours --leeway")
    func verifyLeeway() throws {
        let token = Signer(secret: secret).sign(Claims(apiKey: "demo", lifetime: 1, now: Date().timeIntervalSince1970 - 30))
        #expect(try CLI.run(["token", "verify", token, "--leeway", "60"], environment: env).status == 0)
        let strict = try CLI.run(["token", "verify", token, "--leeway", "0"], environment: env)
        #expect(strict.status == 1)
        #expect(try JSONValue(parsing: strict.stderr)["reason"] == .string("expired"))
    }

    @Test("inspect reads standard input and shows readable times, exit 0")
    func inspectStdin() throws {
        let output = try CLI.run(["token", "inspect", "-"], input: try create() + "\n")
        #expect(output.status == 0)
        #expect(output.stdout.contains("expires in 1 h 59 min") || output.stdout.contains("expires in 2 h"))
        #expect(output.stdout.contains("Signature: not checked"))
    }

    @Test("inspect --json lists every problem and exits 1")
    func inspectJSON() throws {
        let expired = Signer(secret: secret).sign(Claims(apiKey: "demo", permissions: [.askJoin, .allowMod], lifetime: 60, now: 1_700_000_000))
        let output = try CLI.run(["token", "inspect", expired, "--json", "--secret", "not-it"])
        #expect(output.status == 1)
        let report = try JSONValue(parsing: output.stdout)
        #expect(report["signatureChecked"] == .bool(true))
        #expect(report["valid"] == .bool(false))
        guard case .array(let problems)? = report["problems"] else { Issue.record("no problems"); return }
        #expect(problems.compactMap { $0["reason"]?.stringValue } == ["signature", "expired", "permissions"])
        #expect(report["claims"]?["apikey"] == .string("demo"))
    }

    @Test("inspect of something that is not a token exits 1 with the malformed problem")
    func inspectGarbage() throws {
        let output = try CLI.run(["token", "inspect", "hello"])
        #expect(output.status == 1)
        #expect(output.stdout.contains("malformed"))
    }
}
