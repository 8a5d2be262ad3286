import ArgumentParser
import Foundation
import NIOCore
import NIOPosix

/// Entry point: runs Swift concurrency on NIO's event loops (no thread hop between the
/// network and the handlers), then the command.
@main
enum Main {
    static func main() async {
        // One event loop per CPU this process may run on (its affinity mask, as Go sizes GOMAXPROCS),
        // not per CPU of the machine: a pinned or containerised server does not time-slice loops.
        if let cpus = allowedCPUs(), cpus > 0 { NIOSingletons.groupLoopCountSuggestion = cpus }
        _ = NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
        await Admit.main()
    }
}

/// The number of CPUs in this process's affinity mask (`Cpus_allowed` in /proc/self/status), or nil.
private func allowedCPUs() -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("Cpus_allowed:") })
    else { return nil }
    let mask = line.dropFirst("Cpus_allowed:".count).filter { $0.isHexDigit }
    return mask.reduce(0) { $0 + (Int(String($1), radix: 16) ?? 0).nonzeroBitCount }
}

/// The `admit` command: a thin shell over the Admit libraries.
struct Admit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "admit",
        abstract: "Self-hosted access tokens and meeting admission for VideoSDK-style apps.",
        discussion: """
            Exit status: 0 success; 1 the token checked is not valid, or the server could not start; \
            64 bad command-line input (usage or a value that cannot be used).
            """,
        subcommands: [ServeCommand.self, TokenCommand.self, KeysCommand.self]
    )
}
