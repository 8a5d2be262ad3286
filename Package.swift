// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "admit",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "AdmitToken", targets: ["AdmitToken"]),
        .executable(name: "admit", targets: ["admit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    ],
    targets: [
        // Tokens: claims, signing, verification, explanation. swift-crypto only, so any app can use it.
        .target(
            name: "AdmitToken",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")]
        ),
        .executableTarget(
            name: "admit",
            dependencies: [
                "AdmitToken",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Sign/verify throughput beside the HMAC floor; run through Benchmarks/run.sh in release mode.
        .executableTarget(
            name: "admit-bench",
            dependencies: ["AdmitToken", .product(name: "Crypto", package: "swift-crypto")],
            path: "Benchmarks/AdmitBench"
        ),
        .testTarget(
            name: "AdmitTokenTests",
            dependencies: ["AdmitToken", .product(name: "Crypto", package: "swift-crypto")],
            resources: [.copy("Vectors")]
        ),
        // Runs the built `admit` executable as a user would.
        .testTarget(
            name: "admitTests",
            dependencies: ["admit", "AdmitToken"]
        ),
    ]
)
