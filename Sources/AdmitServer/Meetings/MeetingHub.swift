import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Logging
import Synchronization

/// Runs the meetings of every room: one `Meeting` state machine per room under one lock,
/// the actions it returns carried out after the lock is released (events to connections,
/// lobby timers, session writes).
final class MeetingHub: Sendable {
    /// A room of an API key.
    struct RoomKey: Hashable, Sendable {
        var apiKey: String
        var roomId: String
    }

    /// What a connection's writer sends.
    enum Outbound: Sendable {
        case text(String)
        case close
    }

    private struct Connection {
        var room: RoomKey
        var outbound: AsyncStream<Outbound>.Continuation
        /// The effective A/V settings shown in `meeting-joined`.
        var config: JSONValue
    }

    private struct State {
        var meetings: [RoomKey: Meeting] = [:]
        var connections: [ConnectionID: Connection] = [:]
        var nextConnection: ConnectionID = 1
        var sessionVersion: UInt64 = 0
        /// Rooms whose webhook wants participant events, as their latest join found them.
        var participantHooks: Set<RoomKey> = []
        /// Each waiting connection's lobby timer, cancelled when the connection goes.
        var lobbyTimers: [ConnectionID: Task<Void, Never>] = [:]
    }

    private let state = Mutex(State())
    private static func names(_ session: Session?) -> [String: String] {
        Dictionary(session?.attendees.map { ($0.participantId, $0.name) } ?? [], uniquingKeysWith: { first, _ in first })
    }

    /// Told when a room's session starts and ends (autoStart, stopping jobs); set once at startup.
    private let observer = Mutex<SessionObserver?>(nil)
    let lobbyTimeout: TimeInterval
    let maxParticipants: Int
    let maxLobby: Int
    private let sessions: SessionWriter
    private let logger: Logger

    init(lobbyTimeout: TimeInterval, maxParticipants: Int, maxLobby: Int = 200, repositories: any Repositories, logger: Logger) {
        // A timeout no clock can reach would trap in `Duration`; the CLI checks it, embedders may not.
        self.lobbyTimeout = lobbyTimeout.isFinite ? min(max(lobbyTimeout, 0), 86_400) : 86_400
        self.maxParticipants = maxParticipants
        self.maxLobby = maxLobby
        self.sessions = SessionWriter(repositories: repositories, logger: logger)
        self.logger = logger
    }

    // MARK: Queries

    func participantCount(_ room: RoomKey) -> Int {
        state.withLock { $0.meetings[room]?.participantCount ?? 0 }
    }

    /// Lobby timers running now (one per waiting connection at most).
    var lobbyTimerCount: Int { state.withLock { $0.lobbyTimers.count } }

    /// Participants in the meeting and waiting in its lobby now, and whether `participantId` waits there.
    func counts(_ room: RoomKey, waiting participantId: String?) -> (participants: Int, lobby: Int, waiting: Bool) {
        state.withLock { state in
            guard let meeting = state.meetings[room] else { return (0, 0, false) }
            return (meeting.participantCount, meeting.lobbyCount, participantId.map(meeting.isWaiting) ?? false)
        }
    }

    func lobbyMayUse(_ room: RoomKey, participantId: String) -> Bool {
        state.withLock { $0.meetings[room]?.lobbyMayUse(participantId) ?? true }
    }

    /// The live session of a room, if any.
    func liveSession(_ room: RoomKey) -> Session? {
        state.withLock { $0.meetings[room]?.session }
    }

    /// Participant ids in the meeting now.
    func participants(_ room: RoomKey) -> [String] {
        state.withLock { $0.meetings[room]?.participantIds ?? [] }
    }

    /// The room and permissions of a connection in a meeting; nil while it waits in the lobby or once it left.
    func member(_ connection: ConnectionID) -> (room: RoomKey, permissions: Permissions)? {
        state.withLock { state in
            guard let room = state.connections[connection]?.room,
                let permissions = state.meetings[room]?.permissions(ofJoined: connection)
            else { return nil }
            return (room, permissions)
        }
    }

    /// Sends a text frame to one connection.
    func send(_ connection: ConnectionID, _ text: String) {
        _ = state.withLock { $0.connections[connection]?.outbound.yield(.text(text)) }
    }

    /// Sends a text frame to everyone in a room's meeting (not the lobby).
    func broadcast(_ room: RoomKey, _ text: String) {
        state.withLock { state in
            for connection in state.meetings[room]?.joinedConnections ?? [] {
                state.connections[connection]?.outbound.yield(.text(text))
            }
        }
    }

    func observeSessions(_ observer: SessionObserver) {
        self.observer.withLock { $0 = observer }
    }

    // MARK: Connections

    /// Registers a connection and returns its id and the stream its writer drains.
    func open(room: RoomKey, config: JSONValue, participantHooks: Bool = false) -> (ConnectionID, AsyncStream<Outbound>) {
        let (stream, continuation) = AsyncStream<Outbound>.makeStream(bufferingPolicy: .bufferingNewest(1024))
        let id = state.withLock { state in
            if participantHooks { state.participantHooks.insert(room) } else { state.participantHooks.remove(room) }
            let id = state.nextConnection
            state.nextConnection += 1
            state.connections[id] = Connection(room: room, outbound: continuation, config: config)
            return id
        }
        return (id, stream)
    }

