import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization

/// Runs the meetings of every room: one `Meeting` state machine per room under one lock.
/// The actions a change returns are queued for their room under that lock, in the order the
/// machine produced them, and carried out after it by one task at a time per room: session
/// writes queued first (written behind, `SessionWriter`), then the events, then timers and
/// observers. So per room, events leave in the order the machine made them, persistence never
/// reorders them, and a joiner's first message is its `meeting-joined`. Persistence delays a
/// room's later events only where someone must see the store first: a session's start or end
/// (and, for rooms whose webhook wants them, each arrival and departure) waits for the store
/// before observers hear of it, and the room's next changes wait behind it.
final class MeetingHub: MeetingDirectory, MediaMeetings {

    private struct Connection {
        var room: RoomRef
        var outlet: FrameOutlet
        /// The effective A/V settings shown in `meeting-joined`.
        var config: JSONValue
        /// The effective `maxSendBitrate` (`sd`, `hd`, `fullhd`, `auto`): the publisher's cap.
        var bitrate: String?
    }

    private struct State {
        var meetings: [RoomRef: Meeting] = [:]
        var connections: [ConnectionID: Connection] = [:]
        var nextConnection: ConnectionID = 1
        var sessionVersion: UInt64 = 0
        /// Rooms whose webhook wants participant events, as their latest join found them.
        var participantHooks: Set<RoomRef> = []
        /// Each waiting connection's lobby timer, cancelled when the connection goes. NIO timers:
        /// a cancelled one is gone at once, where a cancelled `Task.sleep` keeps its system
        /// timer until the original deadline (five minutes of memory per guest, seen in the soak).
        var lobbyTimers: [ConnectionID: Scheduled<Void>] = [:]
        /// Per room: changes waiting to be carried out, oldest first, and whether a task is at it.
        var deliveries: [RoomRef: Deliveries] = [:]
        /// What each job's events last told its room (job ids are unique across rooms).
        var jobEvents = JobEventOrder()
    }

    /// What one change of a room's meeting must carry out after the lock.
    private struct Batch {
        var actions: [MeetingAction] = []
        var targets: [ConnectionID: (outlet: FrameOutlet, config: JSONValue, bitrate: String?)] = [:]
        var versions: [UInt64] = []
        /// Whether observers hear who entered and left (the room's webhook subscribed to it).
        var participantHooks = false
        /// Text frames made outside the machine (job events, job replies), in the same order.
        var texts: [(FrameOutlet, ByteBuffer)] = []
    }

    private struct Deliveries {
        var batches: [Batch] = []
        var draining = false
        /// Callers that wait until their change is carried out (one each: the server API's calls).
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())
    /// Told when a room's session starts and ends (autoStart, stopping jobs); set once at startup.
    private let observer = Mutex<(any SessionObserver)?>(nil)
    let lobbyTimeout: TimeInterval
    let maxParticipants: Int
    let maxLobby: Int
    private let sessions: SessionWriter
    private let logger: Logger
    /// The SFU side: hears each room's device changes, departures and ends, in the room's order.
    let media: MediaBridge

    init(
        lobbyTimeout: TimeInterval, maxParticipants: Int, maxLobby: Int = 200, repositories: any Repositories, media: MediaBridge? = nil,
        logger: Logger
    ) {
        self.media = media ?? MediaBridge(janus: nil, maxSubscriptions: maxParticipants, logger: logger)
        // A timeout no clock can reach would trap in `Duration`; the CLI checks it, embedders may not.
        self.lobbyTimeout = lobbyTimeout.isFinite ? min(max(lobbyTimeout, 0), 86_400) : 86_400
        self.maxParticipants = maxParticipants
        self.maxLobby = maxLobby
        self.sessions = SessionWriter(repositories: repositories, logger: logger)
        self.logger = logger
    }

    // MARK: Queries

    func participantCount(_ room: RoomRef) -> Int {
        state.withLock { $0.meetings[room]?.participantCount ?? 0 }
    }

    /// Lobby timers running now (one per waiting connection at most).
    var lobbyTimerCount: Int { state.withLock { $0.lobbyTimers.count } }

