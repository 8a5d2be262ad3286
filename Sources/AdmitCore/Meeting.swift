public import AdmitToken
public import Foundation

/// The meeting of one room: who is in it, who waits in the lobby, mic and webcam state,
/// and the live session. A value type: each event is a `mutating func` that returns the
/// actions to perform, with time passed in, so tests drive it without sockets or clocks.
public struct Meeting: Sendable {
    /// Someone in the meeting or in the lobby.
    struct Member: Sendable {
        var connection: ConnectionID
        var participantId: String
        var name: String
        var permissions: Permissions
        var claims: Claims
        var mic = false
        var webcam = false
        /// Moderators who asked this participant to turn mic / webcam on, not yet answered.
        var micAskedBy: String?
        var webcamAskedBy: String?
        /// Lobby only: when the wait ends in a denial.
        var deadline: Date?
    }

    public let roomId: String
    public let lobbyTimeout: TimeInterval
    /// Participants that may wait in the lobby at once; one more is refused with 4093.
    public let maxLobby: Int
    /// Participants in the meeting at once, seats promised to joins being upgraded included.
    public let maxParticipants: Int
    /// Seats promised to direct joins whose upgrade is being answered: participant id -> until when.
    var reservations: [String: Date] = [:]
    var joined: [Member] = []
    var waiting: [Member] = []
    public internal(set) var session: Session?
    private let newSessionId: @Sendable () -> String

    public init(
        roomId: String, lobbyTimeout: TimeInterval = 300, maxLobby: Int = 200, maxParticipants: Int = 100,
        newSessionId: @escaping @Sendable () -> String
    ) {
        self.roomId = roomId
        self.lobbyTimeout = lobbyTimeout
        self.maxLobby = maxLobby
        self.maxParticipants = maxParticipants
        self.newSessionId = newSessionId
    }

    /// Participants in the meeting (not waiting).
    public var participantCount: Int { joined.count }
    /// Nobody joined, nobody waiting, no seat promised: the meeting can be dropped.
    public var isEmpty: Bool { joined.isEmpty && waiting.isEmpty && reservations.isEmpty }
    public var participantIds: [String] { joined.map(\.participantId) }
    public var waitingIds: [String] { waiting.map(\.participantId) }
    /// Participants waiting in the lobby.
    public var lobbyCount: Int { waiting.count }

    /// Who is in the meeting (with their devices) and who waits in its lobby, in arrival order.
    public var snapshot: MeetingSnapshot {
        MeetingSnapshot(
            participants: joined.map { .init(participantId: $0.participantId, name: $0.name, mic: $0.mic, webcam: $0.webcam) },
            waiting: waiting.map { .init(participantId: $0.participantId, name: $0.name, mic: false, webcam: false) })
    }
    public func isWaiting(_ participantId: String) -> Bool { waiting.contains { $0.participantId == participantId } }

    /// The connections of everyone in the meeting (not waiting): who hears room-wide state events.
    public var joinedConnections: [ConnectionID] { joined.map(\.connection) }

    /// The permissions of a connection in the meeting; nil while it waits in the lobby or after it left.
    public func permissions(ofJoined connection: ConnectionID) -> Permissions? {
        joined.first { $0.connection == connection }?.permissions
    }

    /// A connection in the meeting as media sees it: who it is and whether its mic and webcam
    /// may be forwarded. Nil while it waits in the lobby or after it left.
    public func joinedMember(_ connection: ConnectionID) -> (participantId: String, mic: Bool, webcam: Bool)? {
        joined.first { $0.connection == connection }.map { ($0.participantId, $0.mic, $0.webcam) }
    }

    /// The connection that holds `participantId` in the meeting now.
    public func connection(of participantId: String) -> ConnectionID? {
        joined.first { $0.participantId == participantId }?.connection
    }

