import AdmitServer
import AdmitToken
import ArgumentParser
import Foundation
import Hummingbird
import Logging

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Admit server.",
        discussion: """
            --dev binds to loopback, keeps SQLite, a master key and an admin credential under --data-dir, \
            creates a dev API key on first start, and opens /get-token. Outside dev mode the server needs \
            ADMIT_ADMIN_TOKEN (or --admin-token-file) and ADMIT_MASTER_KEY (or --master-key-file).
            """)

    @Flag(help: "Development mode: loopback only, generated credentials, /get-token on.")
    var dev = false

    @Option(help: "Address to bind (dev mode: loopback only).")
    var host: String?

    @Option(help: "Port to listen on.")
    var port = 8080

    @OptionGroup var store: StoreOptions

    @Option(help: "Seconds of clock skew tolerated for exp, nbf and iat.")
    var leeway: Double = 60

    @Option(help: "A file holding the admin credential; or ADMIT_ADMIN_TOKEN.")
    var adminTokenFile: String?

    @Option(help: "Open /get-token outside dev mode, signing with this API key.")
    var tokenEndpointKey: String?

    @Option(help: "Longest lifetime /get-token hands out (120m, 24h, or seconds).")
    var tokenEndpointMaxTtl = "2h"

    @Option(help: "Permissions /get-token grants outside dev mode (comma-separated); anyone who reaches it gets them.")
    var tokenEndpointPermissions = "allow_join"

    @Option(help: "/get-token requests per minute per client address (default 60; none in dev mode).")
    var tokenEndpointRate: Int?

    @Option(help: "Seconds a participant waits in the lobby before the wait ends in a denial.")
    var lobbyTimeout: Double = 300

    @Option(help: "Participants per meeting (4009 beyond).")
    var maxParticipants = 100

    @Option(help: "Participants waiting in one room's lobby (4093 beyond).")
    var maxLobby = 200

    @Option(help: "Seconds a request head may take to arrive whole.")
    var headTimeout: Double = 10

    @Option(help: "Seconds an HTTP connection may stay silent before it is closed.")
    var idleTimeout: Double = 60

    @Option(help: "Seconds between WebSocket pings on /rtc; two unanswered close the connection.")
    var pingInterval: Double = 30

    @Option(help: "/rtc requests a second per connection.")
    var rtcRate = 50

    @Option(help: "/rtc request burst per connection.")
    var rtcBurst = 100

    @Option(help: "Recording, HLS, livestream and transcription starts a minute per API key (at least 10).")
    var jobStartsPerMinute = 20

    @Option(help: "A reverse proxy's address whose X-Forwarded-For names the client (repeat for several).")
    var trustedProxy: [String] = []

    @Flag(help: "Let webhooks reach loopback, private and link-local addresses (local development only).")
    var webhookAllowPrivate = false

    @Option(help: "The URL clients reach this server at, for absolute links in answers (default http://HOST:PORT).")
    var publicUrl: String?

    @Option(help: "Janus's WebSocket API for media (ws://127.0.0.1:8188/). Dev mode starts its own when janus is on the PATH.")
    var janus: String?

    @Option(help: "The api_secret Janus asks for; or ADMIT_JANUS_API_SECRET (kept out of the process list).")
    var janusApiSecret: String?

    @Flag(help: "Dev mode: do not start a Janus of its own (meetings run without media).")
    var noJanus = false

    @Option(help: "Refuse tokens whose exp is further ahead than this (120m, 24h, 30d, or seconds); no limit by default.")
    var maxTokenLifetime: String?

    @Option(help: "How long a dashboard sign-in lasts (30m, 12h, 7d, or seconds; at most 30 days).")
    var dashboardSessionLifetime = "12h"

    @Option(help: "This node's name among several on one database (shown by /health); default: node- and random hex.")
    var nodeId: String?

    func validate() throws {
        guard lobbyTimeout > 0, lobbyTimeout <= 86_400 else { throw ValidationError("--lobby-timeout must be from 1 to 86400 seconds.") }
        guard (1...100_000).contains(maxParticipants) else { throw ValidationError("--max-participants must be from 1 to 100000.") }
        guard (1...100_000).contains(maxLobby) else { throw ValidationError("--max-lobby must be from 1 to 100000.") }
        for (flag, value) in [("--head-timeout", headTimeout), ("--idle-timeout", idleTimeout), ("--ping-interval", pingInterval)] {
            guard value >= 0.1, value <= 86_400 else { throw ValidationError("\(flag) must be from 0.1 to 86400 seconds.") }
        }
        guard (1...100_000).contains(rtcRate), (1...100_000).contains(rtcBurst) else {
            throw ValidationError("--rtc-rate and --rtc-burst must be from 1 to 100000.")
        }
        guard (10...100_000).contains(jobStartsPerMinute) else { throw ValidationError("--job-starts-per-minute must be from 10 to 100000.") }
        if let nodeId, nodeId.isEmpty || nodeId.count > 64 || !nodeId.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
        {
            throw ValidationError("--node-id must be 1 to 64 letters, digits, '-', '_' or '.'.")
        }
        guard let sessionSeconds = Lifetime.seconds(dashboardSessionLifetime), (60...30 * 86_400).contains(sessionSeconds) else {
            throw ValidationError("--dashboard-session-lifetime must be from 1 minute to 30 days (30m, 12h, 7d, or seconds).")
        }
        if let maxTokenLifetime, Lifetime.seconds(maxTokenLifetime) == nil {
            throw ValidationError("--max-token-lifetime is not a lifetime (120m, 24h, 30d, or seconds; at most 10 years).")
        }
        if dev, let host, !["127.0.0.1", "localhost", "::1"].contains(host) {
            throw ValidationError("--dev binds to loopback only; drop --host or --dev.")
        }
        guard (1...65535).contains(port) else { throw ValidationError("--port must be from 1 to 65535.") }
        guard leeway >= 0, leeway <= 3600 else { throw ValidationError("--leeway must be from 0 to 3600 seconds.") }
        if let tokenEndpointRate, tokenEndpointRate < 1 { throw ValidationError("--token-endpoint-rate must be at least 1.") }
    }

    func run() async throws {
        var configuration = AppConfiguration()
        configuration.dev = dev
        configuration.host = host ?? "127.0.0.1"
        configuration.port = port
        configuration.publicURL = publicUrl
        configuration.janusURL = janus
        configuration.janusAPISecret = janusApiSecret ?? ProcessInfo.processInfo.environment["ADMIT_JANUS_API_SECRET"]
        if dev, janus == nil, !noJanus {
            // Under the data directory whatever the store (several dev nodes on one PostgreSQL each start their own).
            try makePrivateDirectory(store.dataDir)
            configuration.launchJanusIn = URL(fileURLWithPath: store.dataDir).appendingPathComponent("janus").path
        }
        configuration.leeway = leeway
        configuration.database = store.location
        if case .sqlite = store.location {
            try makePrivateDirectory(store.dataDir)
            makeSecretFilesPrivate(in: store.dataDir)
        }
        configuration.masterKey = try store.masterKey(create: dev)
        configuration.adminToken = try adminToken()
        if let tokenEndpointKey {
            guard let lifetime = Lifetime.seconds(tokenEndpointMaxTtl) else {
                throw ValidationError("--token-endpoint-max-ttl is not a lifetime (120m, 24h, 3600).")
            }
            let permissions: Permissions = try parseNames(tokenEndpointPermissions, flag: "--token-endpoint-permissions")
            configuration.tokenEndpoint = .init(
                apiKey: tokenEndpointKey, maxLifetime: lifetime, permissions: permissions, ratePerMinute: tokenEndpointRate ?? 60)
        }
        configuration.devTokenRatePerMinute = tokenEndpointRate
        configuration.lobbyTimeout = lobbyTimeout
        configuration.maxParticipants = maxParticipants
        configuration.maxLobby = maxLobby
        configuration.headTimeout = .milliseconds(Int64(headTimeout * 1000))
        configuration.idleTimeout = .milliseconds(Int64(idleTimeout * 1000))
        configuration.pingInterval = .milliseconds(Int64(pingInterval * 1000))
        configuration.rtcRequestsPerSecond = rtcRate
        configuration.rtcRequestBurst = rtcBurst
        configuration.jobStartsPerMinute = jobStartsPerMinute
        configuration.dashboardSessionLifetime = .seconds(Lifetime.seconds(dashboardSessionLifetime) ?? 43_200)
        if let nodeId { configuration.nodeId = nodeId }
        configuration.trustedProxies = trustedProxy
        configuration.webhookAllowPrivate = webhookAllowPrivate
        configuration.maxTokenLifetime = maxTokenLifetime.flatMap(Lifetime.seconds).map(Double.init)
        configuration.benchEndpoints = ProcessInfo.processInfo.environment["ADMIT_BENCH_ENDPOINTS"] == "1"
        configuration.announce = { say($0) }
        var logger = Logger(label: "admit")
        logger.logLevel = ProcessInfo.processInfo.environment["ADMIT_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        let app: any ApplicationProtocol
        do {
            app = try await buildApplication(configuration: configuration, logger: logger)
        } catch let error as ConfigurationError {
            printError("admit: \(error)")
            throw ExitCode.failure
        }
        say("Admit listening on http://\(configuration.host):\(port)\(dev ? " (dev mode)" : "")")
        let shown = ["0.0.0.0", "::", "[::]"].contains(configuration.host) ? "localhost" : configuration.host
        var base = publicUrl ?? "http://\(shown.contains(":") && !shown.hasPrefix("[") ? "[\(shown)]" : shown):\(port)"
        while base.hasSuffix("/") { base.removeLast() }
        say("Dashboard: \(base)/dashboard/ (sign in with the admin credential)")
        if base.hasPrefix("https://"), trustedProxy.isEmpty {
            say(
                "Behind a reverse proxy? Name it with --trusted-proxy: otherwise every client has the proxy's address, and five wrong sign-ins from anyone block the dashboard's sign-in for everyone for a minute."
            )
        }
        if publicUrl == nil, ["0.0.0.0", "::", "[::]"].contains(configuration.host) {
            say("Links in answers name http://localhost:\(port): set --public-url to the address clients reach this server at.")
        }
        try await app.runService()
    }

    /// The admin credential: a file, the environment, or in dev mode `admin-token` under the data dir.
    private func adminToken() throws -> String? {
        if let adminTokenFile { return try readSecretFile(adminTokenFile, what: "admin credential") }
        if let value = ProcessInfo.processInfo.environment["ADMIT_ADMIN_TOKEN"], !value.isEmpty { return value }
        guard dev else { return nil }
        let path = URL(fileURLWithPath: store.dataDir).appendingPathComponent("admin-token").path
        if FileManager.default.fileExists(atPath: path) {
            let token = try readSecretFile(path, what: "admin credential")
            say("Admin credential (dev mode, from \(path)): \(token)")
            return token
        }
        let token = (0..<2).map { _ in UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }.joined()
        try writePrivateFile(path, token)
        say("Admin credential (dev mode, generated, kept in \(path)): \(token)")
        return token
    }
}

/// Writes a line to standard output at once (unbuffered), so that it reaches a log file or pipe.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
