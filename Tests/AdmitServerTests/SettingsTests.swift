import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import Testing

extension Harness {
    func settings(_ apiKey: String) async throws -> Reply { try await admin(.get, "/admin/v1/api-keys/\(apiKey)/settings") }
    func putSettings(_ apiKey: String, _ body: String) async throws -> Reply {
        try await admin(.put, "/admin/v1/api-keys/\(apiKey)/settings", body: body)
    }
    func patchSettings(_ apiKey: String, _ body: String) async throws -> Reply {
        try await admin(.patch, "/admin/v1/api-keys/\(apiKey)/settings", body: body)
    }
    func effectiveConfig(_ roomId: String, query: String = "") async throws -> Reply {
        try await admin(.get, "/admin/v1/rooms/\(roomId)/effective-config\(query)")
    }
    /// A server API call from a browser page on `origin`.
    func fromOrigin(_ origin: String?, _ method: HTTPRequest.Method, _ uri: String, token: String?) async throws -> Reply {
        var headers = HTTPFields()
        if let origin { headers[.origin] = origin }
        return try await call(method, uri, token: token, headers: headers)
    }
}

@Suite("API settings over the admin API")
struct SettingsAPITests {
    @Test("PUT replaces, PATCH merges and null unsets, GET shows what is stored")
    func putPatchGet() async throws {
        try await withServer { (server: Harness) async throws -> Void in
            let key = try await server.createKey()
            #expect(try await server.settings(key.apiKey).text == "{}")
            let put = try await server.putSettings(
                key.apiKey, #"{"maxSendBitrate":"hd","recording":{"quality":"low","layout":{"type":"SPOTLIGHT","gridSize":6}}}"#)
            #expect(put.status == 200)
            #expect(put.text == #"{"maxSendBitrate":"hd","recording":{"quality":"low","layout":{"type":"SPOTLIGHT","gridSize":6}}}"#)
            let patched = try await server.patchSettings(key.apiKey, #"{"recording":{"layout":{"gridSize":null}},"hls":{"enabled":false}}"#)
            #expect(patched.text == #"{"maxSendBitrate":"hd","recording":{"quality":"low","layout":{"type":"SPOTLIGHT"}},"hls":{"enabled":false}}"#)
            #expect(try await server.settings(key.apiKey).text == patched.text)
            // PUT replaces the whole document.
            #expect(try await server.putSettings(key.apiKey, #"{"services":{"sip":false}}"#).text == #"{"services":{"sip":false}}"#)
            #expect(try await server.settings(key.apiKey).text == #"{"services":{"sip":false}}"#)
        }
    }

    @Test("bad settings are a 400 naming the field, and change nothing")
    func invalid() async throws {
        try await withServer { (server: Harness) async throws -> Void in
            let key = try await server.createKey()
            _ = try await server.putSettings(key.apiKey, #"{"maxSendBitrate":"sd"}"#)
            for (body, field) in [
                (#"{"recording":{"layout":{"gridSize":30}}}"#, "recording.layout.gridSize"),
                (#"{"hls":{"quality":"4k"}}"#, "hls.quality"),
                (#"{"transcription":{"whitelistDomains":["https://example.com/path"]}}"#, "transcription.whitelistDomains"),
                (#"{"unknown":1}"#, "unknown"),
            ] {
                for reply in [try await server.putSettings(key.apiKey, body), try await server.patchSettings(key.apiKey, body)] {
                    #expect(reply.status == 400, "\(body)")
                    #expect(reply.error?.contains("`\(field)`") == true, "\(reply.text)")
                }
            }
            #expect(try await server.patchSettings(key.apiKey, "[1]").status == 400)
            #expect(try await server.patchSettings(key.apiKey, "{").status == 400)
            #expect(try await server.settings(key.apiKey).text == #"{"maxSendBitrate":"sd"}"#)
        }
    }

    @Test("unknown keys are 404, and an access token is not the admin credential")
    func guarded() async throws {
        try await withServer { (server: Harness) async throws -> Void in
            let key = try await server.createKey()
            #expect(try await server.settings("nope").status == 404)
            #expect(try await server.patchSettings("nope", "{}").status == 404)
            #expect(try await server.call(.get, "/admin/v1/api-keys/\(key.apiKey)/settings", token: token(key)).status == 401)
            #expect(try await server.effectiveConfig("nope-nope-nope").status == 404)
        }
    }

    @Test("the effective configuration shows each value with its source, and follows dashboard changes")
    func effectiveConfig() async throws {
        try await withServer { (server: Harness) async throws -> Void in
            let key = try await server.createKey()
            let roomId = try #require(try await server.createRoom(token(key)).json["roomId"]?.stringValue)
            let before = try await server.effectiveConfig(roomId)
            #expect(before.json["maxSendBitrate"] == .object([JSONMember("value", .string("auto")), JSONMember("source", .string("default"))]))
            #expect(before.json["recording.layout.gridSize"]?["value"] == .number("4"))
            _ = try await server.putSettings(key.apiKey, #"{"recording":{"layout":{"gridSize":9}},"hls":{"autoStart":true}}"#)
            let after = try await server.effectiveConfig(roomId)
            #expect(after.json["recording.layout.gridSize"]?["value"] == .number("9"))
            #expect(after.json["recording.layout.gridSize"]?["source"] == .string("dashboard"))
            #expect(after.json["hls.autoStart"]?["source"] == .string("dashboard"))
            #expect(after.json["hls.layout.gridSize"]?["source"] == .string("default"))
            #expect(after.json["transcription.whitelistDomains"]?["value"] == .array([]))
            // An SDK join parameter counts unless the dashboard sets the bitrate.
            #expect(try await server.effectiveConfig(roomId, query: "?maxSendBitrate=hd").json["maxSendBitrate"]?["source"] == .string("sdk"))
            _ = try await server.patchSettings(key.apiKey, #"{"maxSendBitrate":"fullhd"}"#)
            let dashboard = try await server.effectiveConfig(roomId, query: "?maxSendBitrate=hd").json["maxSendBitrate"]
            #expect(dashboard == .object([JSONMember("value", .string("fullhd")), JSONMember("source", .string("dashboard"))]))
            #expect(try await server.effectiveConfig(roomId, query: "?maxSendBitrate=8k").status == 400)
            // The join's other flags are checked as a join checks them.
            #expect(try await server.effectiveConfig(roomId, query: "?micEnabled=maybe").status == 400)
        }
    }
}

@Suite("Domain whitelist")
struct WhitelistTests {
    /// A key whose whitelist is `list` (none when nil), a room of it, and a token.
    private func setUp(_ server: Harness, _ list: String?) async throws -> (key: (apiKey: String, secret: String), roomId: String, token: String) {
        let key = try await server.createKey()
        if let list {
            #expect(try await server.putSettings(key.apiKey, #"{"transcription":{"whitelistDomains":\#(list)}}"#).status == 200)
        }
        let roomId = try #require(try await server.createRoom(token(key)).json["roomId"]?.stringValue)
        return (key, roomId, token(key))
    }

    @Test(
        "server API: the whitelist matrix",
        arguments: [
            (String?.none, String?.some("https://anything.example"), true),
            (#"["https://app.example.com"]"#, "https://app.example.com", true),
            (#"["https://app.example.com"]"#, "https://APP.example.com:443", true),
            (#"["https://app.example.com"]"#, "https://evil.example.com", false),
            (#"["https://app.example.com"]"#, "https://app.example.com:8443", false),
            (#"["https://app.example.com"]"#, "http://app.example.com", false),
            (#"["https://app.example.com:8443"]"#, "https://app.example.com:8443", true),
            (#"["https://app.example.com"]"#, "null", false),
            (#"["https://app.example.com"]"#, nil, true),
        ])
    func serverAPI(list: String?, origin: String?, allowed: Bool) async throws {
        try await withServer { (server: Harness) async throws -> Void in
            let (_, roomId, token) = try await setUp(server, list)
            for uri in ["/v2/rooms/\(roomId)", "/v2/rooms", "/v2/rooms/validate/\(roomId)", "/rtc/validate?roomId=\(roomId)&participantId=p1"] {
                let reply = try await server.fromOrigin(origin, .get, uri, token: token)
                if allowed {
                    #expect(reply.status == 200, "\(uri) from \(origin ?? "no origin"): \(reply.text)")
                } else {
                    #expect(reply.status == 403, "\(uri) from \(origin ?? "no origin")")
                    #expect(reply.code == 4025 && reply.reason == "origin", "\(reply.text)")
                }
            }
            // The WebSocket path answers the same refusal when it is not upgraded.
            let rtc = try await server.fromOrigin(origin, .get, "/rtc?roomId=\(roomId)", token: token)
            #expect(rtc.status == (allowed ? 426 : 403), "\(rtc.text)")
        }
    }

    @Test("an origin refusal comes before the room lookup: a foreign page learns nothing about rooms")
    func beforeRoomLookup() async throws {
        try await withServer { (server: Harness) async throws -> Void in
            let (_, _, token) = try await setUp(server, #"["https://app.example.com"]"#)
            #expect(try await server.fromOrigin("https://evil.example", .get, "/v2/rooms/no-such-room", token: token).code == 4025)
            #expect(try await server.fromOrigin("https://app.example.com", .get, "/v2/rooms/no-such-room", token: token).status == 404)
        }
    }

    @Test("a room-scoped token from a refused origin: the room check comes first (4022), then the origin (4025)")
    func scopedOrder() async throws {
        try await withServer { (server: Harness) async throws -> Void in
            let (key, roomId, _) = try await setUp(server, #"["https://app.example.com"]"#)
            let otherId = try #require(try await server.createRoom(token(key)).json["roomId"]?.stringValue)
            let scoped = token(key, roomId: roomId)
            let evil = "https://evil.example"
            #expect(try await server.fromOrigin(evil, .get, "/v2/rooms/\(otherId)", token: scoped).code == 4022)
            #expect(try await server.fromOrigin(evil, .get, "/v2/rooms/\(roomId)", token: scoped).code == 4025)
            #expect(try await server.fromOrigin(evil, .get, "/v2/rooms/validate/\(otherId)", token: scoped).code == 4022)
            #expect(try await server.fromOrigin(evil, .get, "/v2/rooms", token: scoped).code == 4025)
            #expect(try await server.fromOrigin(evil, .get, "/v2/sessions?roomId=\(otherId)", token: scoped).code == 4022)
            #expect(try await server.fromOrigin(evil, .get, "/v2/sessions", token: scoped).code == 4025)
            var headers = HTTPFields()
            headers[.origin] = evil
            let create = try await server.call(.post, "/v2/rooms", token: scoped, body: #"{"customRoomId":"elsewhere"}"#, headers: headers)
            #expect(create.code == 4022)
            let start = try await server.call(.post, "/v2/recordings/start", token: scoped, body: #"{"roomId":"\#(roomId)"}"#, headers: headers)
            #expect(start.code == 4025)
            // From the listed origin the same token works in its own room.
            #expect(try await server.fromOrigin("https://app.example.com", .get, "/v2/rooms/\(roomId)", token: scoped).status == 200)
        }
    }

    @Test("CORS: allowed origins are named, refused ones are not; preflights are answered")
    func cors() async throws {
        try await withServer { (server: Harness) async throws -> Void in
            let (_, roomId, token) = try await setUp(server, #"["https://app.example.com"]"#)
            let allowed = try await server.fromOrigin("https://app.example.com", .get, "/v2/rooms/\(roomId)", token: token)
            #expect(allowed.headers[.accessControlAllowOrigin] == "https://app.example.com")
            let refused = try await server.fromOrigin("https://evil.example", .get, "/v2/rooms/\(roomId)", token: token)
            #expect(refused.status == 403 && refused.headers[.accessControlAllowOrigin] == nil)
            // A bad token is readable by the page that sent it (it names no key whose list could refuse it).
            let badToken = try await server.fromOrigin("https://app.example.com", .get, "/v2/rooms", token: "x.y.z")
            #expect(badToken.status == 401 && badToken.headers[.accessControlAllowOrigin] == "https://app.example.com")
            let noOrigin = try await server.fromOrigin(nil, .get, "/v2/rooms/\(roomId)", token: token)
            #expect(noOrigin.headers[.accessControlAllowOrigin] == nil)
            var preflight = HTTPFields()
            preflight[.origin] = "https://app.example.com"
            preflight[.accessControlRequestMethod] = "POST"
            let answer = try await server.call(.options, "/v2/rooms", headers: preflight)
            #expect(answer.status == 204)
            #expect(answer.headers[.accessControlAllowOrigin] == "https://app.example.com")
            #expect(answer.headers[.accessControlAllowHeaders]?.contains("Authorization") == true)
        }
    }

    @Test("/get-token and the example endpoints obey the signing key's whitelist")
    func tokenEndpoint() async throws {
        try await withServer(testConfiguration(dev: true)) { (server: Harness) async throws -> Void in
            let keys = try await server.admin(.get, "/admin/v1/api-keys")
            guard case .array(let items)? = keys.json["data"] else { throw CancellationError() }
            let dev = try #require(items.first { $0["name"] == .string("dev") }?["apiKey"]?.stringValue)
            #expect(try await server.fromOrigin("https://elsewhere.example", .get, "/get-token", token: nil).status == 200)
            _ = try await server.putSettings(dev, #"{"transcription":{"whitelistDomains":["http://localhost:3000"]}}"#)
            let refused = try await server.fromOrigin("https://elsewhere.example", .get, "/get-token", token: nil)
            #expect(refused.status == 403 && refused.code == 4025)
            let allowed = try await server.fromOrigin("http://localhost:3000", .get, "/get-token", token: nil)
            #expect(allowed.status == 200 && allowed.headers[.accessControlAllowOrigin] == "http://localhost:3000")
            var preflight = HTTPFields()
            preflight[.origin] = "https://elsewhere.example"
            preflight[.accessControlRequestMethod] = "GET"
            #expect(try await server.call(.options, "/get-token", headers: preflight).status == 403)
            let token = try #require(allowed.json["token"]?.stringValue)
            var headers = HTTPFields()
            headers[.origin] = "https://elsewhere.example"
            let create = try await server.call(.post, "/create-meeting", body: #"{"token":"\#(token)"}"#, headers: headers)
            #expect(create.status == 403 && create.code == 4025)
            headers[.origin] = "http://localhost:3000"
            #expect(try await server.call(.post, "/create-meeting", body: #"{"token":"\#(token)"}"#, headers: headers).status == 200)
        }
    }
}