    public func claims(of participantId: String) -> Claims? {
        (joined.first { $0.participantId == participantId } ?? waiting.first { $0.participantId == participantId })?.claims
    }

    // MARK: Arrival

    /// Whether a lobby entrant may take `participantId`: not while a participant in the meeting
    /// holds it (waiting cannot push someone out of the meeting).
    public func lobbyMayUse(_ participantId: String) -> Bool {
        !joined.contains { $0.participantId == participantId }
    }

    /// Seats taken by everyone but `participantId` (who would take their own seat again):
    /// participants in the meeting and seats promised to others, unexpired.
    func seatsTaken(besides participantId: String, now: Date) -> Int {
        joined.count(where: { $0.participantId != participantId }) + reservations.count(where: { $0.key != participantId && $0.value > now })
    }

    /// Promises a seat to a direct join before its upgrade is answered (CONTRACT.md section 4:
    /// the seat is taken first, so an over-cap join gets the HTTP refusal, never a WebSocket).
    /// False when the meeting is full. The promise lasts `holdFor` seconds unless the join
    /// comes first; a reconnecting participant keeps its own seat.
    public mutating func reserveSeat(for participantId: String, now: Date, holdFor: TimeInterval = 10) -> Bool {
        dropExpiredReservations(now: now)
        guard seatsTaken(besides: participantId, now: now) < maxParticipants else { return false }
        reservations[participantId] = now.addingTimeInterval(holdFor)
        return true
    }

    /// Forgets promises whose join never came (the client went away during the upgrade).
    public mutating func dropExpiredReservations(now: Date) {
        if reservations.contains(where: { $0.value <= now }) { reservations = reservations.filter { $0.value > now } }
    }

    /// A connection admitted directly (`allow_join`). A previous connection with the same
    /// participant id (in the meeting or the lobby) leaves with 1011. The seat is the one
    /// promised to it, or a free one; when the meeting is full the connection gets `error`
    /// 4009 and is closed (concurrent joins never pass the cap).
    public mutating func join(
        _ connection: ConnectionID, participantId: String, name: String, claims: Claims, mic: Bool = false, webcam: Bool = false, now: Date
    ) -> [MeetingAction] {
        reservations.removeValue(forKey: participantId)
        guard seatsTaken(besides: participantId, now: now) < maxParticipants else {
            return [.send(connection, .error(.maxParticipantReached)), .close(connection)]
        }
        var actions = replacePrevious(participantId, now: now)
        let member = Member(
            connection: connection, participantId: participantId, name: name, permissions: claims.permissions, claims: claims, mic: mic,
            webcam: webcam)
        actions += enter(member, now: now)
        return actions
    }

    /// A connection that must wait (`ask_join`, or `allow_mod` without `allow_join`).
    /// Everyone holding `allow_join` is told; a reconnect keeps the original deadline. A
    /// newcomer to a full lobby (`maxLobby`) gets `error` 4093 and is closed; admission refuses
    /// it before the upgrade, and this keeps the bound when joins race that check.
    public mutating func wait(_ connection: ConnectionID, participantId: String, name: String, claims: Claims, now: Date) -> [MeetingAction] {
        var deadline = now.addingTimeInterval(lobbyTimeout)
        var actions: [MeetingAction] = []
        let reconnect = waiting.contains { $0.participantId == participantId }
        guard reconnect || waiting.count < maxLobby else {
            return [.send(connection, .error(.lobbyFull)), .close(connection)]
        }
        if let index = waiting.firstIndex(where: { $0.participantId == participantId }) {
            deadline = min(deadline, waiting[index].deadline ?? deadline)
            let old = waiting.remove(at: index)
            actions += [.send(old.connection, .meetingLeft(reason: .duplicateParticipant)), .close(old.connection)]
        }
        let member = Member(
            connection: connection, participantId: participantId, name: name, permissions: claims.permissions, claims: claims, deadline: deadline)
        waiting.append(member)
        actions.append(.startLobbyTimer(connection, deadline: deadline))
        for host in joined where host.permissions.contains(.allowJoin) {
            actions.append(.send(host.connection, .entryRequested(participantId: participantId, name: name)))
        }
        return actions
    }

