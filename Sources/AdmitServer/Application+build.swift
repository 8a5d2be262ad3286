import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Crypto
import Foundation
public import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
public import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Builds the Admit server: opens the store, loads keys into memory, wires the routes.
/// The executable and the tests both start here.
public func buildApplication(configuration: AppConfiguration, logger: Logger = Logger(label: "admit")) async throws
    -> some ApplicationProtocol
{
    var configuration = configuration
    if let url = configuration.publicURL, let refusal = PublicLinks.refusal(of: url) {
        throw ConfigurationError("--public-url \(refusal).")
    }
    if configuration.dev {
        configuration.host = "127.0.0.1"
    } else {
        guard configuration.adminToken?.isEmpty == false else {
            throw ConfigurationError("Outside dev mode an admin credential is required: ADMIT_ADMIN_TOKEN or --admin-token-file.")
        }
        guard configuration.masterKey != nil || configuration.database == .memory else {
            throw ConfigurationError("Outside dev mode a master key is required to seal API key secrets: ADMIT_MASTER_KEY or --master-key-file.")
        }
    }
    let box = try SecretBox(base64: configuration.masterKey ?? SecretBox.generateMasterKey())
    let store = try await openStore(configuration.database, logger: logger)
    do {
        let services = try await makeServices(configuration, store: store, box: box, logger: logger)
        AppContext.bodyLimit = configuration.maxBodySize
        let router = Router(context: AppContext.self)
        // Every route runs these, except the two the fast path answers before the router
        // (`GET /get-token` and validate without `Origin`: FastPath/FastPath.swift says what it
        // takes and how it does these middlewares' part itself).
        router.add(middleware: ObservationMiddleware(metrics: services.metrics))
        router.add(middleware: CORSMiddleware(services: services, tokenEndpointKey: configuration.tokenEndpoint?.apiKey ?? services.devKey))
        router.add(middleware: ErrorMiddleware())
        let (bridge, launcher) = try await mediaBridge(configuration, keyRing: services.keyRing, logger: logger)
        let hub = MeetingHub(
            lobbyTimeout: configuration.lobbyTimeout, maxParticipants: configuration.maxParticipants, maxLobby: configuration.maxLobby,
            repositories: services.repositories, media: bridge, logger: logger)
        await bridge.attach(hub)
        let rooms = RoomsController(services: services)
        rooms.register(on: router)
        let webhooks = Webhooks(keyRing: services.keyRing, metrics: services.metrics, logger: logger, allowPrivate: configuration.webhookAllowPrivate)
        let keyRing = services.keyRing
        let lateCluster = LateCluster()
        let jobs = JobService(
            repositories: services.repositories,
            port: ServerJobPort(hub: hub, cluster: lateCluster, rooms: services.rooms, webhooks: webhooks, metrics: services.metrics),
            settings: { keyRing.settings(for: $0) }, startsPerMinute: configuration.jobStartsPerMinute,
            webhookRefusal: services.webhookRefusal, logger: logger)
        hub.observeSessions(jobs)
        let joins = JoinService(access: services.access, rooms: services.rooms, revocations: services.revocations, meetings: hub)
        // Rooms shared with the other nodes on the store (PostgreSQL), or all here.
        let cluster = Cluster(
            node: configuration.nodeId, hub: hub, link: store.nodeLink?(configuration.nodeId, box.derivedKey("admit node link")),
            repositories: services.repositories, joins: joins,
            jobs: jobs, links: services.links, metrics: services.metrics, logger: logger)
        lateCluster.set(cluster)
        services.metrics.node(configuration.nodeId)
        SessionsController(
            services: services, sessions: SessionService(repositories: services.repositories, rooms: services.roomService, meetings: cluster)
        ).register(on: router)
        let rtc = RTCController(services: services, hub: hub, jobs: jobs, joins: joins, cluster: cluster)
        rtc.register(on: router)
        ExampleController(services: services, rooms: rooms).register(on: router)
        PreflightController(services: services, joins: joins).register(on: router)
        let liveRevocations = LiveRevocations(services: services, hub: hub)
        AdminController(services: services, hub: hub, revocations: liveRevocations).register(on: router)
        SettingsController(services: services).register(on: router)
        OverviewController(services: services, hub: hub, cluster: cluster).register(on: router)
        DashboardController(services: services) { bridge.available }.register(on: router)
        JobsController(services: services, jobs: jobs).register(on: router)
        OperationsController(services: services, media: bridge, cluster: cluster).register(on: router)
        logger.info("store opened", metadata: ["store": "\(store.description)"])
        let fastPath = FastPath.Dependencies(tokens: TokenEndpoint(services: services), services: services, logger: logger, serverName: "Admit")
        let limits = ConnectionDeadlines.Limits(
            head: TimeAmount(configuration.headTimeout), idle: TimeAmount(configuration.idleTimeout), ping: TimeAmount(configuration.pingInterval))
        let server = HTTPServerBuilder { responder in
            FastPathChannel(
                inner: HTTP1WebSocketUpgradeChannel(
                    responder: responder,
                    // Pings come from `ConnectionDeadlines` (two unanswered close the connection).
                    configuration: .init(
                        http1: .init(additionalChannelHandlers: [RequestTracker(), RefusedUpgradeWriter()]), ws: .init(autoPing: .disabled)),
                    shouldUpgrade: { head, channel, logger in await rtc.upgrade(head, channel: channel, logger: logger) }),
                dependencies: fastPath, limits: limits)
        }
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Admit"),
            // Shut down in reverse: the store closes last, after everything that reads it.
            services: [
                StoreCloser(store: store, before: { await hub.sessionsWritten() }, logger: logger),
                Refresher(services: services, revocations: liveRevocations, interval: configuration.refreshInterval),
                MediaRunner(bridge: bridge, launcher: launcher),
                ClusterRunner(cluster: cluster),
            ] + (store.changes.map { [ChangeListener(feed: $0, services: services, revocations: liveRevocations, logger: logger)] } ?? []),
            onServerRunning: { channel in
                if let port = channel.localAddress?.port { services.links.bound(port: port) }
            },
            logger: logger)
    } catch {
        try? await store.close()
        throw error
    }
}

