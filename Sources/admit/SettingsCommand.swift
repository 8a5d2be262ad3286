import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import ArgumentParser
import Foundation

/// `admit keys settings`: a key's API settings (the dashboard's), the same as
/// `GET|PUT|PATCH /admin/v1/api-keys/:apiKey/settings`.
struct SettingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "settings",
        abstract: "Show, replace or merge a key's API settings (see docs/settings.md).",
        discussion: """
            admit keys settings show KEY
            admit keys settings set KEY '{"maxSendBitrate":"hd"}'      replaces the whole document
            admit keys settings patch KEY '{"recording":{"quality":null}}'   merges; null unsets
            A JSON argument of - reads standard input. A running server sees changes within its refresh interval.
            """,
        subcommands: [Show.self, Set.self, Patch.self])

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the key's settings as JSON.")
        @Argument(help: "The API key.") var apiKey: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            print(try await withSettings(store) { try await $0.current(apiKey) }.json.prettyText)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace the key's settings with a JSON document.")
        @Argument(help: "The API key.") var apiKey: String
        @Argument(help: "The settings as JSON, or - for standard input.") var document: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let given = try readDocument(document)
            print(try await withSettings(store) { try await $0.replace(apiKey, with: given) }.json.prettyText)
        }
    }

    struct Patch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Merge a JSON document into the key's settings; null unsets a field.")
        @Argument(help: "The API key.") var apiKey: String
        @Argument(help: "The changes as JSON, or - for standard input.") var document: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let given = try readDocument(document)
            print(try await withSettings(store) { try await $0.patch(apiKey, with: given) }.json.prettyText)
        }
    }
}

/// Opens the store, runs `body` with the settings use cases over it, and closes the store. A
/// refusal (no such key, a field that fails validation) is the command's error message.
private func withSettings<T>(_ options: StoreOptions, _ body: (SettingsService) async throws -> T) async throws -> T {
    let (store, _) = try await options.open()
    do {
        let result = try await body(SettingsService(repositories: store.repositories))
        try await store.close()
        return result
    } catch let error as AppError {
        try? await store.close()
        throw ValidationError(error.message)
    } catch {
        try? await store.close()
        throw error
    }
}

private func readDocument(_ argument: String) throws -> JSONValue {
    let text = argument == "-" ? String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self) : argument
    guard let value = try? JSONValue(parsing: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
        throw ValidationError("The settings are not valid JSON.")
    }
    return value
}
