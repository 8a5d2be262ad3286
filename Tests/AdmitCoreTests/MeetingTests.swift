import AdmitCore
import AdmitToken
import Foundation
import Testing

private let t0 = Date(timeIntervalSince1970: 1_795_000_000)
private func at(_ seconds: Double) -> Date { t0.addingTimeInterval(seconds) }

private func claims(_ permissions: Permissions, jti: String? = nil) -> Claims {
    Claims(apiKey: "k", permissions: permissions, lifetime: 600, now: 1_795_000_000, jwtID: jti)
}

private let host: Claims = claims([.allowJoin, .allowMod])
private let guest: Claims = claims(.askJoin)
private let member: Claims = claims(.allowJoin)

/// Sessions numbered s1, s2, ... so tables can name them.
private final class Counter: @unchecked Sendable {
    var next = 0
}

private func meeting(timeout: TimeInterval = 300) -> Meeting {
    let counter = Counter()
    return Meeting(roomId: "r", lobbyTimeout: timeout) {
        counter.next += 1
        return "s\(counter.next)"
    }
}

/// Only the sends and closes, which most tables compare.
private func sends(_ actions: [MeetingAction]) -> [MeetingAction] {
    actions.filter {
        switch $0 {
        case .sessionChanged, .startLobbyTimer: false
        default: true
        }
    }
}

@Suite("meeting: joining and the lobby")
struct MeetingLobbyTests {
    @Test("a host joins an empty meeting: meeting-joined with nobody else, and a session starts")
    func hostJoins() {
        var m = meeting()
        let actions = m.join(1, participantId: "host", name: "Host", claims: host, now: t0)
        #expect(sends(actions) == [.send(1, .meetingJoined(participantId: "host", participants: [], permissions: [.allowJoin, .allowMod]))])
        guard case .sessionChanged(let session, let notices)? = actions.last else { Issue.record("no session"); return }
        #expect(notices == [.started, .entered(participantId: "host", name: "Host")])
        #expect(session.id == "s1")
        #expect(session.start == t0)
        #expect(session.attendees.map(\.participantId) == ["host"])
    }

