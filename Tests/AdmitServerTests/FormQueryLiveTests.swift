import AdmitClient
import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import Testing

@Suite("form-encoded queries on a live server")
struct FormQueryLiveTests {
    @Test("name=Guest+One on /rtc is \"Guest One\"; a Swift client's literal plus arrives as a plus")
    func plusIsSpace() async throws {
        try await LimitsTests.withServer({
            $0.headTimeout = .seconds(5)
            $0.idleTimeout = .seconds(30)
        }) { port, server in
            let path = try await LimitsTests.rtcPath(server, participant: "guest")
            let guest = try await RawWebSocket.open(port: port, path: path + "&name=Guest+One")
            #expect(guest.upgraded)
            let joined = try await blocking { () -> String? in
                guest.timeout(seconds: 3)
                return try guest.read(until: { $0.text.contains("meeting-joined") })?.text
            }
            #expect(joined != nil)
            let token = try #require(try await server.call(.get, "/get-token").json["token"]?.stringValue)
            let room = try #require(URLComponents(string: path)?.queryItems?.first { $0.name == "roomId" }?.value)
            // The Swift client writes a name with a plus; the server reads it back as written.
            let client = AdmitClient(baseURL: URL(string: "http://127.0.0.1:\(port)")!, token: token)
            let other = try await client.join(roomId: room, .init(participantId: "fan", name: "C++ Fan"))
            var iterator = other.events.makeAsyncIterator()
            _ = await iterator.next()
            let sessions = try await client.sessions(roomId: room)
            let names = sessions.first?["participants"].flatMap { value -> [String]? in
                guard case .array(let people) = value else { return nil }
                return people.compactMap { $0["name"]?.stringValue }
            }
            #expect(names == ["Guest One", "C++ Fan"])
            other.close()
        }
    }
}