    /// The admitted connection enters the meeting or the lobby.
    func arrive(_ connection: ConnectionID, lobby: Bool, participantId: String, name: String, claims: Claims, mic: Bool, webcam: Bool) async {
        await mutate(connection) { meeting, now in
            lobby
                ? meeting.wait(connection, participantId: participantId, name: name, claims: claims, now: now)
                : meeting.join(connection, participantId: participantId, name: name, claims: claims, mic: mic, webcam: webcam, now: now)
        }
    }

    func handle(_ request: MeetingRequest, id: Int, from connection: ConnectionID) async {
        let max = maxParticipants
        await mutate(connection) { meeting, now in meeting.handle(request, id: id, from: connection, maxParticipants: max, now: now) }
    }

    /// The connection is gone (closed by the client, or by us after `meeting-left`).
    func disconnected(_ connection: ConnectionID) async {
        await mutate(connection) { meeting, now in meeting.disconnected(connection, now: now) }
        let timer = state.withLock { state in
            state.connections.removeValue(forKey: connection)?.outbound.finish()
            return state.lobbyTimers.removeValue(forKey: connection)
        }
        timer?.cancel()
    }

    private func lobbyExpired(_ connection: ConnectionID) async {
        state.withLock { _ = $0.lobbyTimers.removeValue(forKey: connection) }
        await mutate(connection) { meeting, now in meeting.lobbyTimeout(connection, now: now) }
    }

    // MARK: From the server API

    /// Ends a room's meeting for everyone (`POST /v2/sessions/end`: 1009). False when nobody is in it.
    func end(_ room: RoomKey, reason: LeaveReason) async -> Bool {
        await mutate(room: room) { meeting, now in meeting.isEmpty ? nil : meeting.endAll(reason: reason, now: now) }
    }

    /// Removes one participant (`POST /v2/sessions/participants/remove`: 1010). False when absent.
    func remove(_ room: RoomKey, participantId: String) async -> Bool {
        await mutate(room: room) { meeting, now in meeting.remove(participantId: participantId, reason: .removePeerAPI, now: now) }
    }

    /// Removes every participant of `apiKey`'s meetings whose claims the revocation matches.
    func revoke(apiKey: String, matching revoked: @escaping (Claims, String, String) -> Bool) async {
        let rooms = state.withLock { $0.meetings.keys.filter { $0.apiKey == apiKey } }
        for room in rooms {
            _ = await mutate(room: room) { meeting, now in
                let actions = meeting.remove(where: { revoked($0, $1, room.roomId) }, now: now)
                return actions.isEmpty ? nil : actions
            }
        }
    }

    // MARK: Running the state machine

    private func mutate(_ connection: ConnectionID, _ change: (inout Meeting, Date) -> [MeetingAction]) async {
        guard let room = state.withLock({ $0.connections[connection]?.room }) else { return }
        _ = await mutate(room: room) { meeting, now in change(&meeting, now) }
    }

