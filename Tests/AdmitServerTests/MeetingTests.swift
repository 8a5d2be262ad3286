import AdmitClient
import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import HummingbirdWSClient
import Logging
import Testing

@Suite("meetings over /rtc (live, through AdmitClient)", .timeLimit(.minutes(1)))
struct MeetingLiveTests {
    @Test("host joins, guest asks, host allows: both see each other")
    func allow() async throws {
        try await withMeeting { m in
            let host = try await m.join("host", name: "Host")
            let joined = try await host.next("meeting-joined")
            #expect(joined.body["participants"] == .array([]))
            #expect(joined.body["config"]?["maxSendBitrate"]?["value"] == .string("auto"))
            let guest = try await m.join("guest", .askJoin, name: "Guest")
            #expect(try await host.next("entry-requested").participantId == "guest")
            try await host.connection.respondEntry(participantId: "guest", allowed: true)
            #expect(try await host.next("entry-responded").body["decision"] == .string("allowed"))
            #expect(try await guest.next("entry-responded").body["decision"] == .string("allowed"))
            let guestJoined = try await guest.next("meeting-joined")
            #expect(guestJoined.body["participants"]?.jsonText.contains(#""participantId":"host""#) == true)
            #expect(try await host.next("participant-joined").participantId == "guest")
        }
    }

    @Test("host denies: the guest hears it and is closed")
    func deny() async throws {
        try await withMeeting { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let guest = try await m.join("guest", .askJoin)
            try await host.next("entry-requested")
            try await host.connection.respondEntry(participantId: "guest", allowed: false)
            #expect(try await guest.next("entry-responded").body["decision"] == .string("denied"))
            #expect(await guest.ended())
        }
    }

    @Test("the lobby times out into a denial")
    func lobbyTimeout() async throws {
        try await withMeeting({ $0.lobbyTimeout = 0.5 }) { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let guest = try await m.join("guest", .askJoin)
            #expect(try await guest.next("entry-responded").body["decision"] == .string("denied"))
            #expect(await guest.ended())
            try await host.next("entry-requested")
            #expect(try await host.next("entry-responded").body["decision"] == .string("denied"))
        }
    }

