import AdmitApp
import AdmitStore
import ArgumentParser
import Foundation

/// `admit keys`: the admin API's key management against the configured store.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Create, list, rotate and deactivate API keys in the configured store.",
        discussion: "A running server sees changes within its refresh interval (5 s).",
        subcommands: [Create.self, List.self, Rotate.self, Deactivate.self, SettingsCommand.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key; its secret is printed once.")
        @Option(help: "A name for people.") var name: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard !name.isEmpty else { throw ValidationError("--name is empty.") }
            let issued = try await withKeys(store) { try await $0.create(name: name) }
            printJSON(["apiKey": issued.record.apiKey, "name": issued.record.name, "secret": issued.secret])
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let keys = try await withKeys(store) { try await $0.list() }
            for key in keys {
                print("\(key.apiKey)  \(key.isDeactivated ? "deactivated" : "active     ")  \(key.name)")
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give a key a new secret; the old one verifies during the grace period.")
        @Argument(help: "The API key.") var apiKey: String
        @Option(help: "Seconds the previous secret stays valid.") var graceSeconds = 3600
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard (0...30 * 86_400).contains(graceSeconds) else { throw ValidationError("--grace-seconds must be from 0 to 2592000.") }
            guard let issued = try await withKeys(store, { try await $0.rotate(apiKey: apiKey, grace: graceSeconds) }) else {
                throw ValidationError("No API key \(apiKey).")
            }
            printJSON([
                "apiKey": issued.record.apiKey, "secret": issued.secret,
                "previousSecretValidUntil": issued.previousSecretValidUntil.map { $0.ISO8601Format() } ?? "",
            ])
        }
    }

    struct Deactivate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Deactivate a key: its tokens are refused with 4053.")
        @Argument(help: "The API key.") var apiKey: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            guard try await withKeys(store, { try await $0.deactivate(apiKey: apiKey) }) != nil else {
                throw ValidationError("No API key \(apiKey).")
            }
            print("\(apiKey) deactivated")
        }
    }
}

/// Opens the store, runs `body` with a key service over it, and closes the store.
private func withKeys<T>(_ options: StoreOptions, _ body: (KeyService) async throws -> T) async throws -> T {
    let (store, box) = try await options.open()
    do {
        let result = try await body(KeyService(repositories: store.repositories, box: box))
        try await store.close()
        return result
    } catch {
        try? await store.close()
        throw error
    }
}

private func printJSON(_ object: [String: String]) {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])) ?? Data()
    print(String(decoding: data, as: UTF8.self))
}