    /// Participants in the meeting and waiting in its lobby now, and whether `participantId` waits there.
    func counts(_ room: RoomRef, waiting participantId: String?) -> (participants: Int, lobby: Int, waiting: Bool) {
        state.withLock { state in
            guard let meeting = state.meetings[room] else { return (0, 0, false) }
            return (meeting.participantCount, meeting.lobbyCount, participantId.map(meeting.isWaiting) ?? false)
        }
    }

    func lobbyMayUse(_ room: RoomRef, participantId: String) -> Bool {
        state.withLock { $0.meetings[room]?.lobbyMayUse(participantId) ?? true }
    }

    /// The live session of a room, if any.
    func liveSession(_ room: RoomRef) -> Session? {
        state.withLock { $0.meetings[room]?.session }
    }

    /// Who is in a room's meeting and its lobby now, with the live session; nil when nobody is.
    func snapshot(_ room: RoomRef) -> (session: Session?, people: MeetingSnapshot)? {
        state.withLock { state in state.meetings[room].map { ($0.session, $0.snapshot) } }
    }

    /// Whether someone is in the room's meeting, waits in its lobby, or holds a seat promise.
    func hasMeeting(_ room: RoomRef) -> Bool {
        state.withLock { $0.meetings[room] != nil }
    }

    /// The rooms with a meeting (someone in it or waiting) now.
    var liveRooms: [RoomRef] { state.withLock { Array($0.meetings.keys) } }

    /// Participant ids in the meeting now.
    func participants(_ room: RoomRef) -> [String] {
        state.withLock { $0.meetings[room]?.participantIds ?? [] }
    }

    /// The effective `maxSendBitrate` of a connection (its publisher's cap).
    func bitrate(_ connection: ConnectionID) -> String? {
        state.withLock { $0.connections[connection]?.bitrate }
    }

    /// The room and permissions of a connection in a meeting; nil while it waits in the lobby or once it left.
    func member(_ connection: ConnectionID) -> (room: RoomRef, permissions: Permissions)? {
        state.withLock { state in
            guard let room = state.connections[connection]?.room,
                let permissions = state.meetings[room]?.permissions(ofJoined: connection)
            else { return nil }
            return (room, permissions)
        }
    }

    /// Sends a text frame to one connection, after whatever its room has queued before it.
    func send(_ connection: ConnectionID, _ text: String) {
        let (room, drainer) = state.withLock { state -> (RoomRef?, Bool) in
            guard let target = state.connections[connection] else { return (nil, false) }
            return (target.room, Self.enqueue(&state, target.room, Batch(texts: [(target.outlet, FrameOutlet.textFrame(text))])))
        }
        if let room, drainer { Task { await self.drain(room) } }
    }

    /// Sends a text frame to everyone in a room's meeting (not the lobby), in the room's order.
    func broadcast(_ room: RoomRef, _ text: String) {
        broadcast(room, text, job: nil)
    }

    /// Tells everyone in a room's meeting a job's new state, unless a newer state of the job
    /// was told already (an event relayed late, or a repeat).
    func broadcast(_ room: RoomRef, job event: JobEvent) {
        broadcast(room, event.text, job: event)
    }

    private func broadcast(_ room: RoomRef, _ text: String, job: JobEvent?) {
        let frame = FrameOutlet.textFrame(text)
        let drainer = state.withLock { state -> Bool in
            if let job, !state.jobEvents.admit(job: job.id, kind: job.kind, status: job.status) { return false }
            let texts = (state.meetings[room]?.joinedConnections ?? []).compactMap { state.connections[$0].map { ($0.outlet, frame) } }
            guard !texts.isEmpty else { return false }
            return Self.enqueue(&state, room, Batch(texts: texts))
        }
        if drainer { Task { await self.drain(room) } }
    }

    // MARK: Media

    func mediaMember(_ connection: ConnectionID) -> (room: RoomRef, participantId: String, mic: Bool, webcam: Bool)? {
        state.withLock { state in
            guard let room = state.connections[connection]?.room, let member = state.meetings[room]?.joinedMember(connection) else { return nil }
            return (room, member.participantId, member.mic, member.webcam)
        }
    }

    func connection(of participantId: String, in room: RoomRef) -> ConnectionID? {
        state.withLock { $0.meetings[room]?.connection(of: participantId) }
    }