/// The media bridge over `--janus`, or over dev mode's own Janus when one is installed; a
/// bridge without Janus answers media requests with 4090.
private func mediaBridge(_ configuration: AppConfiguration, keyRing: KeyRing, logger: Logger) async throws -> (MediaBridge, JanusLauncher?) {
    var url = configuration.janusURL
    var secret = configuration.janusAPISecret
    var launcher: JanusLauncher?
    if let given = url {
        let webSocket = (given.hasPrefix("ws://") || given.hasPrefix("wss://")) && URL(string: given)?.host != nil
        guard webSocket || JanusHTTP.Endpoint(given) != nil else {
            throw ConfigurationError(
                "--janus must be Janus's WebSocket API, such as ws://127.0.0.1:8188/, or its HTTP API, such as http://127.0.0.1:8088/janus.")
        }
    } else if let directory = configuration.launchJanusIn {
        do {
            launcher = try await JanusLauncher.start(in: directory, logger: logger)
        } catch {
            logger.error("could not start janus: meetings run without media", metadata: ["error": "\(error)"])
        }
        url = launcher?.url
        secret = launcher?.apiSecret
    }
    let janus = url.map { JanusClient(url: $0, apiSecret: secret, logger: logger) }
    let bridge = MediaBridge(
        janus: janus, maxSubscriptions: configuration.maxParticipants, logger: logger, answerTimeout: configuration.mediaAnswerTimeout
    ) {
        MediaBridge.bitsPerSecond(keyRing.settings(for: $0)["maxSendBitrate"]?.stringValue)
    }
    return (bridge, launcher)
}

/// Runs the media bridge (the Janus connection and the ordered queue) with the server, and
/// stops dev mode's Janus when the server stops.
struct MediaRunner: Service {
    let bridge: MediaBridge
    let launcher: JanusLauncher?

    /// Until shutdown: a service that returns early would stop the server.
    func run() async throws {
        await cancelWhenGracefulShutdown {
            await bridge.run()
            try? await gracefulShutdown()
        }
        await launcher?.stop()
    }
}

private func openStore(_ database: AppConfiguration.Database, logger: Logger) async throws -> Store {
    switch database {
    case .memory: return .memory()
    case .sqlite(let path): return try await .sqlite(path: path, logger: logger)
    case .postgres(let url): return try await .postgres(url: url, logger: logger)
    }
}