    mutating func replacePrevious(_ participantId: String, now: Date) -> [MeetingAction] {
        if let index = waiting.firstIndex(where: { $0.participantId == participantId }) {
            let old = waiting.remove(at: index)
            return [.send(old.connection, .meetingLeft(reason: .duplicateParticipant)), .close(old.connection)]
        }
        if let old = joined.first(where: { $0.participantId == participantId }) {
            return depart(old.connection, reason: .duplicateParticipant, now: now)
        }
        return []
    }

    /// Puts a member in the meeting: their own `meeting-joined`, everyone else's `participant-joined`,
    /// pending lobby requests for a newcomer holding `allow_join`, and the session's time log.
    mutating func enter(_ member: Member, now: Date) -> [MeetingAction] {
        var member = member
        member.deadline = nil
        let others = joined.map { ParticipantInfo(participantId: $0.participantId, name: $0.name, mic: $0.mic, webcam: $0.webcam) }
        var actions: [MeetingAction] = [
            .send(member.connection, .meetingJoined(participantId: member.participantId, participants: others, permissions: member.permissions))
        ]
        for other in joined {
            actions.append(.send(other.connection, .participantJoined(participantId: member.participantId, name: member.name)))
        }
        joined.append(member)
        if member.permissions.contains(.allowJoin) {
            for waiter in waiting {
                actions.append(.send(member.connection, .entryRequested(participantId: waiter.participantId, name: waiter.name)))
            }
        }
        var notices: [SessionNotice] = []
        if session == nil {
            session = Session(id: newSessionId(), roomId: roomId, start: now, end: nil, attendees: [])
            notices.append(.started)
        }
        notices.append(.entered(participantId: member.participantId, name: member.name))
        // In place (optional chaining), so the attendees are not copied when nothing else holds them.
        if let index = session?.attendees.firstIndex(where: { $0.participantId == member.participantId }) {
            session?.attendees[index].name = member.name
            session?.attendees[index].timelog.append(.init(start: now))
        } else {
            session?.attendees.append(.init(participantId: member.participantId, name: member.name, timelog: [.init(start: now)]))
        }
        // Set just above; `if let` rather than a force unwrap.
        if let session { actions.append(.sessionChanged(session, notices: notices)) }
        return actions
    }

    // MARK: Departure

    /// A participant leaves the meeting (or the lobby) for `reason`: they get `meeting-left` and are
    /// closed (unless their connection is already gone), others get `participant-left`; the last
    /// one out ends the session.
    mutating func depart(_ connection: ConnectionID, reason: LeaveReason, now: Date, notifySelf: Bool = true) -> [MeetingAction] {
        if let index = waiting.firstIndex(where: { $0.connection == connection }) {
            waiting.remove(at: index)
            return notifySelf ? [.send(connection, .meetingLeft(reason: reason)), .close(connection)] : []
        }
        guard let index = joined.firstIndex(where: { $0.connection == connection }) else { return [] }
        let member = joined.remove(at: index)
        var actions: [MeetingAction] = notifySelf ? [.send(connection, .meetingLeft(reason: reason)), .close(connection)] : []
        for other in joined {
            actions.append(.send(other.connection, .participantLeft(participantId: member.participantId, name: member.name, reason: reason)))
        }
        for index in joined.indices {
            if joined[index].micAskedBy == member.participantId { joined[index].micAskedBy = nil }
            if joined[index].webcamAskedBy == member.participantId { joined[index].webcamAskedBy = nil }
        }
        // In place (optional chaining), as in `enter`.
        if let attendee = session?.attendees.firstIndex(where: { $0.participantId == member.participantId }),
            let stay = session?.attendees[attendee].timelog.indices.last
        {
            session?.attendees[attendee].timelog[stay].end = now
            if joined.isEmpty { session?.end = now }
            let exited = SessionNotice.exited(participantId: member.participantId, name: member.name)
            if let changed = session { actions.append(.sessionChanged(changed, notices: joined.isEmpty ? [exited, .ended] : [exited])) }
            if joined.isEmpty { session = nil }
        }
        return actions
    }

