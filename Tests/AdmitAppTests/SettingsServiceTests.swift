import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Logging
import Testing

@Suite("application: settings (one read-modify-write for the admin API and the CLI)")
struct SettingsServiceTests {
    /// Memory and SQLite; PostgreSQL's compare-and-swap is the store suite's.
    static func stores() async throws -> [Store] {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("admit-app-\(UUID().uuidString).sqlite").path
        return [.memory(), try await .sqlite(path: path, logger: Logger(label: "test"))]
    }

    static func key(in store: Store) async throws -> String {
        let keys = KeyService(repositories: store.repositories, box: try SecretBox(base64: SecretBox.generateMasterKey()))
        return try await keys.create(name: "k").record.apiKey
    }

    @Test("patches that run at once all apply: none is computed from settings another has replaced")
    func concurrentPatches() async throws {
        for store in try await Self.stores() {
            let apiKey = try await Self.key(in: store)
            let service = SettingsService(repositories: store.repositories)
            let patches: [(String, JSONValue)] = [
                ("maxSendBitrate", .string("hd")), ("recording.autoStart", .bool(true)), ("hls.recordStream", .bool(true)),
                ("services.sip", .bool(false)), ("services.rtmpOut", .bool(false)), ("transcription.enabled", .bool(false)),
                ("recording.enabled", .bool(false)), ("hls.autoStart", .bool(true)),
            ]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (path, value) in patches {
                    let parts = path.split(separator: ".").map(String.init)
                    let document: JSONValue =
                        parts.count == 1
                        ? .object([JSONMember(parts[0], value)]) : .object([JSONMember(parts[0], .object([JSONMember(parts[1], value)]))])
                    group.addTask { _ = try await service.patch(apiKey, with: document) }
                }
                try await group.waitForAll()
            }
            let stored = try await service.current(apiKey)
            for (path, value) in patches {
                #expect(stored[path] == value, "\(path) lost on \(store.description)")
            }
            try await store.close()
        }
    }

    @Test("refusals are typed: an unknown key is not found, an unknown field is invalid and named, and nothing is written")
    func refusals() async throws {
        for store in try await Self.stores() {
            let apiKey = try await Self.key(in: store)
            let service = SettingsService(repositories: store.repositories)
            _ = try await service.patch(apiKey, with: .object([JSONMember("maxSendBitrate", .string("sd"))]))
            let unknownKey = await #expect(throws: AppError.self) { _ = try await service.current("no-such-key") }
            #expect(unknownKey?.kind == .notFound)
            let unknownField = await #expect(throws: AppError.self) {
                _ = try await service.patch(apiKey, with: .object([JSONMember("maxSendBitrat", .string("hd"))]))
            }
            #expect(unknownField?.kind == .invalid)
            #expect(unknownField?.message.contains("maxSendBitrat") == true)
            #expect(try await service.current(apiKey)["maxSendBitrate"] == .string("sd"))
            try await store.close()
        }
    }
}
