import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import Testing

@Suite("server API: rooms")
struct RoomsTests {
    @Test("a room is created with the v2 shape and read back by id and custom id")
    func createAndGet() async throws {
        try await withServer(testConfiguration { $0.publicURL = "https://meet.example.com/admit/" }) { server in
            let key = try await server.createKey("Acme backend")
            let created = try await server.createRoom(
                token(key),
                #"{"customRoomId":"standup","webhook":{"endPoint":"https://example.com/hook","events":["session-started"]},"autoCloseConfig":{"type":"session-ends","duration":10}}"#
            )
            #expect(created.status == 200)
            let roomId = try #require(created.json["roomId"]?.stringValue)
            #expect(roomId.wholeMatch(of: /[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}/) != nil)
            #expect(created.json["customRoomId"] == .string("standup"))
            #expect(created.json["userId"] == .string(key.apiKey))
            #expect(created.json["disabled"] == .bool(false))
            // VideoSDK's documented room: absolute links, the key's owner as `user` beside `userId`.
            #expect(created.json["links"]?["get_room"] == .string("https://meet.example.com/admit/v2/rooms/\(roomId)"))
            #expect(created.json["links"]?["get_session"] == .string("https://meet.example.com/admit/v2/sessions/?roomId=\(roomId)"))
            let user = created.json["user"]
            #expect(user?["id"] == .string(key.apiKey) && user?["name"] == .string("Acme backend"))
            #expect(user?["email"] == .null && user?["discontinuedReason"] == .null)
            #expect(created.json["webhook"]?["endPoint"] == .string("https://example.com/hook"))
            #expect(created.json["createdAt"]?.stringValue?.hasSuffix("Z") == true)
            #expect(try await server.room(token(key), roomId).json == created.json)
            #expect(try await server.room(token(key), "standup").json == created.json)
        }
    }

    @Test("reusing a customRoomId returns the existing room")
    func customIdempotence() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let first = try await server.createRoom(token(key), #"{"customRoomId":"daily"}"#)
            let again = try await server.createRoom(token(key), #"{"customRoomId":"daily"}"#)
            #expect(again.json == first.json)
            let other = try await server.createRoom(token(key), #"{"customRoomId":"weekly"}"#)
            #expect(other.json["roomId"] != first.json["roomId"])
            let none = try await server.createRoom(token(key))
            #expect(none.json["customRoomId"] == .null)
        }
    }

    @Test("another key's rooms are invisible")
    func isolation() async throws {
        try await withServer { server in
            let mine = try await server.createKey("mine"), theirs = try await server.createKey("theirs")
            let room = try #require(try await server.createRoom(token(mine)).json["roomId"]?.stringValue)
            #expect(try await server.room(token(theirs), room).status == 404)
            #expect(try await server.rooms(token(theirs)).json["pageInfo"]?["total"] == .number("0"))
        }
    }

    @Test("pagination: defaults, pages, last page, past the end, bad values")
    func pagination() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            var made: [JSONValue] = []
            for index in 0..<5 { made.append(try await server.createRoom(token(key), #"{"customRoomId":"r\#(index)"}"#).json) }
            let all = try await server.rooms(token(key))
            #expect(
                all.json["pageInfo"]
                    == .object([
                        JSONMember("currentPage", .number("1")), JSONMember("lastPage", .number("1")),
                        JSONMember("perPage", .number("20")), JSONMember("total", .number("5")),
                    ]))
            #expect(all.json["data"] == .array(made))
            let second = try await server.rooms(token(key), query: "?page=2&perPage=2")
            #expect(second.json["data"] == .array(Array(made[2..<4])))
            #expect(second.json["pageInfo"]?["lastPage"] == .number("3"))
            #expect(try await server.rooms(token(key), query: "?page=9&perPage=2").json["data"] == .array([]))
            for bad in ["?page=0", "?perPage=0", "?perPage=101", "?page=x", "?page=-1"] {
                let reply = try await server.rooms(token(key), query: bad)
                #expect(reply.status == 400, "\(bad)")
                #expect(reply.error?.contains("must be a whole number") == true)
            }
        }
    }

    @Test("validate answers the room, 400 with 4003 for unknown and 4052 for disabled; POST works too")
    func validate() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            let room = try #require(try await server.createRoom(token(key)).json["roomId"]?.stringValue)
            #expect(try await server.validate(token(key), room).status == 200)
            #expect(try await server.call(.post, "/v2/rooms/validate/\(room)", token: token(key)).status == 200)
            let unknown = try await server.validate(token(key), "zzzz-zzzz-zzzz")
            #expect(unknown.status == 400)
            #expect(unknown.code == 4003)
            let deactivated = try await server.deactivateRoom(token(key), room)
            #expect(deactivated.json["disabled"] == .bool(true))
            let disabled = try await server.validate(token(key), room)
            #expect(disabled.status == 400)
            #expect(disabled.code == 4052)
            #expect(disabled.json["name"] == .string("MEETING_ID_DISABLED"))
        }
    }

    @Test(
        "bad request bodies get 400 naming the problem, oversize bodies 413, never 500",
        arguments: [
            (#"{"customRoomId":5}"#, 400, "`customRoomId` has the wrong type."),
            (#"{"customRoomId":"has space"}"#, 400, "`customRoomId` must be 1 to 128 characters without whitespace."),
            (#"{"webhook":{"events":[]}}"#, 400, "`webhook.endPoint` is required."),
            (#"{"webhook":{"endPoint":"ftp://x"}}"#, 400, "`webhook.endPoint` must be an http or https URL."),
            (#"{"autoCloseConfig":{"type":"never"}}"#, 400, "`autoCloseConfig.type` must be session-ends or session-end-and-deactivate."),
            ("{not json", 400, "The request body is not valid JSON."),
            ("[1,2]", 400, "The request body must be a JSON object."),
            ("OVERSIZE", 413, "The request body is larger than 65536 bytes."),
        ])
    func badBodies(_ body: String, _ status: Int, _ message: String) async throws {
        try await withServer { server in
            let key = try await server.createKey()
            // The oversize body is built here so that a failure does not print 70 kB.
            let sent = body == "OVERSIZE" ? #"{"customRoomId":""# + String(repeating: "a", count: 70_000) + #""}"# : body
            let reply = try await server.createRoom(token(key), sent)
            #expect(reply.status == status)
            #expect(reply.error == message)
            #expect(reply.json["statusCode"] == .number(String(status)))
        }
    }

    @Test("deactivating an unknown room is 404; deactivate needs roomId")
    func deactivateErrors() async throws {
        try await withServer { server in
            let key = try await server.createKey()
            #expect(try await server.deactivateRoom(token(key), "nope-nope-nope").status == 404)
            let missing = try await server.call(.post, "/v2/rooms/deactivate", token: token(key), body: "{}")
            #expect(missing.status == 400)
            #expect(missing.error == "`roomId` is required.")
        }
    }
}
