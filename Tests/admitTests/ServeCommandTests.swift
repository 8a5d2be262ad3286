import AdmitToken
import Foundation
import Testing

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A running `admit serve` process for one test.
private final class RunningServer {
    let process = Process()
    let output = Pipe()
    let port: Int
    let dataDir: String

    init(arguments: [String], port: Int, dataDir: String, environment: [String: String] = [:]) throws {
        self.port = port
        self.dataDir = dataDir
        process.executableURL = CLI.binary
        process.arguments = ["serve", "--port", String(port), "--data-dir", dataDir] + arguments
        process.environment = ["PATH": "/usr/bin:/bin", "ADMIT_LOG_LEVEL": "warning"].merging(environment) { $1 }
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
    }

    /// Waits until `/health` answers.
    func waitUntilUp() async throws {
        for _ in 0..<100 {
            if let (_, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/health")!),
                (response as? HTTPURLResponse)?.statusCode == 200
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the server did not come up on port \(port)")
    }

    /// Stops with SIGINT and returns the exit status and what was printed.
    func stop() -> (status: Int32, printed: String) {
        process.interrupt()
        process.waitUntilExit()
        let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        return (process.terminationStatus, printed)
    }
}

private func temporaryDirectory() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("admit-cli-\(UUID().uuidString)").path
}

@Suite("admit serve and admit keys", .serialized)
struct ServeCommandTests {
    @Test("serve --dev starts on loopback, prints the admin credential and dev key, and stops cleanly on SIGINT")
    func devServer() async throws {
        let dataDir = temporaryDirectory()
        let server = try RunningServer(arguments: ["--dev"], port: 18_471, dataDir: dataDir)
        try await server.waitUntilUp()
        let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:18471/get-token")!)
        let token = try #require(try JSONValue(parsing: String(decoding: data, as: UTF8.self))["token"]?.stringValue)
        let (status, printed) = server.stop()
        #expect(status == 0)
        let secret = try #require(printed.split(separator: "\n").first { $0.hasPrefix("Dev API secret: ") }?.dropFirst(16))
        #expect(throws: Never.self) { try Verifier(keys: SingleSecret(Secret(String(secret))!)).verify(token) }
        #expect(printed.contains("Admin credential (dev mode, generated"))
        let adminFile = dataDir + "/admin-token"
        let permissions = try FileManager.default.attributesOfItem(atPath: adminFile)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
        // The data dir and the database are the owner's alone: they hold sealed secrets and attendance.
        #expect(try FileManager.default.attributesOfItem(atPath: dataDir)[.posixPermissions] as? Int == 0o700)
        #expect(try FileManager.default.attributesOfItem(atPath: dataDir + "/admit.sqlite")[.posixPermissions] as? Int == 0o600)

        // keys against the same store; then a restart keeps the same dev key.
        let created = try CLI.run(["keys", "create", "--name", "backend", "--data-dir", dataDir])
        #expect(created.status == 0)
        let apiKey = try #require(try JSONValue(parsing: created.stdout)["apiKey"]?.stringValue)
        let listed = try CLI.run(["keys", "list", "--data-dir", dataDir])
        #expect(listed.stdout.contains(apiKey))
        #expect(!listed.stdout.contains(try #require(try JSONValue(parsing: created.stdout)["secret"]?.stringValue)))
        // Settings: set replaces, patch merges (null unsets), bad values name the field and change nothing.
        let set = try CLI.run(["keys", "settings", "set", apiKey, #"{"maxSendBitrate":"hd","hls":{"quality":"low"}}"#, "--data-dir", dataDir])
        #expect(set.status == 0, "\(set.stderr)")
        let patched = try CLI.run(["keys", "settings", "patch", apiKey, #"{"hls":{"quality":null,"theme":"DARK"}}"#, "--data-dir", dataDir])
        #expect(try JSONValue(parsing: patched.stdout).jsonText == #"{"maxSendBitrate":"hd","hls":{"theme":"DARK"}}"#)
        let bad = try CLI.run(["keys", "settings", "patch", apiKey, #"{"recording":{"layout":{"gridSize":99}}}"#, "--data-dir", dataDir])
        #expect(bad.status == 64 && bad.stderr.contains("`recording.layout.gridSize`"))
        #expect(try CLI.run(["keys", "settings", "set", apiKey, "{", "--data-dir", dataDir]).status == 64)
        #expect(try CLI.run(["keys", "settings", "show", "nope", "--data-dir", dataDir]).status == 64)
        let shown = try CLI.run(["keys", "settings", "show", apiKey, "--data-dir", dataDir])
        #expect(try JSONValue(parsing: shown.stdout).jsonText == #"{"maxSendBitrate":"hd","hls":{"theme":"DARK"}}"#)
        #expect(try CLI.run(["keys", "deactivate", apiKey, "--data-dir", dataDir]).status == 0)
        #expect(try CLI.run(["keys", "list", "--data-dir", dataDir]).stdout.contains("deactivated  backend"))

        // A data dir made readable by others before (an older Admit, a careless copy) is closed again at start.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dataDir)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dataDir + "/admit.sqlite")
        let again = try RunningServer(arguments: ["--dev"], port: 18_472, dataDir: dataDir)
        try await again.waitUntilUp()
        let second = again.stop().printed
        #expect(second.contains("Dev API secret: \(secret)"))
        #expect(second.contains("Admin credential (dev mode, from"))
        #expect(try FileManager.default.attributesOfItem(atPath: dataDir)[.posixPermissions] as? Int == 0o700)
        #expect(try FileManager.default.attributesOfItem(atPath: dataDir + "/admit.sqlite")[.posixPermissions] as? Int == 0o600)
    }

    @Test("outside dev mode /get-token grants allow_join only, unless the operator lists more")
    func tokenEndpointPermissions() async throws {
        let dataDir = temporaryDirectory()
        // A dev server creates the store and its master key; then the same store outside dev mode.
        let dev = try RunningServer(arguments: ["--dev"], port: 18_473, dataDir: dataDir)
        try await dev.waitUntilUp()
        _ = dev.stop()
        let created = try CLI.run(["keys", "create", "--name", "public", "--data-dir", dataDir])
        let apiKey = try #require(try JSONValue(parsing: created.stdout)["apiKey"]?.stringValue)
        let secret = try #require(try JSONValue(parsing: created.stdout)["secret"]?.stringValue)
        let environment = ["ADMIT_ADMIN_TOKEN": "admin-credential-for-cli-tests"]
        let arguments = ["--master-key-file", dataDir + "/master.key", "--token-endpoint-key", apiKey]
        for (extra, expected, port) in [([String](), Permissions.allowJoin, 18_474), (["--token-endpoint-permissions", "allow_join,allow_mod"], [.allowJoin, .allowMod], 18_475)] {
            let server = try RunningServer(arguments: arguments + extra, port: port, dataDir: dataDir, environment: environment)
            try await server.waitUntilUp()
            let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)/get-token")!)
            _ = server.stop()
            let token = try #require(try JSONValue(parsing: String(decoding: data, as: UTF8.self))["token"]?.stringValue)
            let claims = try Verifier(keys: SingleSecret(try #require(Secret(secret)))).verify(token)
            #expect(claims.permissions == expected)
        }
    }

    @Test("outside dev mode serve refuses to start without an admin credential or a master key")
    func refusesWithoutCredentials() throws {
        let noAdmin = try CLI.run(["serve", "--port", "18473", "--data-dir", temporaryDirectory()])
        #expect(noAdmin.status == 1)
        #expect(noAdmin.stderr.contains("admin credential is required"))
        let noMaster = try CLI.run(["serve", "--port", "18473", "--data-dir", temporaryDirectory()], environment: ["ADMIT_ADMIN_TOKEN": "x"])
        #expect(noMaster.status == 1)
        #expect(noMaster.stderr.contains("master key is required"))
    }

    @Test("serve --dev refuses a non-loopback host")
    func devLoopbackOnly() throws {
        let output = try CLI.run(["serve", "--dev", "--host", "0.0.0.0"])
        #expect(output.status == 64)
        #expect(output.stderr.contains("loopback only"))
    }

    @Test("keys without a master key explain how to give one")
    func keysNeedMasterKey() throws {
        let output = try CLI.run(["keys", "list", "--data-dir", temporaryDirectory()])
        #expect(output.status == 64)
        #expect(output.stderr.contains("No master key"))
    }
}