    /// The connection dropped (1001): no `meeting-left` can reach it.
    public mutating func disconnected(_ connection: ConnectionID, now: Date) -> [MeetingAction] {
        depart(connection, reason: .websocketDisconnected, now: now, notifySelf: false)
    }

    /// The lobby timer of a waiting connection fired: the wait ends in a denial.
    public mutating func lobbyTimeout(_ connection: ConnectionID, now: Date) -> [MeetingAction] {
        guard let waiter = waiting.first(where: { $0.connection == connection }), let deadline = waiter.deadline else { return [] }
        // A timer may fire a little early (clocks round to the millisecond): it is armed again.
        guard deadline <= now else { return [.startLobbyTimer(connection, deadline: deadline)] }
        return denyWaiter(connection)
    }

    /// The wait ends in a denial: `allow_join` holders and the waiter hear it; the waiter is closed.
    mutating func denyWaiter(_ connection: ConnectionID) -> [MeetingAction] {
        guard let index = waiting.firstIndex(where: { $0.connection == connection }) else { return [] }
        let waiter = waiting.remove(at: index)
        var actions: [MeetingAction] = []
        for host in joined where host.permissions.contains(.allowJoin) {
            actions.append(.send(host.connection, .entryResponded(participantId: waiter.participantId, decision: .denied)))
        }
        actions += [.send(waiter.connection, .entryResponded(participantId: waiter.participantId, decision: .denied)), .close(waiter.connection)]
        return actions
    }

    /// Ends the meeting for everyone: `meeting-left` with `reason`, all connections closed, the session ended.
    public mutating func endAll(reason: LeaveReason, now: Date) -> [MeetingAction] {
        var actions: [MeetingAction] = []
        for member in joined + waiting {
            actions += [.send(member.connection, .meetingLeft(reason: reason)), .close(member.connection)]
        }
        if var current = session {
            for index in current.attendees.indices {
                if let last = current.attendees[index].timelog.indices.last, current.attendees[index].timelog[last].end == nil {
                    current.attendees[index].timelog[last].end = now
                }
            }
            current.end = now
            let exits = joined.map { SessionNotice.exited(participantId: $0.participantId, name: $0.name) }
            actions.append(.sessionChanged(current, notices: exits + [.ended]))
        }
        joined = []
        waiting = []
        session = nil
        return actions
    }

    /// Removes a participant from outside the meeting (server API or revocation: 1010).
    public mutating func remove(participantId: String, reason: LeaveReason, now: Date) -> [MeetingAction]? {
        guard let member = joined.first(where: { $0.participantId == participantId }) ?? waiting.first(where: { $0.participantId == participantId })
        else { return nil }
        return depart(member.connection, reason: reason, now: now)
    }

    /// Removes every member whose claims match (a revocation), with 1010.
    public mutating func remove(where revoked: (Claims, String) -> Bool, now: Date) -> [MeetingAction] {
        var actions: [MeetingAction] = []
        for member in (joined + waiting) where revoked(member.claims, member.participantId) {
            actions += depart(member.connection, reason: .removePeerAPI, now: now)
        }
        return actions
    }
}

/// A meeting as an operator sees it (the dashboard's Rooms page).
public struct MeetingSnapshot: Sendable, Equatable {
    public struct Person: Sendable, Equatable {
        public var participantId: String
        public var name: String
        public var mic: Bool
        public var webcam: Bool
    }

    public var participants: [Person]
    public var waiting: [Person]
}
