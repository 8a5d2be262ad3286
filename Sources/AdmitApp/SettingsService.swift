public import AdmitCore
public import AdmitStore
public import AdmitToken

/// A key's API settings (the dashboard's): the one read-modify-write, used by the admin API
/// and `admit keys settings`. A change is computed from the stored settings and written only
/// if they are still what it read (compare and swap), so two changes at once both apply.
public struct SettingsService: Sendable {
    let repositories: any Repositories
    /// Called after every change so that the server's key ring sees it at once.
    let changed: @Sendable () async throws -> Void

    public init(repositories: any Repositories, changed: @escaping @Sendable () async throws -> Void = {}) {
        self.repositories = repositories
        self.changed = changed
    }

    /// The key's stored settings, read from the store (the latest, not a server's copy).
    public func current(_ apiKey: String) async throws -> APISettings {
        guard let record = try await repositories.key(apiKey) else { throw AppError.notFound("No API key \(apiKey).") }
        return APISettings(storedText: record.settings)
    }

    /// Replaces the whole document (`PUT`, `admit keys settings set`); unknown fields are refused by name.
    public func replace(_ apiKey: String, with document: JSONValue) async throws -> APISettings {
        try await change(apiKey) { _ throws(SettingsError) in try APISettings(validating: document) }
    }

    /// Merges `patch` into the settings (`PATCH`, `admit keys settings patch`); `null` unsets a field.
    public func patch(_ apiKey: String, with patch: JSONValue) async throws -> APISettings {
        try await change(apiKey) { current throws(SettingsError) in
            var next = current
            try next.apply(patch: patch)
            return next
        }
    }

    /// Reads, changes and writes the key's settings; a validation failure is `invalid` and names the field.
    public func change(_ apiKey: String, _ change: (APISettings) throws(SettingsError) -> APISettings) async throws -> APISettings {
        for _ in 0..<64 {
            guard let record = try await repositories.key(apiKey) else { throw AppError.notFound("No API key \(apiKey).") }
            let current = APISettings(storedText: record.settings)
            let next: APISettings
            do throws(SettingsError) {
                next = try change(current)
            } catch {
                throw AppError.invalid(error.message)
            }
            if try await repositories.updateSettings(apiKey: apiKey, settings: next.json.jsonText, expected: record.settings) {
                try await changed()
                return next
            }
        }
        throw AppError.conflict("The settings of \(apiKey) kept changing; try again.")
    }
}
