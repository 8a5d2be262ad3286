import AdmitCore
import AdmitToken
import Foundation
import Testing

/// Random interleavings of joins, lobby waits and answers, moderation, leaves, drops, lobby
/// timeouts and `end`, replayed against the meeting state machine. Whatever the order, each
/// connection's stream of events must make sense on its own, and the cap must hold.
@Suite("meeting: event streams under random interleavings")
struct MeetingPropertyTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 0x2545_F491_4F6C_DD1D
        }
    }

    /// What one connection has been told so far, and the first thing wrong with it.
    struct Stream {
        var participantId: String
        var direct: Bool
        var received = 0
        var inMeeting = false
        var known: Set<String> = []
        var closed = false
        var problem: String?

        mutating func check(_ event: MeetingEvent) {
            defer { received += 1 }
            func fail(_ text: String) { if problem == nil { problem = "\(participantId): \(text) (event \(received): \(event))" } }
            if closed { return fail("an event after the connection was closed") }
            if received == 0, direct {
                switch event {
                case .meetingJoined, .error: break
                default: return fail("the first event of a direct join is not meeting-joined")
                }
            }
            switch event {
            case .meetingJoined(let id, let participants, _):
                if inMeeting { fail("meeting-joined twice") }
                if id != participantId { fail("meeting-joined for \(id)") }
                inMeeting = true
                known = Set(participants.map(\.participantId))
                if known.contains(participantId) { fail("listed among the others") }
            case .participantJoined(let id, _):
                if !inMeeting { fail("participant-joined before meeting-joined") }
                if known.contains(id) { fail("\(id) joined twice without leaving") }
                known.insert(id)
            case .participantLeft(let id, _, _):
                if !inMeeting { fail("participant-left outside the meeting") }
                if !known.contains(id) { fail("\(id) left without having joined") }
                known.remove(id)
            case .micChanged(let id, _), .webcamChanged(let id, _):
                if !inMeeting { fail("a device change outside the meeting") }
                if id != participantId, !known.contains(id) { fail("a device change of \(id), who is not in the meeting") }
            case .micRequested(let by), .webcamRequested(let by):
                if !inMeeting || (by != participantId && !known.contains(by)) { fail("a request from \(by), who is not in the meeting") }
            case .entryRequested:
                if !inMeeting { fail("entry-requested outside the meeting") }
            case .entryResponded(let id, _):
                if !inMeeting, id != participantId { fail("another's entry-responded outside the meeting") }
            case .meetingLeft:
                inMeeting = false
            case .error:
                if inMeeting { fail("error after joining") }
            }
        }
    }

    static let claims: [Permissions] = [[.allowJoin, .allowMod], .allowJoin, .askJoin, .allowMod]

    @Test("each connection's events are consistent and the cap holds, over 400 random interleavings")
    func randomInterleavings() {
        var generator = Generator(state: 0xA5A5_1234_DEAD_BEEF)
        var problems: [String] = []
        let start = Date(timeIntervalSince1970: 1_795_000_000)
        for trial in 0..<400 {
            var meeting = Meeting(roomId: "r", lobbyTimeout: 60, maxLobby: 3, maxParticipants: 4) { "s-\(UInt64.random(in: 0...UInt64.max))" }
            var streams: [ConnectionID: Stream] = [:]
            var live: [ConnectionID] = []
            var next: ConnectionID = 1
            var now = start
            let ids = ["a", "b", "c", "d", "e", "f"]
            // What observers hear: a session starts before anyone enters, each participant
            // alternates entered/exited, and it ends with nobody left in it.
            var sessionOpen = false
            var present: Set<String> = []
            for _ in 0..<80 {
                now = now.addingTimeInterval(Double.random(in: 0...20, using: &generator))
                var actions: [MeetingAction] = []
                let roll = Int.random(in: 0..<100, using: &generator)
                if roll < 30 || live.isEmpty {
                    let permissions = Self.claims.randomElement(using: &generator) ?? .allowJoin
                    let participantId = ids.randomElement(using: &generator) ?? "a"
                    let token = Claims(apiKey: "k", permissions: permissions, lifetime: 600, now: 1_795_000_000)
                    let connection = next
                    next += 1
                    live.append(connection)
                    let direct = permissions.contains(.allowJoin)
                    streams[connection] = Stream(participantId: participantId, direct: direct)
                    if direct {
                        if Bool.random(using: &generator) { _ = meeting.reserveSeat(for: participantId, now: now) }
                        actions = meeting.join(connection, participantId: participantId, name: participantId, claims: token, now: now)
                    } else if meeting.lobbyMayUse(participantId) {
                        actions = meeting.wait(connection, participantId: participantId, name: participantId, claims: token, now: now)
                    } else {
                        live.removeLast()
                        streams[connection] = nil
                    }
                } else if let connection = live.randomElement(using: &generator) {
                    let target = ids.randomElement(using: &generator) ?? "a"
                    switch roll {
                    case 30..<40:
                        actions = meeting.disconnected(connection, now: now)
                        streams[connection]?.closed = true
                        live.removeAll { $0 == connection }
                    case 40..<45: actions = meeting.lobbyTimeout(connection, now: now)
                    case 45..<47: actions = meeting.endAll(reason: .meetingEndAPI, now: now)
                    case 47..<50: actions = meeting.remove(participantId: target, reason: .removePeerAPI, now: now) ?? []
                    default:
                        let requests: [MeetingRequest] = [
                            .respondEntry(participantId: target, decision: Bool.random(using: &generator) ? .allowed : .denied),
                            .respondEntry(participantId: target, decision: .allowed), .enableMic(participantId: target),
                            .disableMic(participantId: target), .enableWebcam(participantId: target), .disableWebcam(participantId: target),
                            .respondMicRequest(accept: true), .respondWebcamRequest(accept: false), .setMic(enabled: true),
                            .setWebcam(enabled: Bool.random(using: &generator)), .removeParticipant(participantId: target), .leave,
                        ]
                        let request = roll == 99 ? MeetingRequest.end : (requests.randomElement(using: &generator) ?? .leave)
                        actions = meeting.handle(request, id: 1, from: connection, maxParticipants: 4, now: now)
                    }
                }
                for case .sessionChanged(_, let notices) in actions {
                    for notice in notices {
                        switch notice {
                        case .started:
                            if sessionOpen { problems.append("trial \(trial): a session started while one was open") }
                            sessionOpen = true
                        case .entered(let id, _):
                            if !sessionOpen || present.contains(id) { problems.append("trial \(trial): \(id) entered twice or outside a session") }
                            present.insert(id)
                        case .exited(let id, _):
                            if present.remove(id) == nil { problems.append("trial \(trial): \(id) exited without entering") }
                        case .ended:
                            if !sessionOpen || !present.isEmpty { problems.append("trial \(trial): a session ended with \(present) in it") }
                            sessionOpen = false
                        }
                    }
                }
                if Set(meeting.participantIds) != present { problems.append("trial \(trial): notices say \(present), meeting has \(meeting.participantIds)") }
                for action in actions {
                    switch action {
                    case .send(let connection, let event): streams[connection]?.check(event)
                    case .close(let connection):
                        streams[connection]?.closed = true
                        live.removeAll { $0 == connection }
                    default: break
                    }
                }
                if meeting.participantCount > 4 { problems.append("trial \(trial): \(meeting.participantCount) participants, cap 4") }
                if meeting.lobbyCount > 3 { problems.append("trial \(trial): \(meeting.lobbyCount) waiting, cap 3") }
            }
            problems += streams.values.compactMap { $0.problem.map { "trial \(trial): \($0)" } }
            if problems.count > 5 { break }
        }
        #expect(problems.isEmpty, "\(problems.prefix(5))")
    }

    @Test("a promised seat holds against other joins until it is used or expires; a full meeting refuses a join with 4009")
    func seats() {
        var meeting = Meeting(roomId: "r", lobbyTimeout: 60, maxLobby: 3, maxParticipants: 2) { "s1" }
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        let member = Claims(apiKey: "k", permissions: .allowJoin, lifetime: 600, now: 1_795_000_000)
        let first = meeting.reserveSeat(for: "a", now: now)
        let second = meeting.reserveSeat(for: "b", now: now)
        let third = meeting.reserveSeat(for: "c", now: now)
        #expect(first && second && !third)
        // A join without a promise finds no seat while both are promised.
        let refused = meeting.join(3, participantId: "c", name: "C", claims: member, now: now)
        #expect(refused == [.send(3, .error(.maxParticipantReached)), .close(3)])
        let joined = meeting.join(1, participantId: "a", name: "A", claims: member, now: now)
        #expect(joined.contains(.send(1, .meetingJoined(participantId: "a", participants: [], permissions: .allowJoin))))
        // b never comes: after its promise expires, c gets the seat.
        let later = now.addingTimeInterval(11)
        let late = meeting.reserveSeat(for: "c", now: later)
        let gone = meeting.reserveSeat(for: "b", now: later)
        #expect(late && !gone)
        // A participant already in takes its own seat again (a reconnect).
        let again = meeting.reserveSeat(for: "a", now: later)
        #expect(again)
        #expect(meeting.participantCount == 1)
    }
}
