import Foundation
import Testing

@testable import AdmitToken

/// One checked-in token minted by another JWT library, with the verdict Admit must reach.
struct Vector: CustomTestStringConvertible, Sendable {
    let library: String
    let name: String
    let secret: String
    let token: String
    let now: Double
    /// nil when the token is valid.
    let expected: (code: Int, reason: String)?
    let claims: [String: JSONValue]

    var testDescription: String { "\(library): \(name)" }

    static func load(_ file: String) -> [Vector] {
        guard let url = Bundle.module.url(forResource: file, withExtension: "json", subdirectory: "Vectors"),
            let text = try? String(contentsOf: url, encoding: .utf8),
            let root = try? JSONValue(parsing: text),
            case .array(let items)? = root["vectors"]
        else { return [] }
        let library = root["library"]?.stringValue ?? file
        let now = root["now"]?.doubleValue ?? 0
        return items.map { item in
            var expected: (Int, String)?
            if case .object = item["expect"] {
                expected = (Int(item["expect"]?["code"]?.doubleValue ?? 0), item["expect"]?["reason"]?.stringValue ?? "")
            }
            var claims: [String: JSONValue] = [:]
            if case .object(let members)? = item["claims"] { for member in members { claims[member.key] = member.value } }
            return Vector(
                library: library, name: item["name"]?.stringValue ?? "?", secret: item["secret"]?.stringValue ?? "",
                token: item["token"]?.stringValue ?? "", now: now, expected: expected, claims: claims)
        }
    }
}

let vectors = Vector.load("pyjwt") + Vector.load("golang-jwt")

@Suite("interop")
struct InteropTests {
    @Test("vector files are present and hold both libraries")
    func vectorsLoaded() {
        #expect(Set(vectors.map { $0.library.prefix(5) }) == ["PyJWT", "golan"])
        #expect(vectors.count >= 30)
    }

    @Test("tokens from other libraries get the expected verdict", arguments: vectors)
    func verdict(_ vector: Vector) throws {
        let verifier = Verifier(keys: SingleSecret(Secret(vector.secret)!), clock: .fixed(vector.now))
        if let expected = vector.expected {
            let error = #expect(throws: TokenError.self) { try verifier.verify(vector.token) }
            #expect(error?.code.value == expected.code)
            #expect(error?.reason.rawValue == expected.reason)
        } else {
            let claims = try verifier.verify(vector.token)
            #expect(claims.apiKey == vector.claims["apikey"]?.stringValue)
            #expect(claims.expiresAt == vector.claims["exp"]?.doubleValue)
            #expect(claims.roomId == vector.claims["roomId"]?.stringValue)
            #expect(claims.participantId == vector.claims["participantId"]?.stringValue)
            if case .array(let names)? = vector.claims["permissions"] {
                #expect(Set(claims.permissions.names) == Set(names.compactMap(\.stringValue)))
            }
        }
    }

    /// Runs PyJWT (installed by .ci/run) over Admit's tokens. PyJWT must be present: a
    /// missing interpreter or module fails the test rather than skipping it.
    @Test("PyJWT verifies Admit's tokens and reads the same claims")
    func pyjwtVerifiesAdmit() throws {
        let signer = Signer(secret: secret)
        let start = TokenClock.system.now()
        let made = [
            Claims(apiKey: apiKey, lifetime: 7200, now: start),
            Claims(apiKey: apiKey, permissions: .askJoin, lifetime: 600, now: start, roomId: "2kyv-gzay-64pg"),
            Claims(
                apiKey: apiKey, permissions: [.allowJoin, .allowMod], lifetime: 60, now: start,
                roomId: "salle-été", participantId: "lxvdplwt", roles: [.crawler, .rtc], jwtID: "id\"1"),
        ]
        let tokens = made.map(signer.sign)
        let script = """
            import json, sys, jwt
            for line in sys.stdin:
                claims = jwt.decode(line.strip(), sys.argv[1], algorithms=["HS256"], options={"require": ["exp"]})
                print(json.dumps(claims, sort_keys=True))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-W", "ignore", "-c", script, secretText]
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(tokens.joined(separator: "\n").utf8 + [0x0A]))
        try input.fileHandleForWriting.close()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaint = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "PyJWT failed (pip install PyJWT): \(complaint)")
        let lines = printed.split(separator: "\n")
        try #require(lines.count == made.count)
        for (line, claims) in zip(lines, made) {
            let decoded = try JSONValue(parsing: String(line))
            #expect(decoded["apikey"]?.stringValue == claims.apiKey)
            #expect(decoded["exp"] == .number(String(Int(claims.expiresAt))))
            #expect(decoded["iat"] == .number(String(Int(claims.issuedAt!))))
            #expect(decoded["roomId"]?.stringValue == claims.roomId)
            #expect(decoded["jti"]?.stringValue == claims.jwtID)
            #expect(decoded["version"] == claims.version.map { .number(String($0)) })
        }
    }
}
