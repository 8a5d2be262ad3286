// swift-tools-version:6.2
import PackageDescription

/// Every target: imports are internal unless a file says otherwise, a file sees only the
/// members of modules it imports itself, and existentials are spelled `any`. Missing
/// dependencies and leaked imports then fail the build instead of slipping through.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
    .treatWarning("ExistentialAny", as: .error),
]

let package = Package(
    name: "admit",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AdmitToken", targets: ["AdmitToken"]),
        .library(name: "AdmitCore", targets: ["AdmitCore"]),
        .library(name: "AdmitStore", targets: ["AdmitStore"]),
        .library(name: "AdmitApp", targets: ["AdmitApp"]),
        .library(name: "AdmitServer", targets: ["AdmitServer"]),
        .library(name: "AdmitClient", targets: ["AdmitClient"]),
        .executable(name: "admit", targets: ["admit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket.git", from: "2.8.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/vapor/sql-kit.git", from: "3.36.0"),
        .package(url: "https://github.com/vapor/sqlite-kit.git", from: "4.5.2"),
        .package(url: "https://github.com/vapor/postgres-kit.git", from: "2.17.0"),
    ],
    targets: [
        // Tokens: claims, signing, verification, explanation. swift-crypto only, so any app can use it.
        .target(
            name: "AdmitToken",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strict
        ),
        // Admission decision, meeting and lobby state machine: pure, no I/O.
        .target(
            name: "AdmitCore",
            dependencies: ["AdmitToken"],
            swiftSettings: strict
        ),
        // Repositories: protocols, in-memory, and one SQL implementation over SQLite and PostgreSQL.
        .target(
            name: "AdmitStore",
            dependencies: [
                "AdmitCore",
                "AdmitToken",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SQLKit", package: "sql-kit"),
                .product(name: "SQLiteKit", package: "sqlite-kit"),
                .product(name: "PostgresKit", package: "postgres-kit"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // The application layer: use cases (tokens, rooms, joins, keys, settings, jobs, sessions)
        // over Core and Store, with typed errors; no transport. The server and the CLI map onto it.
        .target(
            name: "AdmitApp",
            dependencies: ["AdmitToken", "AdmitCore", "AdmitStore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // The Hummingbird application: admin API, server API, example endpoints, operations.
        .target(
            name: "AdmitServer",
            dependencies: [
                "AdmitToken", "AdmitStore", "AdmitCore", "AdmitApp",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOFoundationEssentialsCompat", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
            ],
            // The dashboard and meeting page, compiled into the binary (no files to ship beside it).
            resources: ["dashboard.html", "meet.html", "style.css", "dashboard.js", "meet.js", "common.js", "favicon.svg"].map {
                .embedInCode("Dashboard/Web/\($0)")
            },
            swiftSettings: strict
        ),
        // A Swift client for the server API and meetings, as an app would use Admit.
        .target(
            name: "AdmitClient",
            dependencies: [
                "AdmitToken", "AdmitCore",
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "admit",
            dependencies: [
                "AdmitToken", "AdmitCore", "AdmitStore", "AdmitApp", "AdmitServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Sign/verify throughput beside the HMAC floor; run through Benchmarks/run.sh in release mode.
        .executableTarget(
            name: "admit-bench",
            dependencies: ["AdmitToken", .product(name: "Crypto", package: "swift-crypto")],
            path: "Benchmarks/AdmitBench",
            swiftSettings: strict
        ),
        // The join-storm load generator (Benchmarks/storm.sh): raw NIO sockets on one thread.
        .executableTarget(
            name: "admit-storm",
            dependencies: [.product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio")],
            path: "Benchmarks/Storm",
            swiftSettings: strict + [.swiftLanguageMode(.v5)]
        ),
        // libFuzzer targets (Fuzz/run.sh builds them with -sanitize=fuzzer); a plain build makes
        // them print how to run them.
        .executableTarget(name: "FuzzVerifier", dependencies: ["AdmitToken"], path: "Fuzz/Sources/FuzzVerifier", swiftSettings: strict),
        .executableTarget(
            name: "FuzzRTCMessage", dependencies: ["AdmitCore", "AdmitToken"], path: "Fuzz/Sources/FuzzRTCMessage", swiftSettings: strict),
        .executableTarget(name: "FuzzSettings", dependencies: ["AdmitCore", "AdmitToken"], path: "Fuzz/Sources/FuzzSettings", swiftSettings: strict),
        .testTarget(
            name: "AdmitTokenTests",
            dependencies: ["AdmitToken", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Vectors")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AdmitCoreTests",
            dependencies: ["AdmitCore", "AdmitToken"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AdmitStoreTests",
            dependencies: ["AdmitStore", "AdmitCore", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AdmitAppTests",
            dependencies: ["AdmitApp", "AdmitCore", "AdmitStore", "AdmitToken", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "AdmitServerTests",
            dependencies: [
                "AdmitServer", "AdmitStore", "AdmitToken", "AdmitCore", "AdmitClient",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSTesting", package: "hummingbird-websocket"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strict
        ),
        // Runs the built `admit` executable as a user would.
        .testTarget(
            name: "admitTests",
            dependencies: ["admit", "AdmitToken"],
            swiftSettings: strict
        ),
    ]
)
