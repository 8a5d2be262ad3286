import AdmitServer
import AdmitToken
import Foundation
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

let adminToken = "admin-credential-for-tests"

/// A test configuration: in memory, admin credential set, not dev unless asked.
func testConfiguration(dev: Bool = false, _ change: (inout AppConfiguration) -> Void = { _ in }) -> AppConfiguration {
    var configuration = AppConfiguration()
    configuration.dev = dev
    configuration.adminToken = adminToken
    configuration.port = 0
    change(&configuration)
    return configuration
}

/// A response reduced to what tests look at.
struct Reply {
    var status: Int
    var json: JSONValue
    var text: String
    var headers: HTTPFields

    /// The contract code in an error body.
    var code: Int? { json["code"]?.doubleValue.map { Int($0) } }
    var reason: String? { json["reason"]?.stringValue }
    var error: String? { json["error"]?.stringValue }
}

/// One helper per endpoint over a HummingbirdTesting client.
struct Harness {
    let client: any TestClientProtocol

    func call(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, body: String? = nil, headers extra: HTTPFields = [:]) async throws
        -> Reply
    {
        var headers = extra
        if let token { headers[.authorization] = token }
        if body != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) }) { response in
            let text = String(buffer: response.body)
            return Reply(status: Int(response.status.code), json: (try? JSONValue(parsing: text)) ?? .null, text: text, headers: response.headers)
        }
    }

    func admin(_ method: HTTPRequest.Method, _ uri: String, body: String? = nil) async throws -> Reply {
        try await call(method, uri, token: "Bearer \(adminToken)", body: body)
    }

    // Admin API
    func createKey(_ name: String = "test") async throws -> (apiKey: String, secret: String) {
        let reply = try await admin(.post, "/admin/v1/api-keys", body: #"{"name":"\#(name)"}"#)
        try #require(reply.status == 200, "create key: \(reply.text)")
        return (try #require(reply.json["apiKey"]?.stringValue), try #require(reply.json["secret"]?.stringValue))
    }
    func rotate(_ apiKey: String, grace: Int) async throws -> Reply {
        try await admin(.post, "/admin/v1/api-keys/\(apiKey)/rotate", body: #"{"graceSeconds":\#(grace)}"#)
    }
    func deactivateKey(_ apiKey: String) async throws -> Reply { try await admin(.post, "/admin/v1/api-keys/\(apiKey)/deactivate") }
    func revoke(_ body: String) async throws -> Reply { try await admin(.post, "/admin/v1/revocations", body: body) }

    // Server API
    func createRoom(_ token: String, _ body: String? = nil) async throws -> Reply { try await call(.post, "/v2/rooms", token: token, body: body) }
    func room(_ token: String, _ id: String) async throws -> Reply { try await call(.get, "/v2/rooms/\(id)", token: token) }
    func rooms(_ token: String, query: String = "") async throws -> Reply { try await call(.get, "/v2/rooms\(query)", token: token) }
    func validate(_ token: String, _ id: String) async throws -> Reply { try await call(.get, "/v2/rooms/validate/\(id)", token: token) }
    func deactivateRoom(_ token: String, _ id: String) async throws -> Reply {
        try await call(.post, "/v2/rooms/deactivate", token: token, body: #"{"roomId":"\#(id)"}"#)
    }
}

/// Signs a token for a key made through the admin API.
func token(
    _ key: (apiKey: String, secret: String), permissions: Permissions = .allowJoin, lifetime: Int = 600, now: Double = Date().timeIntervalSince1970,
    roomId: String? = nil, participantId: String? = nil, roles: Roles? = nil, jwtID: String? = nil
) -> String {
    Signer(secret: Secret(key.secret)!).sign(
        Claims(
            apiKey: key.apiKey, permissions: permissions, lifetime: lifetime, now: now, roomId: roomId, participantId: participantId, roles: roles,
            jwtID: jwtID))
}

/// Runs `body` against a fresh in-memory application through the router (no sockets).
@discardableResult
func withServer<Value: Sendable>(
    _ configuration: AppConfiguration = testConfiguration(), mode: TestingSetup = .router, _ body: @escaping @Sendable (Harness) async throws -> Value
) async throws -> Value {
    let app = try await buildApplication(configuration: configuration)
    return try await app.test(mode) { client in try await body(Harness(client: client)) }
}