    @Test("two hosts both see the request; only the first answer counts (4059 for the second)")
    func twoHosts() async throws {
        try await withMeeting { m in
            // `join` returns once the socket is open; the first host is in before the second comes.
            let h1 = try await m.join("h1")
            try await h1.next("meeting-joined")
            let h2 = try await m.join("h2")
            try await h2.next("meeting-joined")
            try await h1.next("participant-joined")
            _ = try await m.join("guest", .askJoin)
            try await h1.next("entry-requested")
            try await h2.next("entry-requested")
            try await h2.connection.respondEntry(participantId: "guest", allowed: true)
            await #expect(throws: MeetingConnection.RequestFailed(code: 4059, name: "RESPOND_ENTRY_FAILED")) {
                try await h1.connection.respondEntry(participantId: "guest", allowed: false)
            }
        }
    }

    @Test("a guest who reconnects while waiting replaces the old connection and is still asked for")
    func reconnectWhileWaiting() async throws {
        try await withMeeting { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let first = try await m.join("guest", .askJoin)
            try await host.next("entry-requested")
            let second = try await m.join("guest", .askJoin)
            #expect(try await first.next("meeting-left").reasonCode == 1011)
            try await host.next("entry-requested")
            try await host.connection.respondEntry(participantId: "guest", allowed: true)
            try await second.next("entry-responded")
            try await second.next("meeting-joined")
        }
    }

    @Test("a guest cannot take a joined participant's id to reach the lobby or push them out (409, 4005)")
    func lobbyIdTaken() async throws {
        try await withMeeting { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let error = await #expect(throws: AdmitClient.Failure.self) {
                try await m.client(.askJoin).join(roomId: m.roomId, .init(participantId: "host"))
            }
            #expect(error?.status == 409)
            #expect(error?.code == 4005)
        }
    }

    @Test("a moderator disables a mic at once, and asks for a webcam that the target accepts or rejects")
    func moderation() async throws {
        try await withMeeting { m in
            let mod = try await m.join("mod")
            try await mod.next("meeting-joined")
            let pat = try await m.join("pat", .allowJoin)
            try await pat.next("meeting-joined")
            try await mod.next("participant-joined")
            try await pat.connection.setMic(true)
            #expect(try await mod.next("mic-changed").body["enabled"] == .bool(true))
            try await pat.next("mic-changed")
            try await mod.connection.disableMic(participantId: "pat")
            #expect(try await pat.next("mic-changed").body["enabled"] == .bool(false))
            try await mod.next("mic-changed")
            try await mod.connection.enableWebcam(participantId: "pat")
            #expect(try await pat.next("webcam-requested").participantId == "mod")
            try await pat.connection.respondWebcamRequest(accept: true)
            #expect(try await mod.next("webcam-changed").body["enabled"] == .bool(true))
            try await pat.next("webcam-changed")
            try await mod.connection.enableMic(participantId: "pat")
            try await pat.next("mic-requested")
            try await pat.connection.respondMicRequest(accept: false)
            await #expect(throws: MeetingConnection.RequestFailed.self) { try await pat.connection.respondMicRequest(accept: true) }
        }
    }

    @Test("a participant without allow_mod is refused each moderator action with its code")
    func nonModerator() async throws {
        try await withMeeting { m in
            let mod = try await m.join("mod")
            try await mod.next("meeting-joined")
            let pat = try await m.join("pat", .allowJoin)
            try await pat.next("meeting-joined")
            let attempts: [(Int, @Sendable () async throws -> Void)] = [
                (4067, { try await pat.connection.enableMic(participantId: "mod") }),
                (4068, { try await pat.connection.disableMic(participantId: "mod") }),
                (4069, { try await pat.connection.enableWebcam(participantId: "mod") }),
                (4070, { try await pat.connection.disableWebcam(participantId: "mod") }),
                (4066, { try await pat.connection.removeParticipant("mod") }),
                (3057, { try await pat.connection.end() }),
            ]
            for (code, attempt) in attempts {
                let error = await #expect(throws: MeetingConnection.RequestFailed.self) { try await attempt() }
                #expect(error?.code == code)
            }
        }
    }

    @Test("a token that expires a second after joining changes nothing in the meeting; a new join with it is refused")
    func expiryAfterJoin() async throws {
        try await withMeeting({ $0.leeway = 0 }) { m in
            // `iat` is whole seconds, so a 3 s lifetime leaves at least 2 s to join on a busy machine.
            let client = m.client(lifetime: 3)
            let host = Reader(try await client.join(roomId: m.roomId, .init(participantId: "host")))
            try await host.next("meeting-joined")
            try await Task.sleep(for: .seconds(4))
            try await host.connection.setMic(true)
            #expect(try await host.next("mic-changed").body["enabled"] == .bool(true))
            let error = await #expect(throws: AdmitClient.Failure.self) { try await client.join(roomId: m.roomId) }
            #expect(error?.reason == "expired")
        }
    }

    @Test(
        "refusals come back the same on /rtc/validate and on the upgrade",
        arguments: [
            ("crawler-only token", 4024),
            ("token for another room", 4022),
            ("token for another participant", 4023),
        ])
    func refusals(_ name: String, _ code: Int) async throws {
        try await withMeeting { m in
            let client: AdmitClient =
                switch code {
                case 4024: m.client(roles: .crawler)
                case 4022: m.client(roomId: "zzzz-zzzz-zzzz")
                default: m.client(participantId: "alice")
                }
            let options = AdmitClient.JoinOptions(participantId: code == 4023 ? "mallory" : nil)
            let validate = await #expect(throws: AdmitClient.Failure.self) { try await client.validateJoin(roomId: m.roomId, options) }
            #expect(validate?.code == code)
            #expect(validate?.status == 403)
            // The upgrade itself is refused: a plain GET /rtc answers the same body, and a WebSocket client cannot connect.
            let plain = await #expect(throws: AdmitClient.Failure.self) {
                try await client.call("GET", "/rtc?roomId=\(m.roomId)\(code == 4023 ? "&participantId=mallory" : "")")
            }
            #expect(plain?.body == validate?.body)
            var headers = HTTPFields()
            headers[.authorization] = client.token
            let url =
                m.baseURL.absoluteString.replacingOccurrences(of: "http", with: "ws")
                + "/rtc?roomId=\(m.roomId)\(code == 4023 ? "&participantId=mallory" : "")"
            await #expect(throws: (any Error).self) {
                try await WebSocketClient.connect(url: url, configuration: .init(additionalHeaders: headers), logger: Logger(label: "t")) { _, _, _ in
                    Issue.record("the upgrade should have been refused")
                }
            }
        }
    }

    @Test("a second connection with the same participant id replaces the first (1011)")
    func duplicate() async throws {
        try await withMeeting { m in
            let first = try await m.join("p")
            try await first.next("meeting-joined")
            let second = try await m.join("p")
            #expect(try await first.next("meeting-left").reasonCode == 1011)
            #expect(await first.ended())
            try await second.next("meeting-joined")
        }
    }

    @Test("remove (1002), leave (1101) and end (1006) over /rtc")
    func leaving() async throws {
        try await withMeeting { m in
            let mod = try await m.join("mod")
            try await mod.next("meeting-joined")
            let a = try await m.join("a", .allowJoin), b = try await m.join("b", .allowJoin)
            try await a.next("meeting-joined")
            try await b.next("meeting-joined")
            try await mod.connection.removeParticipant("a")
            #expect(try await a.skip(to: "meeting-left").reasonCode == 1002)
            #expect(try await mod.skip(to: "participant-left").reasonCode == 1002)
            try await b.connection.leave()
            #expect(try await b.skip(to: "participant-left").reasonCode == 1002)
            #expect(try await b.next("meeting-left").reasonCode == 1101)
            #expect(try await mod.skip(to: "participant-left").reasonCode == 1101)
            try await mod.connection.end()
            #expect(try await mod.next("meeting-left").reasonCode == 1006)
        }
    }

    @Test("sessions: recorded with time logs; the server API ends a meeting (1009) and removes a participant (1010)")
    func sessions() async throws {
        try await withMeeting { m in
            let api = m.client()
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let guest = try await m.join("guest", .allowJoin)
            try await guest.next("meeting-joined")
            let live = try #require(try await api.sessions(roomId: m.roomId).first)
            #expect(live["status"] == .string("ongoing"))
            #expect(live["end"] == .null)
            _ = try await api.removeParticipant(roomId: "standup", participantId: "guest")
            #expect(try await guest.next("meeting-left").reasonCode == 1010)
            let ended = try await api.endSession(roomId: m.roomId)
            #expect(ended["status"] == .string("ended"))
            #expect(try await host.skip(to: "meeting-left").reasonCode == 1009)
            let stored = try #require(try await api.sessions(roomId: m.roomId).first)
            #expect(stored["status"] == .string("ended"))
            guard case .array(let people)? = stored["participants"] else { Issue.record("no participants"); return }
            #expect(people.count == 2)
            #expect(people.allSatisfy { $0["timelog"]?.jsonText.contains(#""end":null"#) == false })
            let again = await #expect(throws: AdmitClient.Failure.self) { try await api.endSession(roomId: m.roomId) }
            #expect(again?.status == 409)
        }
    }

    @Test("a revocation removes a live participant (1010) who cannot come back")
    func revocation() async throws {
        try await withMeeting { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let guest = try await m.join("guest", .allowJoin)
            try await guest.next("meeting-joined")
            #expect(try await m.admin.revoke(#"{"apiKey":"\#(m.key.apiKey)","participantId":"guest"}"#).status == 200)
            #expect(try await guest.next("meeting-left").reasonCode == 1010)
            let back = await #expect(throws: AdmitClient.Failure.self) {
                try await m.client(.allowJoin).join(roomId: m.roomId, .init(participantId: "guest"))
            }
            #expect(back?.reason == "revoked")
            #expect(try await m.client(.allowJoin).validateJoin(roomId: m.roomId, .init(participantId: "other"))["admission"] == .string("join"))
        }
    }

    @Test("a full room refuses with 4009; a disabled room with 4052; an unknown room with 4003")
    func roomState() async throws {
        try await withMeeting({ $0.maxParticipants = 1 }) { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let full = await #expect(throws: AdmitClient.Failure.self) { try await m.client().validateJoin(roomId: m.roomId) }
            #expect(full?.code == 4009)
            let unknown = await #expect(throws: AdmitClient.Failure.self) { try await m.client().validateJoin(roomId: "nope-nope-nope") }
            #expect(unknown?.code == 4003)
            #expect(unknown?.status == 404)
            _ = try await m.client().call("POST", "/v2/rooms/deactivate", body: .object([JSONMember("roomId", .string(m.roomId))]))
            let disabled = await #expect(throws: AdmitClient.Failure.self) { try await m.client().validateJoin(roomId: m.roomId) }
            #expect(disabled?.code == 4052)
        }
    }
}