    @Test("a guest waits: hosts are asked, a timer is armed; allowed: both hear it and the guest joins")
    func guestAllowed() {
        var m = meeting()
        _ = m.join(1, participantId: "host", name: "Host", claims: host, now: t0)
        let waiting = m.wait(2, participantId: "guest", name: "Guest", claims: guest, now: at(1))
        #expect(waiting == [.startLobbyTimer(2, deadline: at(301)), .send(1, .entryRequested(participantId: "guest", name: "Guest"))])
        #expect(m.participantCount == 1)
        let allowed = m.handle(.respondEntry(participantId: "guest", decision: .allowed), id: 7, from: 1, maxParticipants: 10, now: at(2))
        #expect(
            sends(allowed) == [
                .reply(1, id: 7, error: nil),
                .send(1, .entryResponded(participantId: "guest", decision: .allowed)),
                .send(2, .entryResponded(participantId: "guest", decision: .allowed)),
                .send(
                    2,
                    .meetingJoined(
                        participantId: "guest", participants: [ParticipantInfo(participantId: "host", name: "Host", mic: false, webcam: false)],
                        permissions: .askJoin)),
                .send(1, .participantJoined(participantId: "guest", name: "Guest")),
            ])
        #expect(m.participantCount == 2)
    }

    @Test("denied: both hear it and the guest is closed")
    func guestDenied() {
        var m = meeting()
        _ = m.join(1, participantId: "host", name: "Host", claims: host, now: t0)
        _ = m.wait(2, participantId: "guest", name: "Guest", claims: guest, now: t0)
        let denied = m.handle(.respondEntry(participantId: "guest", decision: .denied), id: 1, from: 1, maxParticipants: 10, now: t0)
        #expect(
            denied == [
                .reply(1, id: 1, error: nil),
                .send(1, .entryResponded(participantId: "guest", decision: .denied)),
                .send(2, .entryResponded(participantId: "guest", decision: .denied)),
                .close(2),
            ])
        #expect(m.waitingIds.isEmpty)
    }

    @Test("the lobby timer denies at the deadline, not before: one that fires early is armed again")
    func timeout() {
        var m = meeting(timeout: 60)
        _ = m.join(1, participantId: "host", name: "Host", claims: host, now: t0)
        _ = m.wait(2, participantId: "guest", name: "Guest", claims: guest, now: t0)
        #expect(m.lobbyTimeout(2, now: at(59.999)) == [.startLobbyTimer(2, deadline: at(60))])
        #expect(
            m.lobbyTimeout(2, now: at(60)) == [
                .send(1, .entryResponded(participantId: "guest", decision: .denied)),
                .send(2, .entryResponded(participantId: "guest", decision: .denied)),
                .close(2),
            ])
    }

    @Test("two hosts both see the request; the first answer wins and the second gets 4059")
    func firstAnswerWins() {
        var m = meeting()
        _ = m.join(1, participantId: "h1", name: "H1", claims: host, now: t0)
        _ = m.join(2, participantId: "h2", name: "H2", claims: host, now: t0)
        let waiting = m.wait(3, participantId: "guest", name: "Guest", claims: guest, now: t0)
        #expect(
            sends(waiting) == [
                .send(1, .entryRequested(participantId: "guest", name: "Guest")), .send(2, .entryRequested(participantId: "guest", name: "Guest")),
            ])
        _ = m.handle(.respondEntry(participantId: "guest", decision: .denied), id: 1, from: 2, maxParticipants: 10, now: t0)
        #expect(
            m.handle(.respondEntry(participantId: "guest", decision: .allowed), id: 9, from: 1, maxParticipants: 10, now: t0) == [
                .reply(1, id: 9, error: .respondEntryFailed)
            ])
    }

    @Test("a host who arrives later gets entry-requested for everyone still waiting")
    func lateHost() {
        var m = meeting()
        _ = m.wait(1, participantId: "g1", name: "G1", claims: guest, now: t0)
        _ = m.wait(2, participantId: "g2", name: "G2", claims: guest, now: t0)
        let arrival = sends(m.join(3, participantId: "host", name: "Host", claims: host, now: t0))
        #expect(arrival.contains(.send(3, .entryRequested(participantId: "g1", name: "G1"))))
        #expect(arrival.contains(.send(3, .entryRequested(participantId: "g2", name: "G2"))))
        let plain = sends(m.join(4, participantId: "m", name: "M", claims: claims(.allowMod), now: t0))
        #expect(!plain.contains { if case .send(4, .entryRequested) = $0 { true } else { false } })
    }

    @Test("a guest who reconnects while waiting replaces the old connection and keeps the deadline")
    func reconnectWhileWaiting() {
        var m = meeting(timeout: 60)
        _ = m.join(1, participantId: "host", name: "Host", claims: host, now: t0)
        _ = m.wait(2, participantId: "guest", name: "Guest", claims: guest, now: t0)
        let again = m.wait(3, participantId: "guest", name: "Guest", claims: guest, now: at(30))
        #expect(again.prefix(3) == [.send(2, .meetingLeft(reason: .duplicateParticipant)), .close(2), .startLobbyTimer(3, deadline: at(60))])
        #expect(m.waitingIds == ["guest"])
        #expect(m.lobbyTimeout(3, now: at(60)).contains(.close(3)))
    }

    @Test("a lobby entrant cannot take the id of someone in the meeting")
    func lobbyCannotTakeJoinedId() {
        var m = meeting()
        _ = m.join(1, participantId: "host", name: "Host", claims: host, now: t0)
        #expect(!m.lobbyMayUse("host"))
        #expect(m.lobbyMayUse("guest"))
    }

    @Test("a waiting participant's requests are refused with each method's code; leave works")
    func waitingRequests() {
        var m = meeting()
        _ = m.join(1, participantId: "host", name: "Host", claims: host, now: t0)
        _ = m.wait(2, participantId: "guest", name: "Guest", claims: claims([.allowMod]), now: t0)
        #expect(
            m.handle(.disableMic(participantId: "host"), id: 1, from: 2, maxParticipants: 10, now: t0) == [
                .reply(2, id: 1, error: .disableParticipantMicFailed)
            ])
        #expect(
            m.handle(.removeParticipant(participantId: "host"), id: 2, from: 2, maxParticipants: 10, now: t0) == [
                .reply(2, id: 2, error: .removeParticipantFailed)
            ])
        #expect(m.handle(.end, id: 3, from: 2, maxParticipants: 10, now: t0) == [.reply(2, id: 3, error: .endMeetingFailed)])
        #expect(
            m.handle(.leave, id: 4, from: 2, maxParticipants: 10, now: t0) == [
                .reply(2, id: 4, error: nil), .send(2, .meetingLeft(reason: .manualLeave)), .close(2),
            ])
    }

    @Test("a full meeting refuses to admit from the lobby (4059) and the guest keeps waiting")
    func fullOnAdmit() {
        var m = meeting()
        _ = m.join(1, participantId: "host", name: "Host", claims: host, now: t0)
        _ = m.wait(2, participantId: "guest", name: "Guest", claims: guest, now: t0)
        #expect(
            m.handle(.respondEntry(participantId: "guest", decision: .allowed), id: 1, from: 1, maxParticipants: 1, now: t0) == [
                .reply(1, id: 1, error: .respondEntryFailed)
            ])
        #expect(m.waitingIds == ["guest"])
    }
}

