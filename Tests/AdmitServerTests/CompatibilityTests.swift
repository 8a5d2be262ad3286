import AdmitClient
import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// The members of a JSON object, by name.
private func names(_ value: JSONValue?) -> Set<String> {
    guard case .object(let members)? = value else { return [] }
    return Set(members.map(\.key))
}

/// The first item of a JSON array.
private func first(_ value: JSONValue?) -> JSONValue? {
    guard case .array(let items)? = value else { return nil }
    return items.first
}

/// VideoSDK's documented answers (docs/reference.md, docs/decisions.md "Answering as VideoSDK
/// documents"): field names and types, not just status codes.
@Suite("VideoSDK shapes (live)", .timeLimit(.minutes(1)))
struct CompatibilityTests {
    @Test("sessions carry links, userId, customRoomId, activeDuration, chatLink and participant _id, in the list, the session and the end")
    func sessionShape() async throws {
        try await withMeeting { m in
            let base = m.baseURL.absoluteString
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let listed = try #require(try await m.api.sessions(roomId: m.roomId).first)
            #expect(
                names(listed) == [
                    "id", "roomId", "customRoomId", "userId", "start", "end", "status", "activeDuration", "chatLink", "links", "participants",
                ])
            #expect(listed["roomId"] == .string(m.roomId) && listed["customRoomId"] == .string("standup"))
            #expect(listed["userId"] == .string(m.key.apiKey))
            #expect(listed["status"] == .string("ongoing") && listed["end"] == .null && listed["chatLink"] == .null)
            #expect((listed["activeDuration"]?.integerValue ?? -1) >= 0)
            #expect(listed["links"]?["get_room"] == .string("\(base)/v2/rooms/\(m.roomId)"))
            #expect(listed["links"]?["get_session"] == .string("\(base)/v2/sessions/?roomId=\(m.roomId)"))
            let participant = try #require(first(listed["participants"]))
            #expect(names(participant) == ["_id", "participantId", "name", "timelog"])
            let recordId = try #require(participant["_id"]?.stringValue)
            #expect(recordId.wholeMatch(of: /[0-9a-f]{24}/) != nil)

            // The same session read alone, and the links followed with the same token.
            let id = try #require(listed["id"]?.stringValue)
            let single = try await m.api.call("GET", "/v2/sessions/\(id)")
            #expect(first(single["participants"])?["_id"] == .string(recordId) && single["userId"] == .string(m.key.apiKey))
            let token = token(m.key, permissions: [.allowJoin, .allowMod])
            let room = try await m.admin.call(.get, "/v2/rooms/\(m.roomId)", token: token)
            #expect(room.json["roomId"] == .string(m.roomId) && room.json["links"]?["get_session"] == listed["links"]?["get_session"])
            let followed = try await m.admin.call(.get, "/v2/sessions/?roomId=\(m.roomId)", token: token)
            #expect(followed.status == 200 && first(followed.json["data"])?["id"] == .string(id))

            try await Task.sleep(for: .milliseconds(1100))
            let ended = try await m.api.endSession(roomId: m.roomId)
            #expect(ended["status"] == .string("ended") && ended["end"]?.stringValue != nil)
            #expect((ended["activeDuration"]?.integerValue ?? 0) >= 1)
            #expect(first(ended["participants"])?["_id"] == .string(recordId) && ended["links"] == listed["links"])
        }
    }

    @Test("recordings: the documented sentences, then start, end and the worker's file in the list; bad files are refused by name")
    func recordingList() async throws {
        try await withMeeting { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let job = try await m.start("recordings")
            let id = try #require(job["id"]?.stringValue)
            #expect(job["start"]?.stringValue?.hasSuffix("Z") == true && job["end"] == .null && job["file"] == nil)
            _ = try await m.claim()
            #expect(try await m.report(id, #"{"status":"started"}"#).status == 200)
            _ = try await m.end("recordings")
            _ = try await m.claim()
            for (bad, field) in [
                (#"{"size":-1}"#, "`file.size`"), (#"{"color":"red"}"#, "`file.color`"), (#"{"fileUrl":"javascript:alert(1)"}"#, "`file.fileUrl`"),
                (#"{"meta":"long"}"#, "`file.meta`"), (#"[1]"#, "`file`"),
            ] {
                let refused = try await m.report(id, #"{"status":"stopped","file":\#(bad)}"#)
                #expect(refused.status == 400 && refused.error?.contains(field) == true, "\(bad): \(refused.text)")
            }
            // A size written as a float is shown as the whole number it is; an `id` sent back is Admit's and ignored.
            let file =
                #"{"meta":{"resolution":{"width":1280,"height":720}},"filePath":"rooms/a/rec.mp4","size":1.048576e6,"type":"video/mp4","fileUrl":"https://files.example/rec.mp4","id":"mine"}"#
            #expect(try await m.report(id, #"{"status":"stopped","file":\#(file)}"#).status == 200)
            let stopped = try #require(try await m.api.jobs("recordings", roomId: m.roomId).first)
            #expect(stopped["end"]?.stringValue?.hasSuffix("Z") == true && stopped["status"] == .string("stopped"))
            #expect(names(stopped["file"]) == ["meta", "filePath", "size", "type", "fileUrl", "id"])
            #expect(stopped["file"]?["size"] == .number("1048576") && stopped["file"]?["meta"]?["resolution"]?["width"]?.integerValue == 1280)
            #expect(stopped["file"]?["id"] == .string("\(id)-file") && stopped["fileUrl"] == .string("https://files.example/rec.mp4"))

            let output = JSONValue.object([JSONMember("url", .string("rtmp://live.example/app")), JSONMember("streamKey", .string("k"))])
            let live = try await m.start("livestreams", [JSONMember("outputs", .array([output]))])
            #expect(live["start"]?.stringValue != nil && live["end"] == .null)
            #expect(try await m.end("livestreams")["end"]?.stringValue != nil)  // never claimed: stopped at once
        }
    }

    @Test("HLS start answers its stream URLs; /hls/:id redirects to the worker's playlist while the stream runs")
    func hlsStart() async throws {
        try await withMeeting { m in
            let base = m.baseURL.absoluteString
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let answer = try await m.api.startJob("hls", roomId: m.roomId)
            #expect(names(answer) == ["sessionId", "start", "roomId", "links", "downstreamUrl", "playbackHlsUrl", "livestreamUrl", "id"])
            let id = try #require(answer["id"]?.stringValue)
            #expect(answer["roomId"] == .string(m.roomId) && answer["sessionId"]?.stringValue != nil && answer["start"]?.stringValue != nil)
            #expect(answer["playbackHlsUrl"] == .string("\(base)/hls/\(id)/index.m3u8") && answer["downstreamUrl"] == answer["playbackHlsUrl"])
            #expect(answer["livestreamUrl"] == .string("\(base)/hls/\(id)/live.m3u8"))
            #expect(answer["links"]?["get_room"] == .string("\(base)/v2/rooms/\(m.roomId)"))

            // Nothing to play until a worker says where; one answer for every stream that is not playing.
            let unknown = try await m.admin.call(.get, "/hls/\(id)/index.m3u8")
            #expect(unknown.status == 404)
            for path in [
                "/hls/nope/index.m3u8", "/hls/\(id.uppercased())/index.m3u8", "/hls/\(id)/other.m3u8", "/hls/000000000000000000000000/index.m3u8",
            ] {
                let reply = try await m.admin.call(.get, path)
                #expect(reply.status == 404 && reply.error == unknown.error, "\(path)")
            }
            // A worker sees what was reported (nothing yet), not Admit's own URLs.
            let claimed = try await m.claim()
            #expect(claimed.json["playbackHlsUrl"] == .null && claimed.json["livestreamUrl"] == .null && claimed.json["downstreamUrl"] == nil)
            // Admit's own playback route, however it is spelt, would redirect to itself.
            let own = m.baseURL.absoluteString.replacingOccurrences(of: "http://", with: "HTTP://")
            for bad in [
                "ftp://cdn.example/x", "http:///no-host", "https://cdn.example/a b", "\(own)/HLS/\(id)/index.m3u8",
                "\(m.baseURL.absoluteString)/hls/\(id)/live.m3u8",
            ] {
                let refused = try await m.report(id, #"{"status":"started","playbackHlsUrl":"\#(bad)"}"#)
                #expect(refused.status == 400, "\(bad): \(refused.text)")
            }
            let playlist = "https://cdn.example/hls/\(id)/index.m3u8"
            let live = "https://cdn.example/hls/\(id)/ll.m3u8"
            #expect(try await m.report(id, #"{"status":"started","playbackHlsUrl":"\#(playlist)"}"#).status == 200)
            for path in ["index.m3u8", "live.m3u8"] {  // live falls back to the playback playlist
                let redirect = try await m.admin.call(.get, "/hls/\(id)/\(path)")
                #expect(redirect.status == 307 && redirect.headers[.location] == playlist, "\(path)")
            }
            #expect(try await m.report(id, #"{"status":"playable","livestreamUrl":"\#(live)"}"#).status == 200)
            #expect(try await m.admin.call(.get, "/hls/\(id)/live.m3u8").headers[.location] == live)
            let listed = try #require(try await m.api.jobs("hls", roomId: m.roomId).first)
            #expect(listed["playbackHlsUrl"] == .string(playlist) && listed["downstreamUrl"] == .string(playlist))
            #expect(listed["livestreamUrl"] == .string(live))

            #expect(try await m.end("hls")["status"] == .string("stopping"))
            _ = try await m.claim()
            #expect(try await m.report(id, #"{"status":"stopped"}"#).status == 200)
            #expect(try await m.admin.call(.get, "/hls/\(id)/index.m3u8").status == 404)
        }
    }

    @Test("SDK preflights run the join checks: data for a good join (JSON or form), the error body otherwise")
    func preflights() async throws {
        try await withMeeting { m in
            let port = try #require(m.baseURL.port)
            let good = token(m.key, permissions: [.allowJoin])
            let json = try await m.admin.call(.post, "/infra/v1/meetings/init-config", token: good, body: #"{"roomId":"\#(m.roomId)"}"#)
            #expect(json.status == 200)
            #expect(json.json["data"]?["baseUrl"] == .string("127.0.0.1:\(port)"))
            #expect(json.json["data"]?["signalingUrl"] == .string("ws://127.0.0.1:\(port)/rtc"))
            #expect(json.json["data"]?["iceServers"] == .array([]) && json.json["data"]?["roomId"] == .string(m.roomId))
            #expect(json.json["data"]?["admission"] == .string("join"))

            // The Flutter SDK posts a form; the custom room id names the room too.
            let form = try await m.admin.call(
                .post, "/infra/v1/meetings/sdk-init-config", token: good, body: "roomId=standup&participantId=ann",
                headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(form.status == 200 && form.json["data"]?["roomId"] == .string(m.roomId) && form.json["data"]?["participantId"] == .string("ann"))
            // JSON labelled as a form (curl -d, Python's urllib) is read as JSON.
            let labelled = try await m.admin.call(
                .post, "/infra/v1/meetings/init-config", token: good, body: #"{"roomId":"standup"}"#,
                headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(labelled.status == 200 && labelled.json["data"]?["roomId"] == .string(m.roomId))

            let refusals: [(String, String?, String, Int)] = [
                ("no token", nil, #"{"roomId":"\#(m.roomId)"}"#, 4002),
                ("bad signature", token((m.key.apiKey, String(repeating: "0", count: 64))), #"{"roomId":"\#(m.roomId)"}"#, 4002),
                ("unknown room", good, #"{"roomId":"zzzz-zzzz-zzzz"}"#, 4003),
                ("another room's token", token(m.key, roomId: "elsewhere"), #"{"roomId":"\#(m.roomId)"}"#, 4022),
            ]
            for (what, token, body, code) in refusals {
                let refused = try await m.admin.call(.post, "/infra/v1/meetings/server-init-config", token: token, body: body)
                #expect(refused.code == code && refused.status >= 400 && refused.json["data"] == nil, "\(what): \(refused.text)")
                #expect(refused.json["statusCode"]?.integerValue == refused.status && refused.error != nil, "\(what)")
            }
            #expect(try await m.admin.call(.post, "/infra/v1/meetings/init-config", token: good, body: #"{"roomId":7}"#).status == 400)
            let long = String(repeating: "p", count: 257)
            let tooLong = try await m.admin.call(
                .post, "/infra/v1/meetings/init-config", token: good, body: #"{"roomId":"\#(m.roomId)","participantId":"\#(long)"}"#)
            #expect(tooLong.status == 400 && tooLong.error?.contains("`participantId`") == true)

            // The rest of /rtc's checks: the crawler role, the key's whitelist, a deactivated room.
            let crawler = try await m.admin.call(
                .post, "/infra/v1/meetings/init-config", token: token(m.key, roles: [.crawler]), body: #"{"roomId":"\#(m.roomId)"}"#)
            #expect(crawler.code == 4024)
            try await m.settings(#"{"transcription":{"whitelistDomains":["https://app.example.com"]}}"#)
            let evil = try await m.admin.call(
                .post, "/infra/v1/meetings/init-config", token: good, body: #"{"roomId":"\#(m.roomId)"}"#, headers: [.origin: "https://evil.example"])
            #expect(evil.code == 4025)
            let app = try await m.admin.call(
                .post, "/infra/v1/meetings/init-config", token: good, body: #"{"roomId":"\#(m.roomId)"}"#,
                headers: [.origin: "https://app.example.com"])
            #expect(app.status == 200)
            try await m.settings("{}")

            // The prebuilt UI reads meetingId, or error and statusCode.
            let prebuilt = try await m.admin.call(.post, "/v1/prebuilt/meetings/\(m.roomId)", token: good, body: #"{"region":"sg001"}"#)
            #expect(prebuilt.status == 200 && prebuilt.json["meetingId"] == .string(m.roomId) && prebuilt.json["admission"] == .string("join"))
            let lobby = try await m.admin.call(.post, "/v1/prebuilt/meetings/standup", token: token(m.key, permissions: [.askJoin]))
            #expect(lobby.json["meetingId"] == .string(m.roomId) && lobby.json["admission"] == .string("lobby"))
            let missing = try await m.admin.call(.post, "/v1/prebuilt/meetings/zzzz-zzzz-zzzz", token: good)
            #expect(missing.code == 4003 && missing.json["statusCode"]?.integerValue == missing.status && missing.error != nil)

            // Last: a deactivated room.
            _ = try await m.api.call("POST", "/v2/rooms/deactivate", body: .object([JSONMember("roomId", .string(m.roomId))]))
            let disabled = try await m.admin.call(.post, "/infra/v1/meetings/init-config", token: good, body: #"{"roomId":"\#(m.roomId)"}"#)
            #expect(disabled.code == 4052)
        }
    }

    @Test("--public-url sets every link; a URL that cannot be one is refused at start")
    func publicURL() async throws {
        // The scheme and host are read in any case and written in lower case.
        try await withMeeting({ $0.publicURL = "HTTPS://Meet.Example.com/admit/" }) { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let session = try #require(try await m.api.sessions(roomId: m.roomId).first)
            #expect(session["links"]?["get_room"] == .string("https://meet.example.com/admit/v2/rooms/\(m.roomId)"))
            let answer = try await m.api.startJob("hls", roomId: m.roomId)
            #expect(answer["playbackHlsUrl"]?.stringValue?.hasPrefix("https://meet.example.com/admit/hls/") == true)
            let preflight = try await m.admin.call(
                .post, "/infra/v1/meetings/init-config", token: token(m.key), body: #"{"roomId":"\#(m.roomId)"}"#)
            #expect(preflight.json["data"]?["baseUrl"] == .string("meet.example.com/admit"))
            #expect(preflight.json["data"]?["signalingUrl"] == .string("wss://meet.example.com/admit/rtc"))
        }
        for bad in ["meet.example.com", "ftp://meet.example.com", "https://meet.example.com/?a=1", "https://user:pw@meet.example.com"] {
            await #expect(throws: ConfigurationError.self, "\(bad)") {
                _ = try await buildApplication(configuration: testConfiguration { $0.publicURL = bad })
            }
        }
    }
}