    func devices(of participantId: String, in room: RoomRef) -> (mic: Bool, webcam: Bool)? {
        state.withLock { state in
            guard let connection = state.meetings[room]?.connection(of: participantId),
                let member = state.meetings[room]?.joinedMember(connection)
            else { return nil }
            return (member.mic, member.webcam)
        }
    }

    /// Promises a seat in the room's meeting to a direct join about to be upgraded; false when full.
    func reserveSeat(_ room: RoomRef, participantId: String) -> Bool {
        state.withLock { state in
            withMeeting(&state, room) { $0.reserveSeat(for: participantId, now: Date()) }
        }
    }

    /// Runs `body` on the room's meeting (a new one if none), in place: taken out of the map
    /// while it runs, so its members and session are not copied on write (a copy per change
    /// cost a room of 1,000 a thousand members per join). Kept only while not empty.
    private func withMeeting<Result>(_ state: inout State, _ room: RoomRef, _ body: (inout Meeting) -> Result) -> Result {
        var meeting = state.meetings.removeValue(forKey: room) ?? newMeeting(room)
        let result = body(&meeting)
        if !meeting.isEmpty { state.meetings[room] = meeting }
        return result
    }

    private func newMeeting(_ room: RoomRef) -> Meeting {
        Meeting(roomId: room.roomId, lobbyTimeout: lobbyTimeout, maxLobby: maxLobby, maxParticipants: maxParticipants) { Identifiers.recordId() }
    }

    /// Waits until every session change made so far is in the store (sessions are written behind
    /// the events: `SessionWriter`).
    func sessionsWritten() async {
        await sessions.flush()
    }

    func observeSessions(_ observer: any SessionObserver) {
        self.observer.withLock { $0 = observer }
    }

    // MARK: Connections