@Suite("meeting: moderation, leaving, sessions")
struct MeetingModerationTests {
    private func twoInMeeting() -> Meeting {
        var m = meeting()
        _ = m.join(1, participantId: "mod", name: "Mod", claims: host, now: t0)
        _ = m.join(2, participantId: "pat", name: "Pat", claims: member, now: t0)
        return m
    }

    @Test("a moderator disables a mic at once: everyone sees mic-changed")
    func disableMic() {
        var m = twoInMeeting()
        _ = m.handle(.setMic(enabled: true), id: 1, from: 2, maxParticipants: 10, now: t0)
        #expect(
            m.handle(.disableMic(participantId: "pat"), id: 2, from: 1, maxParticipants: 10, now: t0) == [
                .reply(1, id: 2, error: nil), .send(1, .micChanged(participantId: "pat", enabled: false)),
                .send(2, .micChanged(participantId: "pat", enabled: false)),
            ])
    }

    @Test("enabling asks the target; accept turns it on for everyone, reject changes nothing")
    func enableWebcam() {
        var m = twoInMeeting()
        #expect(
            m.handle(.enableWebcam(participantId: "pat"), id: 1, from: 1, maxParticipants: 10, now: t0) == [
                .reply(1, id: 1, error: nil), .send(2, .webcamRequested(by: "mod")),
            ])
        #expect(
            m.handle(.respondWebcamRequest(accept: true), id: 2, from: 2, maxParticipants: 10, now: t0) == [
                .reply(2, id: 2, error: nil), .send(1, .webcamChanged(participantId: "pat", enabled: true)),
                .send(2, .webcamChanged(participantId: "pat", enabled: true)),
            ])
        _ = m.handle(.enableMic(participantId: "pat"), id: 3, from: 1, maxParticipants: 10, now: t0)
        #expect(m.handle(.respondMicRequest(accept: false), id: 4, from: 2, maxParticipants: 10, now: t0) == [.reply(2, id: 4, error: nil)])
        #expect(
            m.handle(.respondMicRequest(accept: true), id: 5, from: 2, maxParticipants: 10, now: t0) == [
                .reply(2, id: 5, error: .enableParticipantMicFailed)
            ])
    }

    @Test(
        "without allow_mod each moderator action is refused with its code",
        arguments: [
            (MeetingRequest.enableMic(participantId: "mod"), ErrorCode.enableParticipantMicFailed),
            (.disableMic(participantId: "mod"), .disableParticipantMicFailed),
            (.enableWebcam(participantId: "mod"), .enableParticipantWebcamFailed),
            (.disableWebcam(participantId: "mod"), .disableParticipantWebcamFailed),
            (.removeParticipant(participantId: "mod"), .removeParticipantFailed),
            (.end, .endMeetingFailed),
        ])
    func nonModerator(_ request: MeetingRequest, _ code: ErrorCode) {
        var m = twoInMeeting()
        #expect(m.handle(request, id: 1, from: 2, maxParticipants: 10, now: t0) == [.reply(2, id: 1, error: code)])
        #expect(m.participantCount == 2)
    }

    @Test("respondEntry without allow_join is refused with 4059")
    func respondWithoutAllowJoin() {
        var m = meeting()
        _ = m.join(1, participantId: "mod", name: "Mod", claims: claims(.allowMod), now: t0)
        _ = m.wait(2, participantId: "g", name: "G", claims: guest, now: t0)
        #expect(
            m.handle(.respondEntry(participantId: "g", decision: .allowed), id: 1, from: 1, maxParticipants: 10, now: t0) == [
                .reply(1, id: 1, error: .respondEntryFailed)
            ])
    }

    @Test("remove: the target leaves with 1002, others see participant-left")
    func remove() {
        var m = twoInMeeting()
        #expect(
            sends(m.handle(.removeParticipant(participantId: "pat"), id: 1, from: 1, maxParticipants: 10, now: t0)) == [
                .reply(1, id: 1, error: nil), .send(2, .meetingLeft(reason: .removePeer)), .close(2),
                .send(1, .participantLeft(participantId: "pat", name: "Pat", reason: .removePeer)),
            ])
    }

    @Test("leave (1101), disconnect (1001, nothing sent to the gone connection), end (1006 to everyone)")
    func leaving() {
        var m = twoInMeeting()
        #expect(
            sends(m.handle(.leave, id: 1, from: 2, maxParticipants: 10, now: t0)) == [
                .reply(2, id: 1, error: nil), .send(2, .meetingLeft(reason: .manualLeave)), .close(2),
                .send(1, .participantLeft(participantId: "pat", name: "Pat", reason: .manualLeave)),
            ])
        m = twoInMeeting()
        #expect(sends(m.disconnected(2, now: t0)) == [.send(1, .participantLeft(participantId: "pat", name: "Pat", reason: .websocketDisconnected))])
        m = twoInMeeting()
        _ = m.wait(3, participantId: "g", name: "G", claims: guest, now: t0)
        #expect(
            sends(m.handle(.end, id: 1, from: 1, maxParticipants: 10, now: t0)) == [
                .reply(1, id: 1, error: nil),
                .send(1, .meetingLeft(reason: .roomClose)), .close(1), .send(2, .meetingLeft(reason: .roomClose)), .close(2),
                .send(3, .meetingLeft(reason: .roomClose)), .close(3),
            ])
        #expect(m.isEmpty)
    }

    @Test("a replacement is an exit and an entry for observers; replacing the only participant ends one session and starts the next")
    func replacementNotices() {
        var m = meeting()
        _ = m.join(1, participantId: "a", name: "A", claims: member, now: at(0))
        let notices = m.join(2, participantId: "a", name: "A", claims: member, now: at(5)).compactMap { action -> [SessionNotice]? in
            guard case .sessionChanged(_, let notices) = action else { return nil }
            return notices
        }
        #expect(notices == [[.exited(participantId: "a", name: "A"), .ended], [.started, .entered(participantId: "a", name: "A")]])
    }

    @Test("a second connection with the same participant id replaces the first (1011)")
    func duplicate() {
        var m = twoInMeeting()
        let actions = sends(m.join(3, participantId: "pat", name: "Pat", claims: member, now: t0))
        #expect(
            Array(actions.prefix(3)) == [
                .send(2, .meetingLeft(reason: .duplicateParticipant)), .close(2),
                .send(1, .participantLeft(participantId: "pat", name: "Pat", reason: .duplicateParticipant)),
            ])
        #expect(actions.contains(.send(1, .participantJoined(participantId: "pat", name: "Pat"))))
        #expect(m.participantIds == ["mod", "pat"])
    }

    @Test("the session lasts from the first join to the last leave, with each participant's time log")
    func session() {
        var m = meeting()
        _ = m.join(1, participantId: "a", name: "A", claims: member, now: at(0))
        _ = m.join(2, participantId: "b", name: "B", claims: member, now: at(10))
        _ = m.disconnected(2, now: at(20))
        _ = m.join(3, participantId: "b", name: "B", claims: member, now: at(30))
        _ = m.disconnected(1, now: at(40))
        let last = m.disconnected(3, now: at(50))
        guard case .sessionChanged(let session, let notices)? = last.last else { Issue.record("no session change"); return }
        // The meeting says what happened itself: the last one out, then the end.
        #expect(notices == [.exited(participantId: "b", name: "B"), .ended])
        #expect(session.end == at(50))
        #expect(
            session.attendees == [
                .init(participantId: "a", name: "A", timelog: [.init(start: at(0), end: at(40))]),
                .init(participantId: "b", name: "B", timelog: [.init(start: at(10), end: at(20)), .init(start: at(30), end: at(50))]),
            ])
        #expect(m.session == nil)
        _ = m.join(4, participantId: "a", name: "A", claims: member, now: at(60))
        #expect(m.session?.id == "s2")
    }

    @Test("a revocation removes matching participants with 1010")
    func revocation() {
        var m = meeting()
        _ = m.join(1, participantId: "a", name: "A", claims: claims(.allowJoin, jti: "bad"), now: t0)
        _ = m.join(2, participantId: "b", name: "B", claims: claims(.allowJoin, jti: "good"), now: t0)
        let actions = sends(m.remove(where: { claims, _ in claims.jwtID == "bad" }, now: t0))
        #expect(actions.first == .send(1, .meetingLeft(reason: .removePeerAPI)))
        #expect(m.participantIds == ["b"])
    }
}
