import AdmitCore
import AdmitToken
import Testing

private func claims(_ permissions: Permissions = .allowJoin, roomId: String? = nil, participantId: String? = nil, roles: Roles? = nil) -> Claims {
    Claims(apiKey: "k", permissions: permissions, lifetime: 600, now: 1_795_000_000, roomId: roomId, participantId: participantId, roles: roles)
}

private let room = RoomFacts(roomId: "abcd-efgh-ijkl", customRoomId: "standup", participantCount: 1, maxParticipants: 2)

private func decide(_ claims: Claims, _ request: JoinRequest, room: RoomFacts? = room) -> Verdict {
    Admission.decide(claims: claims, request: request, room: room) { "generated" }
}

private func refusal(_ verdict: Verdict) -> (code: Int, status: Int)? {
    if case .refused(let error, let status) = verdict { return (error.code.value, status) }
    return nil
}

@Suite("admission")
struct AdmissionTests {
    @Test(
        "each refusal of step 9 has its code and status",
        arguments: [
            ("unknown room", claims(), JoinRequest(roomId: "nope"), RoomFacts?.none, 4003, 404),
            ("disabled room", claims(), JoinRequest(roomId: "abcd-efgh-ijkl"), RoomFacts(roomId: "abcd-efgh-ijkl", disabled: true), 4052, 403),
            ("participant id with a space", claims(), JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "a b"), room, 4004, 400),
            ("crawler-only token", claims(roles: .crawler), JoinRequest(roomId: "abcd-efgh-ijkl"), room, 4024, 403),
            ("token for another room", claims(roomId: "zzzz-zzzz-zzzz"), JoinRequest(roomId: "abcd-efgh-ijkl"), room, 4022, 403),
            (
                "token for another participant", claims(participantId: "alice"), JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "mallory"),
                room, 4023, 403
            ),
            (
                "origin not whitelisted", claims(), JoinRequest(roomId: "abcd-efgh-ijkl", origin: "https://evil.example"),
                RoomFacts(roomId: "abcd-efgh-ijkl", whitelist: ["https://app.example"]), 4025, 403
            ),
            (
                "room full", claims(), JoinRequest(roomId: "abcd-efgh-ijkl"),
                RoomFacts(roomId: "abcd-efgh-ijkl", participantCount: 2, maxParticipants: 2), 4009, 403
            ),
        ] as [(String, Claims, JoinRequest, RoomFacts?, Int, Int)])
    func refusals(_ name: String, _ claims: Claims, _ request: JoinRequest, _ room: RoomFacts?, _ code: Int, _ status: Int) {
        let verdict = decide(claims, request, room: room)
        #expect(refusal(verdict)?.code == code, "\(name)")
        #expect(refusal(verdict)?.status == status, "\(name)")
    }

    @Test("checks run in the contract's order: disabled before role, role before room, room before origin")
    func order() {
        let disabled = RoomFacts(roomId: "abcd-efgh-ijkl", disabled: true, whitelist: ["https://a.example"])
        #expect(
            refusal(decide(claims(roomId: "x", roles: .crawler), JoinRequest(roomId: "abcd-efgh-ijkl", origin: "https://b.example"), room: disabled))?
                .code == 4052)
        #expect(refusal(decide(claims(roomId: "x", roles: .crawler), JoinRequest(roomId: "abcd-efgh-ijkl")))?.code == 4024)
        let guarded = RoomFacts(roomId: "abcd-efgh-ijkl", whitelist: ["https://a.example"])
        #expect(refusal(decide(claims(roomId: "x"), JoinRequest(roomId: "abcd-efgh-ijkl", origin: "https://b.example"), room: guarded))?.code == 4022)
        #expect(
            refusal(decide(claims(), JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "a b", origin: "https://b.example"), room: guarded))?.code
                == 4004)
    }

    @Test("allow_join joins; ask_join and allow_mod alone wait in the lobby; a full room still queues the lobby")
    func verdicts() {
        #expect(decide(claims(.allowJoin), JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "p")) == .join(participantId: "p"))
        #expect(decide(claims(.askJoin), JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "p")) == .lobby(participantId: "p"))
        #expect(decide(claims(.allowMod), JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "p")) == .lobby(participantId: "p"))
        #expect(decide(claims([.allowJoin, .allowMod]), JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "p")) == .join(participantId: "p"))
        let full = RoomFacts(roomId: "abcd-efgh-ijkl", participantCount: 5, maxParticipants: 5)
        #expect(decide(claims(.askJoin), JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "p"), room: full) == .lobby(participantId: "p"))
    }

    @Test("the participant id comes from the query, else the token, else is generated")
    func participantId() {
        #expect(decide(claims(participantId: "tok"), JoinRequest(roomId: "abcd-efgh-ijkl")) == .join(participantId: "tok"))
        #expect(decide(claims(participantId: "tok"), JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "tok")) == .join(participantId: "tok"))
        #expect(decide(claims(), JoinRequest(roomId: "abcd-efgh-ijkl")) == .join(participantId: "generated"))
    }

    @Test("a room-scoped token matches the room by id or custom id")
    func customId() {
        #expect(decide(claims(roomId: "standup"), JoinRequest(roomId: "standup", participantId: "p")) == .join(participantId: "p"))
        #expect(decide(claims(roomId: "abcd-efgh-ijkl"), JoinRequest(roomId: "standup", participantId: "p")) == .join(participantId: "p"))
    }

    @Test(
        "the whitelist matrix",
        arguments: [
            ([], "https://anything.example", true),
            (["https://app.example"], "https://app.example", true),
            (["https://app.example"], "https://APP.example", true),
            (["https://app.example"], "https://app.example:443", true),
            (["https://app.example:8443"], "https://app.example:8443", true),
            (["https://app.example"], "https://other.example", false),
            (["https://app.example"], "https://app.example:8443", false),
            (["https://app.example"], "http://app.example", false),
            (["http://app.example"], "http://app.example:80", true),
            (["https://app.example"], "https://app.example.evil.com", false),
            (["https://app.example"], "null", false),
        ] as [([String], String, Bool)])
    func whitelist(_ list: [String], _ origin: String, _ allowed: Bool) {
        #expect(Whitelist.allows(origin: origin, whitelist: list) == allowed)
    }
}