    /// Applies `change` to the room's meeting under the lock (creating it on first use, dropping it
    /// when empty), then carries out the actions. Returns whether `change` returned actions.
    @discardableResult
    private func mutate(room: RoomKey, _ change: (inout Meeting, Date) -> [MeetingAction]?) async -> Bool {
        let now = Date.stamp()
        let timeout = lobbyTimeout
        let maxLobby = maxLobby
        let result:
            (
                actions: [MeetingAction], targets: [ConnectionID: (AsyncStream<Outbound>.Continuation, JSONValue)], versions: [UInt64],
                live: (before: String?, after: String?), people: ParticipantChanges?
            )? =
                state.withLock { state in
                    var meeting = state.meetings[room] ?? Meeting(roomId: room.roomId, lobbyTimeout: timeout, maxLobby: maxLobby) {
                        Identifiers.recordId()
                    }
                    let before = meeting.session?.id
                    // Who is in the meeting before the change, only for rooms whose webhook wants to know.
                    let hooked = state.participantHooks.contains(room)
                    let present = hooked ? meeting.participantIds : []
                    let presentSet = Set(present)
                    let names = hooked ? Self.names(meeting.session) : [:]
                    guard let actions = change(&meeting, now) else { return nil }
                    var people: ParticipantChanges?
                    if hooked {
                        let current = meeting.participantIds
                        let currentSet = Set(current)
                        let joined = current.filter { !presentSet.contains($0) }
                        let left = present.filter { !currentSet.contains($0) }
                        if !joined.isEmpty || !left.isEmpty {
                            let after = Self.names(meeting.session)
                            people = ParticipantChanges(
                                sessionId: meeting.session?.id ?? before ?? "", joined: joined.map { ($0, after[$0] ?? $0) },
                                left: left.map { ($0, names[$0] ?? $0) })
                        }
                    }
                    state.meetings[room] = meeting.isEmpty ? nil : meeting
                    var targets: [ConnectionID: (AsyncStream<Outbound>.Continuation, JSONValue)] = [:]
                    var versions: [UInt64] = []
                    for action in actions {
                        switch action {
                        case .send(let id, _), .reply(let id, _, _), .close(let id):
                            if let connection = state.connections[id] { targets[id] = (connection.outbound, connection.config) }
                        case .sessionChanged:
                            state.sessionVersion += 1
                            versions.append(state.sessionVersion)
                        case .startLobbyTimer:
                            break
                        }
                    }
                    return (actions, targets, versions, (before, meeting.session?.id), people)
                }
        guard let result else { return false }
        // Sessions first: a client that reacts to an event then reads the state the event reports.
        var versions = result.versions.makeIterator()
        for case .sessionChanged(let session) in result.actions {
            await sessions.save(SessionRecord(session, apiKey: room.apiKey), version: versions.next() ?? 0)
        }
        // A broadcast is the same text for every member: encode each event once
        // (`meeting-joined` carries the joiner's own config, so it is encoded per connection).
        var encoded: [MeetingEvent: String] = [:]
        for action in result.actions {
            switch action {
            case .send(let id, let event):
                guard let (outbound, config) = result.targets[id] else { continue }
                if case .meetingJoined = event {
                    outbound.yield(.text(Wire.event(event, config: config)))
                } else {
                    let text = encoded[event] ?? Wire.event(event, config: config)
                    encoded[event] = text
                    outbound.yield(.text(text))
                }
            case .reply(let id, let request, let error):
                result.targets[id]?.0.yield(.text(Wire.reply(id: request, error: error)))
            case .close(let id):
                result.targets[id]?.0.yield(.close)
            case .startLobbyTimer(let id, let deadline):
                let timer = Task { [weak self] in
                    guard (try? await Task.sleep(for: .seconds(max(0, deadline.timeIntervalSinceNow)))) != nil else { return }
                    await self?.lobbyExpired(id)
                }
                // Kept while the connection lives (one timer each), cancelled when it goes.
                let stale = state.withLock { state -> Task<Void, Never>? in
                    guard state.connections[id] != nil else { return timer }
                    return state.lobbyTimers.updateValue(timer, forKey: id)
                }
                stale?.cancel()
            case .sessionChanged:
                break
            }
        }
        if result.live.before != result.live.after || result.people != nil, let observer = observer.withLock({ $0 }) {
            if let started = result.live.after, started != result.live.before { await observer.sessionStarted(room, sessionId: started) }
            if let people = result.people { await observer.participantsChanged(room, people) }
            if let ended = result.live.before, ended != result.live.after { await observer.sessionEnded(room, sessionId: ended) }
        }
        return true
    }
}

/// Told when a room's session starts (its first join) and ends (its last leave, or `end`).
protocol SessionObserver: Sendable {
    func sessionStarted(_ room: MeetingHub.RoomKey, sessionId: String) async
    func sessionEnded(_ room: MeetingHub.RoomKey, sessionId: String) async
    /// Participants entered or left the meeting (only for rooms that asked, see `open`).
    func participantsChanged(_ room: MeetingHub.RoomKey, _ changes: ParticipantChanges) async
}

/// Who entered and who left the meeting in one change, with names.
struct ParticipantChanges: Sendable {
    var sessionId: String
    var joined: [(participantId: String, name: String)]
    var left: [(participantId: String, name: String)]
}

/// Writes sessions in the order their changes happened: a save older than one already
/// written is skipped, so concurrent events cannot leave a stale state in the store.
///
/// Bounded: a live session's last written version is kept while it is live; once its end is
/// written it moves to a ring of the most recently ended sessions, so a stale save that
/// arrives late is still skipped, and the map does not grow with every session ever held.
actor SessionWriter {
    private let repositories: any Repositories
    private let logger: Logger
    private var written: [String: UInt64] = [:]
    private var ended: [String] = []
    private var endedNext = 0
    /// Ended sessions remembered for late saves.
    static let endedMemory = 4096

    /// Sessions whose last written version is remembered (live ones and recently ended ones).
    var remembered: Int { written.count }

    init(repositories: any Repositories, logger: Logger) {
        self.repositories = repositories
        self.logger = logger
    }

    func save(_ session: SessionRecord, version: UInt64) async {
        guard version > written[session.id] ?? 0 else { return }
        written[session.id] = version
        if session.end != nil, !ended.contains(session.id) {
            if ended.count < Self.endedMemory {
                ended.append(session.id)
            } else {
                written.removeValue(forKey: ended[endedNext])
                ended[endedNext] = session.id
                endedNext = (endedNext + 1) % Self.endedMemory
            }
        }
        do {
            try await repositories.saveSession(session)
        } catch {
            logger.error("could not save session", metadata: ["session": "\(session.id)"])
        }
    }
}

extension SessionRecord {
    init(_ session: Session, apiKey: String) {
        self.init(
            id: session.id, apiKey: apiKey, roomId: session.roomId, start: session.start, end: session.end,
            attendees: session.attendees.map { attendee in
                Attendee(
                    participantId: attendee.participantId, name: attendee.name, timelog: attendee.timelog.map { Stay(start: $0.start, end: $0.end) })
            })
    }
}