    /// Registers a connection whose events go out through `outlet`; returns its id.
    func open(room: RoomRef, config: JSONValue, outlet: FrameOutlet, participantHooks: Bool = false) -> ConnectionID {
        state.withLock { state in
            if participantHooks { state.participantHooks.insert(room) } else { state.participantHooks.remove(room) }
            let id = state.nextConnection
            state.nextConnection += 1
            state.connections[id] = Connection(room: room, outlet: outlet, config: config, bitrate: config["maxSendBitrate"]?["value"]?.stringValue)
            return id
        }
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
            state.connections.removeValue(forKey: connection)?.outlet.finish()
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
    func end(_ room: RoomRef, reason: LeaveReason) async -> Bool {
        await mutate(room: room, delivered: true) { meeting, now in meeting.isEmpty ? nil : meeting.endAll(reason: reason, now: now) }
    }

    /// Admits or denies a waiting guest from outside the meeting (the dashboard). False when
    /// nobody of that id waits, or admitting would pass the cap.
    func answerEntry(_ room: RoomRef, participantId: String, allow: Bool) async -> Bool {
        let cap = maxParticipants
        return await mutate(room: room, delivered: true) { meeting, now in
            meeting.answerEntry(participantId: participantId, decision: allow ? .allowed : .denied, maxParticipants: cap, now: now)
        }
    }

    /// Removes one participant (`POST /v2/sessions/participants/remove`: 1010). False when absent.
    func remove(_ room: RoomRef, participantId: String) async -> Bool {
        await mutate(room: room, delivered: true) { meeting, now in
            meeting.remove(participantId: participantId, reason: .removePeerAPI, now: now)
        }
    }

    /// Removes the participants of this node's meetings that a revocation names (1010).
    func revoke(_ record: RevocationRecord) async {
        await revoke(apiKey: record.apiKey) { claims, participantId, roomId in
            var scoped = claims
            scoped.participantId = participantId
            scoped.roomId = roomId
            return RevocationList.matches(record, scoped) || RevocationList.matches(record, claims)
        }
    }

    /// Removes every participant of `apiKey`'s meetings whose claims the revocation matches.
    func revoke(apiKey: String, matching revoked: @escaping (Claims, String, String) -> Bool) async {
        let rooms = state.withLock { $0.meetings.keys.filter { $0.apiKey == apiKey } }
        for room in rooms {
            _ = await mutate(room: room, delivered: true) { meeting, now in
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
    /// `delivered`: returns only once the change is carried out even when another task carries
    /// out the room's queue (the server API's calls: `end` answers the ended session as stored).
    /// Never from a task that carries out this room's queue (it would wait for itself).
    @discardableResult
    private func mutate(room: RoomRef, delivered: Bool = false, _ change: (inout Meeting, Date) -> [MeetingAction]?) async -> Bool {
        let now = Date.stamp()
        let result: (changed: Bool, drainer: Bool) = state.withLock { state in
            let changed = withMeeting(&state, room) { meeting in
                meeting.dropExpiredReservations(now: now)
                return change(&meeting, now)
            }
            guard let actions = changed else { return (false, false) }
            var batch = Batch(actions: actions)
            // Who came and went goes to observers only for rooms whose webhook wants to know.
            batch.participantHooks = state.participantHooks.contains(room)
            for action in actions {
                switch action {
                case .send(let id, _), .reply(let id, _, _), .close(let id):
                    if let connection = state.connections[id] { batch.targets[id] = (connection.outlet, connection.config, connection.bitrate) }
                case .sessionChanged:
                    state.sessionVersion += 1
                    batch.versions.append(state.sessionVersion)
                case .startLobbyTimer:
                    break
                }
            }
            return (true, Self.enqueue(&state, room, batch))
        }
        if result.drainer {
            await drain(room)
        } else if result.changed, delivered {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                // The queue is gone once the task at it carried out every change, this one included.
                let waiting = state.withLock { state -> Bool in
                    guard state.deliveries[room] != nil else { return false }
                    state.deliveries[room]?.waiting.append(continuation)
                    return true
                }
                if !waiting { continuation.resume() }
            }
        }
        return result.changed
    }

    /// Queues `batch` for `room`; true when the caller must carry the room's queue out (no
    /// other task is at it).
    private static func enqueue(_ state: inout State, _ room: RoomRef, _ batch: Batch) -> Bool {
        var queue = state.deliveries[room] ?? Deliveries()
        queue.batches.append(batch)
        let drainer = !queue.draining
        queue.draining = true
        state.deliveries[room] = queue
        return drainer
    }

    /// Carries out the room's queued changes, oldest first, until none is left. Changes queued
    /// meanwhile (by other tasks, or by observers called from here) are carried out in turn.
    private func drain(_ room: RoomRef) async {
        while true {
            let (batches, waiting) = state.withLock { state -> ([Batch], [CheckedContinuation<Void, Never>]) in
                guard var queue = state.deliveries[room], !queue.batches.isEmpty else {
                    defer { state.deliveries[room] = nil }
                    return ([], state.deliveries[room]?.waiting ?? [])
                }
                let taken = queue.batches
                queue.batches = []
                state.deliveries[room] = queue
                return (taken, [])
            }
            guard !batches.isEmpty else {
                for caller in waiting { caller.resume() }
                return
            }
            await deliver(batches, room: room)
        }
    }

    /// Sessions queued first (the newest state of each, once; written behind: a read through the
    /// sessions API waits for them, so a client that reacts to an event reads the state the
    /// event reports), then every batch's events in order, then timers and observers. Observers
    /// (webhooks, jobs) and a call that ended the meeting wait for the store first.
    private func deliver(_ batches: [Batch], room: RoomRef) async {
        var newest: [String: (SessionRecord, UInt64)] = [:]
        var order: [String] = []
        for batch in batches {
            var versions = batch.versions.makeIterator()
            for case .sessionChanged(let session, _) in batch.actions {
                let version = versions.next() ?? 0
                if newest[session.id] == nil { order.append(session.id) }
                newest[session.id] = (SessionRecord(session, apiKey: room.apiKey), version)
            }
        }
        if !order.isEmpty { sessions.enqueue(order.compactMap { newest[$0] }) }
        var fanout = Fanout()
        for batch in batches { carryOut(batch, into: &fanout) }
        fanout.send()
        tellMedia(batches, room: room)
        let observer = observer.withLock { $0 }
        let mustStore = batches.contains { batch in
            batch.actions.contains { action in
                guard case .sessionChanged(_, let notices) = action else { return false }
                return notices.contains { notice in
                    switch notice {
                    case .started, .ended: true
                    case .entered, .exited: batch.participantHooks && observer != nil
                    }
                }
            }
        }
        if mustStore { await sessions.flush() }
        guard let observer else { return }
        for batch in batches {
            for case .sessionChanged(let session, let notices) in batch.actions where !notices.isEmpty {
                var people = ParticipantChanges(sessionId: session.id, joined: [], left: [])
                for notice in notices {
                    switch notice {
                    case .started: await observer.sessionStarted(room, sessionId: session.id)
                    case .entered(let participantId, let name): people.joined.append((participantId, name))
                    case .exited(let participantId, let name): people.left.append((participantId, name))
                    case .ended:
                        if batch.participantHooks, !people.joined.isEmpty || !people.left.isEmpty {
                            await observer.participantsChanged(room, people)
                            people = ParticipantChanges(sessionId: session.id, joined: [], left: [])
                        }
                        await observer.sessionEnded(room, sessionId: session.id)
                    }
                }
                if batch.participantHooks, !people.joined.isEmpty || !people.left.isEmpty { await observer.participantsChanged(room, people) }
            }
        }
    }

    /// What the SFU must carry out, in the room's order: a session's start and end, device
    /// changes (each participant's once per batch: the bridge reads the meeting's state),
    /// departures and arrivals. A batch may end one session and start the next: the order holds.
    private func tellMedia(_ batches: [Batch], room: RoomRef) {
        var devices: Set<String> = []
        for batch in batches {
            for action in batch.actions {
                switch action {
                case .send(_, .micChanged(let participantId, _)), .send(_, .webcamChanged(let participantId, _)):
                    if devices.insert(participantId).inserted { media.devicesChanged(room, participantId: participantId) }
                case .sessionChanged(let session, let notices):
                    var departed = false
                    for notice in notices {
                        switch notice {
                        case .started: media.sessionStarted(room, session: session.id)
                        case .entered(let participantId, _): media.entered(room, participantId: participantId)
                        case .exited: departed = true
                        case .ended:
                            if departed { media.departed(room) }
                            departed = false
                            media.sessionEnded(room, session: session.id)
                        }
                    }
                    if departed { media.departed(room) }
                default:
                    break
                }
            }
        }
    }

    /// Frames a batch's events (each event once, shared by its recipients; `meeting-joined`
    /// carries the joiner's own config) into `fanout`, and arms its lobby timers.
    private func carryOut(_ batch: Batch, into fanout: inout Fanout) {
        for (outlet, frame) in batch.texts { fanout.write(frame, to: outlet) }
        // A broadcast is a run of sends of one event: it is framed once and the frame reused
        // while the event stays the same (compared, not hashed: a meeting-joined carries the
        // whole participant list, and is framed for its joiner alone anyway).
        var last: (event: MeetingEvent, frame: ByteBuffer)?
        for action in batch.actions {
            switch action {
            case .send(let id, let event):
                guard let (outlet, config, bitrate) = batch.targets[id] else { continue }
                if case .meetingJoined = event {
                    fanout.write(FrameOutlet.textFrame(RTCEvent(event, config: config, media: media.joinInfo(bitrate: bitrate)).text), to: outlet)
                } else if let last, last.event == event {
                    fanout.write(last.frame, to: outlet)
                } else {
                    let frame = FrameOutlet.textFrame(RTCEvent(event, config: config).text)
                    last = (event, frame)
                    fanout.write(frame, to: outlet)
                }
            case .reply(let id, let request, let error):
                if let outlet = batch.targets[id]?.0 {
                    fanout.write(FrameOutlet.textFrame(RTCReply(id: request, error: error.map { RTCErrorBody($0) }).text), to: outlet)
                }
            case .close(let id):
                if let outlet = batch.targets[id]?.0 { fanout.close(outlet) }
            case .startLobbyTimer(let id, let deadline):
                // Rounded up, so that it does not fire before the deadline (the meeting arms it again if it does).
                let delay = TimeAmount.milliseconds(Int64((max(0, min(deadline.timeIntervalSinceNow, 86_400)) * 1000).rounded(.up)) + 1)
                let timer = MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: delay) { [weak self] in
                    guard let self else { return }
                    Task { await self.lobbyExpired(id) }
                }
                // Kept while the connection lives (one timer each), cancelled when it goes.
                let stale = state.withLock { state -> Scheduled<Void>? in
                    guard state.connections[id] != nil else { return timer }
                    return state.lobbyTimers.updateValue(timer, forKey: id)
                }
                stale?.cancel()
            case .sessionChanged:
                break
            }
        }
    }
}

/// Writes sessions behind the meetings, in the order their changes happened: a change is
/// queued (`enqueue`, no wait) and its events go out at once; a save older than one already
/// queued is skipped, so concurrent changes cannot leave a stale state in the store.
///
/// Group commit: what is queued while a statement is under way is written by the next one
/// (one statement, one disk flush). A writer that is busy (changes came while it wrote) waits
/// `linger` before the next statement, so a burst's changes share statements (and a session
/// changed twice in the wait is written once); a flush ends the wait. Whoever must see
/// the store current waits with `flush` for everything queued before it: the sessions API
/// before it reads, the hub before observers hear of a session's start or end (webhooks, jobs)
/// and before a call that ended a meeting returns, and the server before it closes the store.
/// A join's events used to wait for its statement: the waits and task hops were a third of a
/// join's cost in `Benchmarks/storm.sh` (docs/decisions.md, "Sessions written behind").
///
/// Bounded: a live session's last queued version is kept while it is live; once its end is
/// queued it moves to a ring of the most recently ended sessions, so a stale save that
/// arrives late is still skipped, and the map does not grow with every session ever held.
/// What waits to be written is at most one record per session (the newest).
final class SessionWriter: Sendable {
    private struct State {
        var written: [String: UInt64] = [:]
        var ended: [String] = []
        var endedNext = 0
        /// Sessions waiting for the next statement (the newest state of each), in order.
        var pending: [String: SessionRecord] = [:]
        var pendingOrder: [String] = []
        /// Whether the write loop runs.
        var writing = false
        /// Whether changes came while a statement was under way: the writer is busy.
        var contended = false
        /// Batches taken for writing so far, and the last one whose statement finished.
        var taken: UInt64 = 0
        var finished: UInt64 = 0
        /// Flushes waiting for a batch (by number) to finish.
        var waiters: [(batch: UInt64, continuation: CheckedContinuation<Void, Never>)] = []
        var lingers = 0
        /// The writer's wait for more changes, cut short by a flush (or ended by its timer, the
        /// number telling which wait a timer belongs to).
        var wake: (number: Int, continuation: CheckedContinuation<Void, Never>)?
    }

    private let repositories: any Repositories
    private let logger: Logger
    private let state = Mutex(State())
    /// How long a busy writer waits for more changes before it writes, unless someone flushes.
    /// Joins into 200 rooms of 10 at once shared a statement three or four at a time without
    /// a wait (the disk flush was the only one); with 5 ms the session path was still a fifth
    /// of what a join costs beyond a bare connect (`Benchmarks/storm.sh`, docs/decisions.md).
    /// Nobody's events wait for it, and a flush ends it.
    static let linger: Duration = .milliseconds(20)
    /// Ended sessions remembered for late saves.
    static let endedMemory = 4096
    /// Sessions per statement (six parameters each; SQLite allows 32,766).
    static let perStatement = 500

    /// The wait of a busy writer (`linger`; tests choose theirs).
    private let lingering: Duration

    init(repositories: any Repositories, logger: Logger, linger: Duration = SessionWriter.linger) {
        self.repositories = repositories
        self.logger = logger
        self.lingering = linger
    }

    /// How many times the writer waited for more changes (tests).
    var lingers: Int { state.withLock { $0.lingers } }
    /// Sessions waiting for the next statement (tests).
    var pendingCount: Int { state.withLock { $0.pendingOrder.count } }
    /// Sessions whose last queued version is remembered (live ones and recently ended ones).
    var remembered: Int { state.withLock { $0.written.count } }

    /// Queues each session whose version is newer than the one queued before; returns at once.
    func enqueue(_ sessions: [(SessionRecord, UInt64)]) {
        let start = state.withLock { state -> Bool in
            var queued = false
            for (session, version) in sessions where version > state.written[session.id] ?? 0 {
                state.written[session.id] = version
                if session.end != nil { Self.remember(ended: session.id, in: &state) }
                if state.pending.updateValue(session, forKey: session.id) == nil { state.pendingOrder.append(session.id) }
                queued = true
            }
            guard queued else { return false }
            if state.writing {
                state.contended = true
                return false
            }
            state.writing = true
            return true
        }
        if start { Task { await self.writeAll() } }
    }

    /// Waits until every change queued before the call is in the store (or was refused and logged).
    func flush() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let waiting = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
                // What is pending goes with the next batch; a batch under way finishes first.
                let batch = state.pendingOrder.isEmpty ? state.taken : state.taken + 1
                guard batch > state.finished else { return (false, nil) }
                state.waiters.append((batch, continuation))
                // Someone waits: the writer writes now instead of waiting for more.
                defer { state.wake = nil }
                return (true, state.wake?.continuation)
            }
            if !waiting.0 { continuation.resume() }
            waiting.1?.resume()
        }
    }

    func save(_ session: SessionRecord, version: UInt64) async {
        await save([(session, version)])
    }

    /// Queues the sessions and waits until they are in the store.
    func save(_ sessions: [(SessionRecord, UInt64)]) async {
        enqueue(sessions)
        await flush()
    }

    /// Writes what is pending, then what came meanwhile, until nothing is left. A statement
    /// that fails is tried again one session at a time, so one bad row does not lose the
    /// others; a session that still fails is logged (its next change writes it whole again).
    private func writeAll() async {
        while true {
            // Busy (changes came during the last statement): wait a little for more to share
            // this statement and its disk flush. Idle, a change is written at once.
            let linger = state.withLock { state -> Int? in
                guard state.contended, state.pendingOrder.count < Self.perStatement, state.waiters.isEmpty else { return nil }
                state.lingers += 1
                return state.lingers
            }
            if let number = linger { await wait(number) }
            let taken = state.withLock { state -> [SessionRecord]? in
                state.contended = false
                guard !state.pendingOrder.isEmpty else {
                    state.writing = false
                    return nil
                }
                let batch = state.pendingOrder.compactMap { state.pending[$0] }
                state.pending = [:]
                state.pendingOrder = []
                state.taken += 1
                return batch
            }
            guard let batch = taken else { return }
            var start = 0
            while start < batch.count {
                let part = Array(batch[start..<min(start + Self.perStatement, batch.count)])
                start += part.count
                if (try? await repositories.saveSessions(part)) != nil { continue }
                for session in part {
                    do {
                        try await repositories.saveSession(session)
                    } catch {
                        logger.error("could not save session", metadata: ["session": "\(session.id)"])
                    }
                }
            }
            let resumed = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.finished = state.taken
                let done = state.waiters.filter { $0.batch <= state.finished }.map(\.continuation)
                state.waiters.removeAll { $0.batch <= state.finished }
                return done
            }
            for waiter in resumed { waiter.resume() }
        }
    }

    /// Waits `lingering`, or until a flush comes.
    private func wait(_ number: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            // A flush that came since the writer chose to wait: no wait.
            let flushing = state.withLock { state -> Bool in
                guard state.waiters.isEmpty else { return true }
                state.wake = (number, continuation)
                return false
            }
            if flushing {
                continuation.resume()
                return
            }
            let (seconds, attoseconds) = lingering.components
            let nanoseconds = min(max(seconds, 0), 3600) * 1_000_000_000 + max(attoseconds, 0) / 1_000_000_000
            MultiThreadedEventLoopGroup.singleton.next().scheduleTask(in: .nanoseconds(nanoseconds)) { [weak self] in
                self?.endWait(number)
            }
        }
    }

    /// The timer of wait `number`: ends it unless a flush did (the continuation is taken once).
    private func endWait(_ number: Int) {
        let waiting = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let wake = state.wake, wake.number == number else { return nil }
            state.wake = nil
            return wake.continuation
        }
        waiting?.resume()
    }

    private static func remember(ended id: String, in state: inout State) {
        guard !state.ended.contains(id) else { return }
        if state.ended.count < endedMemory {
            state.ended.append(id)
        } else {
            state.written.removeValue(forKey: state.ended[state.endedNext])
            state.ended[state.endedNext] = id
            state.endedNext = (state.endedNext + 1) % endedMemory
        }
    }
}
