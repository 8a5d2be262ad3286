import Foundation
import Logging
import NIOCore
import NIOPosix

/// Dev mode's own Janus: found on the PATH, configured under the data dir (its WebSocket API
/// on loopback only with a random API secret, the other transports and plugins off, media on
/// the host's own addresses), run as a child that dies with Admit however Admit ends.
///
/// Janus runs under a small shell that holds a pipe from Admit: when Admit exits, even by
/// kill -9, the kernel closes the pipe, the shell's `read` returns, and it kills Janus. The
/// shell itself is run with `setpriv --pdeathsig` where available, a second guard.
final class JanusLauncher: Sendable {
    /// The WebSocket API to give `JanusClient`.
    let url: String
    let apiSecret: String
    let directory: String
    private let process: Process
    private let lifeline: Pipe

    /// Starts Janus with a configuration written to `directory`; nil (and a log line) when no
    /// `janus` is installed. Throws when it is installed but cannot be started.
    static func start(in directory: String, logger: Logger) async throws -> JanusLauncher? {
        guard let janus = which("janus") else {
            logger.info("no janus on the PATH: meetings run without media (media requests answer 4090)")
            return nil
        }
        let port = try await freePort()
        let secret = (0..<2).map { _ in UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }.joined()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try writeConfiguration(in: directory, port: port, secret: secret, janus: janus)
        let launcher = try JanusLauncher(janus: janus, directory: directory, port: port, secret: secret)
        logger.info("started janus for media", metadata: ["url": "\(launcher.url)", "log": "\(directory)/janus.log"])
        return launcher
    }

    private init(janus: String, directory: String, port: Int, secret: String) throws {
        self.url = "ws://127.0.0.1:\(port)/"
        self.apiSecret = secret
        self.directory = directory
        let lifeline = Pipe()
        let process = Process()
        // `read` returns when Admit's end of the pipe closes (Admit exited, however); then Janus goes.
        let script = #"""
            "$0" -F "$1" -C "$1/janus.jcfg" -L "$1/janus.log" -N -o >/dev/null 2>&1 &
            child=$!
            trap 'kill $child 2>/dev/null; exit 0' TERM INT
            while read -r _; do :; done
            kill $child 2>/dev/null
            sleep 1
            kill -9 $child 2>/dev/null
            """#
        if let setpriv = Self.which("setpriv") {
            process.executableURL = URL(fileURLWithPath: setpriv)
            process.arguments = ["--pdeathsig", "KILL", "--", "/bin/sh", "-c", script, janus, directory]
        } else {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", script, janus, directory]
        }
        process.standardInput = lifeline
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.lifeline = lifeline
    }

    /// Stops Janus (on shutdown): the shell kills it when the pipe closes.
    func stop() {
        try? lifeline.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    // MARK: Configuration

    private static func writeConfiguration(in directory: String, port: Int, secret: String, janus: String) throws {
        let root = URL(fileURLWithPath: janus).deletingLastPathComponent().deletingLastPathComponent().path
        let library = ["\(root)/lib/x86_64-linux-gnu/janus", "\(root)/lib/aarch64-linux-gnu/janus", "\(root)/lib/janus"].first {
            FileManager.default.fileExists(atPath: $0 + "/plugins")
        }
        guard let library else { throw JanusLaunchError("cannot find Janus's plugins next to \(janus)") }
        func others(in folder: String, keeping: String) -> String {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: "\(library)/\(folder)")) ?? []
            return names.filter { $0.hasSuffix(".so") && $0 != keeping }.sorted().joined(separator: ",")
        }
        let files: [(String, String)] = [
            (
                "janus.jcfg",
                """
                general: {
                    configs_folder = "\(directory)"
                    plugins_folder = "\(library)/plugins"
                    transports_folder = "\(library)/transports"
                    events_folder = "\(library)/events"
                    loggers_folder = "\(library)/loggers"
                    log_to_stdout = false
                    debug_level = 3
                    api_secret = "\(secret)"
                    session_timeout = 60
                    server_name = "admit-dev-janus"
                    protected_folders = ["/bin", "/boot", "/dev", "/etc", "/initrd", "/lib", "/lib32", "/lib64", "/proc", "/sbin", "/sys", "/usr", "/var"]
                }
                media: {
                    rtp_port_range = "20000-40000"
                }
                nat: {
                    ice_ignore_list = "vmnet"
                }
                plugins: {
                    disable = "\(others(in: "plugins", keeping: "libjanus_videoroom.so"))"
                }
                transports: {
                    disable = "\(others(in: "transports", keeping: "libjanus_websockets.so"))"
                }
                events: {
                    broadcast = false
                }
                loggers: {
                    disable = "\(others(in: "loggers", keeping: ""))"
                }
                """
            ),
            (
                "janus.transport.websockets.jcfg",
                """
                general: {
                    json = "compact"
                    ws = true
                    ws_port = \(port)
                    ws_ip = "127.0.0.1"
                    wss = false
                }
                admin: {
                    admin_ws = false
                    admin_wss = false
                }
                """
            ),
            ("janus.plugin.videoroom.jcfg", "general: {\n}\n"),
        ]
        for (name, text) in files {
            let path = "\(directory)/\(name)"
            guard FileManager.default.createFile(atPath: path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]) else {
                throw JanusLaunchError("cannot write \(path)")
            }
        }
    }

    /// A TCP port on loopback that nothing listens on now.
    private static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port
        try await channel.close()
        guard let port else { throw JanusLaunchError("no free port") }
        return port
    }

    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}

struct JanusLaunchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
