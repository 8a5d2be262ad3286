import ArgumentParser

/// The `admit` command: a thin shell over the Admit libraries.
@main
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
