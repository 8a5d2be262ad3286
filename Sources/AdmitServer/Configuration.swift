public import AdmitToken
public import Foundation

/// Everything the server needs to start, with defaults. `admit serve` fills it from flags,
/// then environment, then these defaults (docs/configuration.md lists every key).
public struct AppConfiguration: Sendable {
    /// Where data lives.
    public enum Database: Sendable, Equatable {
        case memory
        case sqlite(path: String)
        case postgres(url: String)
    }

    /// `/get-token` outside dev mode: which key signs, and what it may sign.
    public struct TokenEndpoint: Sendable {
        public var apiKey: String
        /// Longest lifetime handed out, in seconds (default 2 h, as the official examples' `120m`).
        public var maxLifetime: Int
        public var permissions: Permissions
        /// Requests per minute per client address.
        public var ratePerMinute: Int

        public init(apiKey: String, maxLifetime: Int = 7200, permissions: Permissions = .allowJoin, ratePerMinute: Int = 60) {
            self.apiKey = apiKey
            self.maxLifetime = maxLifetime
            self.permissions = permissions
            self.ratePerMinute = ratePerMinute
        }
    }

    public var host = "127.0.0.1"
    public var port = 8080
    /// The base URL clients reach this server at (`--public-url`), for the absolute `links` in
    /// answers and the HLS and signalling URLs; nil: `http://HOST:PORT`.
    public var publicURL: String?
    /// Janus's WebSocket API (`ws://127.0.0.1:8188/`) or HTTP API (`http://127.0.0.1:8088/janus`)
    /// for media (`--janus`); nil: none, or the one `launchJanusIn` starts.
    public var janusURL: String?
    /// This node's name among several on one database (`/health`, `/metrics`, logs).
    public var nodeId: String = AppConfiguration.defaultNodeId()
    /// How long a dashboard sign-in lasts.
    public var dashboardSessionLifetime: Duration = .seconds(12 * 3600)
    /// How long a subscription's offer waits for the subscriber's answer before Admit detaches it.
    public var mediaAnswerTimeout: Duration = .seconds(30)
    /// The API secret Janus's `api_secret` asks for (`--janus-api-secret`).
    public var janusAPISecret: String?
    /// When no `janusURL` is given: start a `janus` found on the PATH, configured in this
    /// directory (dev mode). Nil: none.
    public var launchJanusIn: String?
    /// Dev mode: loopback only, a dev API key made on first start, `/get-token` open.
    public var dev = false
    public var database: Database = .memory
    /// Seconds of clock skew tolerated for `exp`, `nbf` and `iat`.
    public var leeway: Double = 60
    /// The admin credential (`Authorization: Bearer ...` on `/admin/v1`). Required outside dev mode.
    public var adminToken: String?
    /// Base64 of the 32-byte key that seals API key secrets at rest. Required outside dev mode.
    public var masterKey: String?
    /// `/get-token` outside dev mode; nil leaves it off.
    public var tokenEndpoint: TokenEndpoint?
    /// `/get-token` requests per minute per client in dev mode; nil means no limit
    /// (dev servers answer test suites). Outside dev mode `tokenEndpoint.ratePerMinute` applies.
    public var devTokenRatePerMinute: Int?
    /// How long a participant waits in the lobby before the wait ends in a denial, in seconds.
    public var lobbyTimeout: TimeInterval = 300
    /// Participants per meeting (4009 beyond).
    public var maxParticipants = 100
    /// Participants waiting in one room's lobby (4093 beyond).
    public var maxLobby = 200
    /// A request head must arrive whole within this long of its first byte.
    public var headTimeout: Duration = .seconds(10)
    /// An HTTP connection with no traffic for this long is closed (upgraded `/rtc` connections
    /// are kept alive by pings instead).
    public var idleTimeout: Duration = .seconds(60)
    /// `/rtc` connections get a WebSocket ping this often and are closed after two go unanswered.
    public var pingInterval: Duration = .seconds(30)
    /// `/rtc` messages a second per connection, and the burst allowed.
    public var rtcRequestsPerSecond = 50
    public var rtcRequestBurst = 100
    /// Recording, HLS, livestream and transcription starts a minute per API key.
    public var jobStartsPerMinute = 20
    /// Addresses of reverse proxies whose `X-Forwarded-For` names the client (rate limits,
    /// logs). Empty: the connection's own address is the client, whatever the header says.
    public var trustedProxies: [String] = []
    /// Let webhooks reach loopback, private and link-local addresses: local development only.
    public var webhookAllowPrivate = false
    /// Refuse tokens whose `exp` is further than this many seconds ahead (nil: no limit).
    public var maxTokenLifetime: Double?
    /// Benchmarks only: `/bench/ws` accepts any WebSocket and waits for it to close, the
    /// baseline that admission is compared with. Off unless `ADMIT_BENCH_ENDPOINTS=1`.
    public var benchEndpoints = false
    /// Largest request body accepted, in bytes.
    public var maxBodySize = 64 * 1024
    /// How often keys and revocations are reloaded from the store (for several servers on one database).
    public var refreshInterval: Duration = .seconds(5)
    /// Lines for the operator at start (dev key, admin credential); `admit serve` prints them.
    public var announce: @Sendable (String) -> Void = { _ in }

    public init() {}
}

/// A configuration the server cannot start with.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