private func makeServices(_ configuration: AppConfiguration, store: Store, box: SecretBox, logger: Logger) async throws -> Services {
    let repositories = store.repositories
    let keyRing = KeyRing(repositories: repositories, box: box)
    let revocations = RevocationList(repositories: repositories)
    let keys = KeyService(repositories: repositories, box: box) { try await keyRing.reload() }
    var adminToken = configuration.adminToken ?? ""
    if adminToken.isEmpty {
        adminToken = Identifiers.secret()
        configuration.announce("Admin credential (dev mode, generated): \(adminToken)")
    }
    let adminDigest = SHA256.hash(data: Data(adminToken.utf8))
    var devKey: String?
    if configuration.dev {
        let existing = try await keys.list().first { $0.name == "dev" && !$0.isDeactivated }
        let record: APIKeyRecord
        if let existing { record = existing } else { record = try await keys.create(name: "dev").record }
        devKey = record.apiKey
        configuration.announce("Dev API key: \(record.apiKey)")
        configuration.announce("Dev API secret: \(try keys.secret(of: record))")
    }
    var verifier = Verifier(keys: keyRing, leeway: configuration.leeway, revocations: revocations)
    verifier.maxLifetime = configuration.maxTokenLifetime ?? .infinity
    let metrics = Metrics()
    let access = Access(keyRing: keyRing, verifier: verifier) { metrics.verification($0) }
    let links = configuration.publicURL.map(PublicLinks.init(base:)) ?? PublicLinks(host: configuration.host, port: configuration.port)
    let rooms = RoomCache(repositories: repositories, lifetime: configuration.refreshInterval) {
        RoomResponse.json($0, links: links, owner: keyRing.name(of: $0.apiKey))
    }
    let allowPrivate = configuration.webhookAllowPrivate
    let webhookRefusal: @Sendable (String) -> String? = { WebhookTarget.refusal(of: $0, allowPrivate: allowPrivate) }
    let services = Services(
        configuration: configuration, repositories: repositories,
        rooms: rooms, keyRing: keyRing, revocations: revocations, keys: keys,
        settings: SettingsService(repositories: repositories) { try await keyRing.reload() },
        access: access,
        roomService: RoomService(cache: rooms, access: access, webhookRefusal: webhookRefusal),
        webhookRefusal: webhookRefusal,
        verifier: verifier, metrics: metrics, devKey: devKey,
        adminDigest: adminDigest,
        tokenMint: TokenMint(
            policy: TokenEndpoint.policy(configuration, devKey: devKey), keyRing: keyRing, access: access,
            limiter: (configuration.tokenEndpoint?.ratePerMinute ?? configuration.devTokenRatePerMinute).map { RateLimiter(perMinute: $0) }),
        clientAddress: ClientAddress(trustedProxies: Set(configuration.trustedProxies)), links: links,
        dashboard: DashboardSessions(
            store: repositories, key: box.derivedKey("admit dashboard sessions"), lifetime: configuration.dashboardSessionLifetime
        ) {
            Services.isAdminCredential($0, digest: adminDigest)
        })
    try await services.reload()
    return services
}

/// Reloads keys and revocations periodically, so several servers on one database agree.
struct Refresher: Service {
    let services: Services
    let revocations: LiveRevocations
    let interval: Duration

    func run() async throws {
        await cancelWhenGracefulShutdown {
            // Shutdown cancels the sleep; the loop then ends without an error.
            while (try? await Task.sleep(for: interval)) != nil {
                try? await services.keyRing.reload()
                try? await revocations.sync()
            }
        }
    }
}

/// Closes the store once the server has stopped.
struct StoreCloser: Service {
    let store: Store
    /// What must reach the store before it closes (the sessions written behind the meetings).
    let before: @Sendable () async -> Void
    /// How long `before` may take: a store that stopped answering must not hang the shutdown.
    var patience: Duration = .seconds(10)
    var logger = Logger(label: "admit")

    func run() async throws {
        try? await gracefulShutdown()
        try await close()
    }

    /// Waits for `before` (at most `patience`; past it, says so in the log), then closes the store.
    func close() async throws {
        if await !Self.within(patience, before) {
            logger.error(
                "shutdown: session changes were still waiting for the store; closing it without them",
                metadata: ["waited": "\(patience)"])
        }
        try await store.close()
    }

    /// Whether `work` finished within `limit`. It is left running past the limit (a wait on the
    /// store cannot be cancelled), which is what the caller wants: it closes the store next.
    static func within(_ limit: Duration, _ work: @escaping @Sendable () async -> Void) async -> Bool {
        let outcome = Mutex<CheckedContinuation<Bool, Never>?>(nil)
        let finish = { @Sendable (done: Bool) in outcome.withLock { $0.take() }?.resume(returning: done) }
        return await withCheckedContinuation { continuation in
            outcome.withLock { $0 = continuation }
            Task {
                await work()
                finish(true)
            }
            Task {
                try? await Task.sleep(for: limit)
                finish(false)
            }
        }
    }
}
