import AdmitApp
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
            JSONResponse(value: try await settings.current(try context.parameters.require("apiKey")).json)
        }
        admin.put("/api-keys/:apiKey/settings") { request, context in
            let apiKey = try context.parameters.require("apiKey")
            _ = try await settings.current(apiKey)
            let document = try await decodeJSON(request, context)
            // Every problem at once (the dashboard marks each field); `error` is the first, as before.
            let problems = APISettings.problems(in: document)
            if let first = problems.first {
                throw APIError(
                    status: .badRequest,
                    body: .object([
                        JSONMember("statusCode", .number("400")), JSONMember("error", .string(first.message)),
                        JSONMember(
                            "errors",
                            .array(problems.map { .object([JSONMember("field", .string($0.field)), JSONMember("message", .string($0.message))]) })),
                    ]))
            }
            return JSONResponse(value: try await settings.replace(apiKey, with: document).json)
        }
        // Every problem of a document, answered 200: the dashboard checks before it saves, so a
        // form with mistakes is a normal answer, not a failed request in the browser's console.
        admin.post("/api-keys/:apiKey/settings/problems") { request, context in
            _ = try await settings.current(try context.parameters.require("apiKey"))
            let document = try await decodeJSON(request, context)
            let problems = APISettings.problems(in: document)
            return JSONResponse(
                value: .object([
                    JSONMember(
                        "errors",
                        .array(problems.map { .object([JSONMember("field", .string($0.field)), JSONMember("message", .string($0.message))]) }))
                ]))
        }
        admin.patch("/api-keys/:apiKey/settings") { request, context in
            let apiKey = try context.parameters.require("apiKey")
            _ = try await settings.current(apiKey)
            let patch = try await decodeJSON(request, context)
            return JSONResponse(value: try await settings.patch(apiKey, with: patch).json)
        }
        admin.get("/rooms/:roomId/effective-config") { request, context in
            let roomId = try context.parameters.require("roomId")
            guard let room = try await services.repositories.room(roomId: roomId) else { throw APIError.notFound("No room \(roomId).") }
            let query = FormQuery(request.uri.query?[...])
            let sdk = try JoinSettings(
                maxSendBitrate: query["maxSendBitrate"], micEnabled: query["micEnabled"], webcamEnabled: query["webcamEnabled"]
            ).maxSendBitrate
            return JSONResponse(value: Precedence.room(dashboard: services.keyRing.settings(for: room.apiKey), sdkMaxSendBitrate: sdk).json)
        }
    }

    private var settings: SettingsService { services.settings }
}
