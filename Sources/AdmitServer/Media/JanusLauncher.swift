import Foundation
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
    import Glibc
#endif

/// Dev mode's own Janus: found on the PATH, configured under the data dir (its WebSocket API
/// on loopback only with a random API secret, the other transports and plugins off, media on
/// the host's own addresses), run as a child that dies with Admit however Admit ends.
///
/// Janus runs under a small shell that holds a pipe from Admit: when Admit exits, even by
/// kill -9, the kernel closes the pipe, the shell's `read` returns, and it kills Janus. The
/// restart loop runs under `setpriv --pdeathsig` where available, and Janus under it likewise:
/// if the shell is killed outright, the loop goes, and Janus with it. (Admit itself is not
/// their parent through pdeathsig: it fires when the thread that forked exits, not the process.) The shell also starts Janus again (a second later) when it dies, as a service manager would; the
/// bridge then sees a new Janus session and creates the rooms again.
final class JanusLauncher: Sendable {
    /// Which of Janus's APIs it opens (on loopback): dev mode uses the WebSocket one; the tests
    /// of the HTTP client start one with the HTTP API.
    enum API: Sendable {
        case webSocket
        case http
    }

    /// The API to give `JanusClient`.
    let url: String
    let apiSecret: String
    let directory: String
    private let process: Process
    private let lifeline: Pipe

    /// Starts Janus with a configuration written to `directory`; nil (and a log line) when no
    /// `janus` is installed. Throws when it is installed but cannot be started.
    static func start(in directory: String, api: API = .webSocket, logger: Logger) async throws -> JanusLauncher? {
        guard let janus = which("janus") else {
            logger.info("no janus on the PATH: meetings run without media (media requests answer 4090)")
            return nil
        }
        let port = try await freePort()
        let secret = (0..<2).map { _ in UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }.joined()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try writeConfiguration(in: directory, port: port, secret: secret, janus: janus, api: api)
        let url = api == .webSocket ? "ws://127.0.0.1:\(port)/" : "http://127.0.0.1:\(port)/janus"
        let launcher = try JanusLauncher(janus: janus, directory: directory, url: url, secret: secret)
        logger.info("started janus for media", metadata: ["url": "\(launcher.url)", "log": "\(directory)/janus.log"])
        return launcher
    }

    private init(janus: String, directory: String, url: String, secret: String) throws {
        self.url = url
        self.apiSecret = secret
        self.directory = directory
        let lifeline = Pipe()
        let process = Process()
        // `read` returns when Admit's end of the pipe closes (Admit exited, however); then Janus
        // goes. Janus's pid is kept in janus.pid (the restart loop writes it each time).
        let script = #"""
            janus="$0"; dir="$1"; guard="$2"
            rm -f "$dir/janus.stopping"
            $guard /bin/sh -c '
              while [ ! -e "$1/janus.stopping" ]; do
                $2 "$0" -F "$1" -C "$1/janus.jcfg" -L "$1/janus.log" -N -o >/dev/null 2>&1 &
                echo $! > "$1/janus.pid"
                wait $!
                sleep 1
              done' "$janus" "$dir" "$guard" &
            loop=$!
            # Stopping: no more restarts, Janus asked to stop (TERM), and a second later the loop
            # killed, which takes a Janus still running with it (pdeathsig). The pid in janus.pid
            # is never signalled after Janus may have been reaped.
            stop() {
              touch "$dir/janus.stopping"
              child=$(cat "$dir/janus.pid" 2>/dev/null)
              kill -0 $loop 2>/dev/null && [ -n "$child" ] && kill $child 2>/dev/null
              sleep 1
              kill -9 $loop 2>/dev/null
              exit 0
            }
            trap stop TERM INT
            while read -r _; do :; done
            stop
            """#
        let guardCommand = Self.which("setpriv").map { "\($0) --pdeathsig KILL --" } ?? ""
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script, janus, directory, guardCommand]
        // Only the shell may hold the read end, and only Admit the write end: were the write end
        // inherited, the shell would keep its own pipe open and never see Admit go.
        _ = fcntl(lifeline.fileHandleForWriting.fileDescriptor, F_SETFD, FD_CLOEXEC)
        process.standardInput = lifeline
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        self.lifeline = lifeline
    }

    /// Stops Janus (on shutdown): the shell kills it when the pipe closes. Waits up to three
    /// seconds without blocking a thread (`waitUntilExit` spins a run loop here), then signals.
    func stop() async {
        try? lifeline.fileHandleForWriting.close()
        for _ in 0..<60 where process.isRunning {
            try? await Task.sleep(for: .milliseconds(50))
        }
        if process.isRunning { process.terminate() }
    }

    // MARK: Configuration

    private static func writeConfiguration(in directory: String, port: Int, secret: String, janus: String, api: API) throws {
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
                    ignore_mdns = true
                }
                plugins: {
                    disable = "\(others(in: "plugins", keeping: "libjanus_videoroom.so"))"
                }
                transports: {
                    disable = "\(others(in: "transports", keeping: api == .webSocket ? "libjanus_websockets.so" : "libjanus_http.so"))"
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
            (
                "janus.transport.http.jcfg",
                """
                general: {
                    json = "compact"
                    base_path = "/janus"
                    http = \(api == .http)
                    port = \(port)
                    ip = "127.0.0.1"
                    https = false
                }
                admin: {
                    admin_http = false
                    admin_https = false
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
