import AdmitCore
import AdmitStore
import AdmitToken
import Hummingbird

/// The dashboard's API Settings per key (`GET|PUT|PATCH /admin/v1/api-keys/:apiKey/settings`)
/// and the effective configuration of a room with the source of every value.
struct SettingsController {
    let services: Services

    func register(on router: Router<AppContext>) {
        let admin = router.group("/admin/v1").add(middleware: AdminGuard(services: services))
        admin.get("/api-keys/:apiKey/settings") { _, context in
            JSONResponse(value: try await current(try context.parameters.require("apiKey")).json)
        }
        admin.put("/api-keys/:apiKey/settings") { request, context in
            let apiKey = try context.parameters.require("apiKey")
            _ = try await current(apiKey)
            let document = try await decodeJSON(request, context)
            return JSONResponse(value: try await save(apiKey, try validated { () throws(SettingsError) in try APISettings(validating: document) }))
        }
        admin.patch("/api-keys/:apiKey/settings") { request, context in
            let apiKey = try context.parameters.require("apiKey")
            var settings = try await current(apiKey)
            let patch = try await decodeJSON(request, context)
            try validated { () throws(SettingsError) in try settings.apply(patch: patch) }
            return JSONResponse(value: try await save(apiKey, settings))
        }
        admin.get("/rooms/:roomId/effective-config") { request, context in
            let roomId = try context.parameters.require("roomId")
            guard let room = try await services.repositories.room(roomId: roomId) else { throw APIError.notFound("No room \(roomId).") }
            let sdk = try JoinSettings(request.uri.queryParameters).maxSendBitrate
            return JSONResponse(value: Precedence.room(dashboard: services.keyRing.settings(for: room.apiKey), sdkMaxSendBitrate: sdk).json)
        }
    }

    /// The key's stored settings, read from the store (not the ring) so that a PATCH merges into the latest.
    private func current(_ apiKey: String) async throws -> APISettings {
        guard let record = try await services.repositories.key(apiKey) else { throw APIError.notFound("No API key \(apiKey).") }
        return record.settings.map { APISettings(stored: $0) } ?? APISettings()
    }

    private func save(_ apiKey: String, _ settings: APISettings) async throws -> JSONValue {
        let json = settings.json
        try await services.repositories.updateSettings(apiKey: apiKey, settings: json.jsonText)
        try await services.keyRing.reload()
        return json
    }
}

/// Runs a settings change, turning a validation failure into a 400 that names the field.
@discardableResult
func validated<T>(_ body: () throws(SettingsError) -> T) throws(APIError) -> T {
    do throws(SettingsError) {
        return try body()
    } catch {
        throw APIError.badRequest(error.message)
    }
}
