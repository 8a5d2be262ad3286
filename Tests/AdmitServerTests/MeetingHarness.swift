import AdmitClient
import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// A live server for meeting tests: the admin API through `Harness`, meetings through `AdmitClient`.
struct MeetingHarness: Sendable {
    let admin: Harness
    let baseURL: URL
    let key: (apiKey: String, secret: String)
    let roomId: String

    /// A client for a token made with the harness's key.
    func client(
        _ permissions: Permissions = [.allowJoin, .allowMod], lifetime: Int = 600, roomId: String? = nil, participantId: String? = nil,
        roles: Roles? = nil, jwtID: String? = nil
    ) -> AdmitClient {
        AdmitClient(
            baseURL: baseURL,
            token: token(key, permissions: permissions, lifetime: lifetime, roomId: roomId, participantId: participantId, roles: roles, jwtID: jwtID))
    }

    /// Joins the harness's room as `participantId`.
    func join(_ participantId: String, _ permissions: Permissions = [.allowJoin, .allowMod], name: String? = nil) async throws -> Reader {
        Reader(try await client(permissions).join(roomId: roomId, .init(participantId: participantId, name: name ?? participantId)))
    }
}

/// Reads one connection's events in order.
final class Reader: @unchecked Sendable {
    let connection: MeetingConnection
    private var iterator: AsyncStream<MeetingConnection.Event>.AsyncIterator

    init(_ connection: MeetingConnection) {
        self.connection = connection
        self.iterator = connection.events.makeAsyncIterator()
    }

    /// The next event, which must be named `name`.
    @discardableResult
    func next(_ name: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> MeetingConnection.Event {
        let event = try #require(await iterator.next(), "connection closed while expecting \(name)", sourceLocation: sourceLocation)
        #expect(event.name == name, "expected \(name), got \(event)", sourceLocation: sourceLocation)
        return event
    }

    /// Skips events until one named `name`.
    @discardableResult
    func skip(to name: String, sourceLocation: SourceLocation = #_sourceLocation) async throws -> MeetingConnection.Event {
        while let event = await iterator.next() {
            if event.name == name { return event }
        }
        Issue.record("connection closed before \(name)", sourceLocation: sourceLocation)
        throw CancellationError()
    }

    /// True when the connection ends with no further event.
    func ended() async -> Bool { await iterator.next() == nil }
}

/// Runs `body` against a live in-memory server with one key and one room.
func withMeeting(
    _ change: @escaping @Sendable (inout AppConfiguration) -> Void = { _ in }, _ body: @escaping @Sendable (MeetingHarness) async throws -> Void
) async throws {
    let app = try await buildApplication(configuration: testConfiguration { change(&$0) })
    try await app.test(.live) { client in
        let admin = Harness(client: client)
        let key = try await admin.createKey()
        let port = try #require(client.port)
        let baseURL = URL(string: "http://127.0.0.1:\(port)")!
        let room = try #require(try await AdmitClient(baseURL: baseURL, token: token(key)).createRoom(customRoomId: "standup")["roomId"]?.stringValue)
        try await body(MeetingHarness(admin: admin, baseURL: baseURL, key: key, roomId: room))
    }
}

extension MeetingHarness {
    /// Polls `/health` until the SFU's state is `wanted` (10 s at most); the last state seen.
    func sfuState(_ wanted: String, within limit: Duration = .seconds(10)) async throws -> JSONValue? {
        let began = ContinuousClock.now
        var state: JSONValue?
        while ContinuousClock.now - began < limit {
            state = try await admin.call(.get, "/health").json["sfu"]?["state"]
            if state == .string(wanted) { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        return state
    }
}
