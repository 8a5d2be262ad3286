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
            print(try await withSettings(store, apiKey) { $0 }.json.prettyText)
        }
    }

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Replace the key's settings with a JSON document.")
        @Argument(help: "The API key.") var apiKey: String
        @Argument(help: "The settings as JSON, or - for standard input.") var document: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let given = try readDocument(document)
            print(try await withSettings(store, apiKey) { _ throws(SettingsError) in try APISettings(validating: given) }.json.prettyText)
        }
    }

    struct Patch: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Merge a JSON document into the key's settings; null unsets a field.")
        @Argument(help: "The API key.") var apiKey: String
        @Argument(help: "The changes as JSON, or - for standard input.") var document: String
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let given = try readDocument(document)
            print(
                try await withSettings(store, apiKey) { current throws(SettingsError) in
                    var next = current
                    try next.apply(patch: given)
                    return next
                }.json.prettyText)
        }
    }
}

/// Reads a key's settings, applies `change`, stores the result when it differs, and returns it.
private func withSettings(
    _ options: StoreOptions, _ apiKey: String, _ change: (APISettings) throws(SettingsError) -> APISettings
) async throws -> APISettings {
    let (store, _) = try await options.open()
    do {
        guard let record = try await store.repositories.key(apiKey) else { throw ValidationError("No API key \(apiKey).") }
        let current = record.settings.map { APISettings(stored: (try? JSONValue(parsing: $0)) ?? .object([])) } ?? APISettings()
        let next: APISettings
        do throws(SettingsError) {
            next = try change(current)
        } catch {
            throw ValidationError(error.message)
        }
        if next != current { try await store.repositories.updateSettings(apiKey: apiKey, settings: next.json.jsonText) }
        try await store.close()
        return next
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
