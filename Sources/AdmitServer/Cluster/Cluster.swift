import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Where each room's meeting runs when several nodes share one PostgreSQL (issue 14;
/// docs/decisions.md "Many nodes on one PostgreSQL").
///
/// A room's live meeting has one owner: the node holding the room's lease in the store
/// (`room_leases`: taken atomically, renewed every second, lapsing after `leaseTime`). A join
/// to any node verifies the token there, then finds the owner, taking the lease when it is
/// free or lapsed. On the owner the join goes on as on a single node. On any other node it is
/// relayed: the owner runs the rest of admission (`admit`, with the seat promise), the
/// participant's requests go to the owner (`msg`), the owner's frames come back (`out`,
/// `close`), over the store's `NodeLink` (PostgreSQL NOTIFY). The server API's calls on a live
/// meeting (end, remove, the lobby answer, the live session) are relayed to the owner too.
///
/// Each node also holds a lease on its own name (`node:<id>`, under the empty API key), renewed
/// with its rooms': a peer whose lease lapsed is gone (killed, or cut off from the database).
/// Its participants relayed here leave their meetings; participants relayed to it are closed
/// with 1012, and join again wherever they connect (the next join takes the room over). A node
/// that took over a room ends the session the dead owner left in the store (the time log's
/// open stays end then), so one session at most is live per room.
///
/// With a store of one node (SQLite, memory) there is no link: every room is local.
final class Cluster: LiveMeetings, Sendable {
    /// A join the owner admitted for a participant connected here: `ref` names it in `open`.
    struct RemoteAdmission: Sendable {
        var ref: String?
        /// The owner's run that admitted it.
        var ownerIncarnation: String?
        var room: RoomRef
        var participantId: String
        var lobby: Bool
    }

    enum Route: Sendable, Equatable {
        case local
        case remote(owner: String)
    }

    typealias RelayID = UInt64

    let node: String
    let hub: MeetingHub
    private let link: (any NodeLink)?
    private let repositories: any Repositories
    private let joins: JoinService
    private let jobs: JobService
    private let links: PublicLinks
    private let metrics: Metrics
    private let logger: Logger

    /// How long a lease lasts unrenewed; renewed every `renewInterval`.
    static let leaseTime: TimeInterval = 3
    static let renewInterval: Duration = .seconds(1)
    /// How long a node waits for the owner's answer to a relayed call.
    static let callTimeout: Duration = .seconds(1)
    /// How long a join waits for a silent owner's lease to lapse (and the room to be taken
    /// over) before it is refused with 503.
    static let joinPatience: Duration = .milliseconds(4500)
    /// How long an owner keeps an admitted join for its `open`.
    static let admissionLifetime: TimeInterval = 15
    /// An owned room with no meeting for this long gives its lease up.
    static let idleRelease: TimeInterval = 2
    /// Requests of one relayed participant the owner holds before carrying them out (its node
    /// counts them against the `/rtc` budget first).
    static let remoteBacklog = 256
    /// Admitted joins waiting for their `open`, and calls waiting for an answer, at most.
    static let maxPending = 10_000

    private struct Relay {
        var owner: String
        /// The owner's incarnation, from its `admitted`: frames from another run of it are refused.
        var ownerIncarnation: String?
        var room: RoomRef
        var outlet: FrameOutlet
        var opened: Date
        var lost = false
    }

    private struct Admitted {
        var join: AdmittedJoin
        var from: String
        var incarnation: String
        var expires: Date
    }

    /// A participant relayed here: by its node's run and that node's connection id.
    private struct RemoteKey: Hashable {
        var node: String
        var incarnation: String
        var relay: RelayID
    }

    private struct Remote {
        var requests: AsyncStream<String>.Continuation
        var connection: ConnectionID
        var room: RoomRef
        var opened: Date
        /// The room moved (this node lost its lease): the close tells the relaying node so (1012).
        var moved = false
    }

    private struct Call {
        var node: String
        var continuation: CheckedContinuation<RelayMessage?, Never>
    }

    private struct State {
        /// Rooms whose lease this node holds, with when a join last used each.
        var owned: [RoomRef: Date] = [:]
        /// When the leases were last renewed: past `leaseTime` without, none is trusted.
        var renewedAt = Date()
        /// Leases renewed last round that this node did not know it held (released next round).
        var strays: Set<RoomRef> = []
        var calls: [UInt64: Call] = [:]
        /// Random start: a restarted node's ids do not meet its previous run's late answers.
        var nextCall = UInt64.random(in: 1...(1 << 62))
        /// Owner side: admitted joins waiting for their `open`, by ref.
        var admitted: [String: Admitted] = [:]
        /// Owner side: participants relayed from other nodes.
        var remotes: [RemoteKey: Remote] = [:]
        /// This side: connections relayed to their room's owner.
        var relays: [RelayID: Relay] = [:]
        var nextRelay = RelayID.random(in: 1...(1 << 62))
        /// Admissions and calls from other nodes being worked on.
        var working = 0
        /// Seconds the latest message from another node took.
        var lastLag: Double?
        /// The latest run seen of each peer: a message from another run means the peer restarted.
        var peerRuns: [String: String] = [:]
    }

    private let state = Mutex(State())
    private let broadcasts: AsyncStream<(RoomRef, JobEvent)>
    private let broadcastSink: AsyncStream<(RoomRef, JobEvent)>.Continuation

    init(
        node: String, hub: MeetingHub, link: (any NodeLink)?, repositories: any Repositories, joins: JoinService, jobs: JobService,
        links: PublicLinks, metrics: Metrics, logger: Logger
    ) {
        self.node = node
        self.hub = hub
        self.link = link
        self.repositories = repositories
        self.joins = joins
        self.jobs = jobs
        self.links = links
        self.metrics = metrics
        self.logger = logger
        (broadcasts, broadcastSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(10_000))
    }

    /// Whether other nodes may share the rooms (a store with a node link).
    var isShared: Bool { link != nil }

    /// Rooms this node owns now.
    var ownedRooms: Int { state.withLock { $0.owned.count } }

    /// Seconds the latest message from another node took (the sender's clock against this one's).
    var lastRelayLag: Double? { state.withLock { $0.lastLag } }

    /// Connections relayed to other nodes, and participants relayed here from other nodes.
    var relayCounts: (out: Int, in: Int) { state.withLock { ($0.relays.count, $0.remotes.count) } }

    private static func nodeLease(_ node: String) -> (apiKey: String, roomId: String) { ("", "node:" + node) }

    // MARK: Routing joins

    /// Whether this node may trust its own leases now: renewed within the lease's time (less a
    /// margin). A node cut off from the database stops counting itself the owner of anything
    /// before another node can take its rooms over.
    private static func fresh(_ state: State, now: Date) -> Bool {
        now.timeIntervalSince(state.renewedAt) < leaseTime - 0.5
    }

    /// Where `room`'s meeting runs: here (the lease taken or held), or on its owner.
    func route(_ room: RoomRef) async throws(AppError) -> Route {
        guard link != nil else { return .local }
        let now = Date()
        let held = state.withLock { state -> Bool in
            guard state.owned[room] != nil, Self.fresh(state, now: now) else { return false }
            state.owned[room] = now
            return true
        }
        if held { return .local }
        let lease: RoomLease
        do {
            lease = try await repositories.takeRoomLease(apiKey: room.apiKey, roomId: room.roomId, node: node, for: Self.leaseTime)
        } catch {
            logger.warning("could not read a room's lease", metadata: ["room": "\(room.roomId)", "error": "\(error)"])
            throw AppError(.unavailable, "The store did not answer; try again.")
        }
        guard lease.node == node else { return .remote(owner: lease.node) }
        let taken = state.withLock { state -> Bool in
            // Taking a lease is a renewal of it: the clock of trust restarts for this room at least.
            if !Self.fresh(state, now: now) { state.renewedAt = now }
            return state.owned.updateValue(now, forKey: room) == nil
        }
        if taken { await endOrphanedSessions(room, now: now) }
        return .local
    }

    /// Ends what a previous owner left live in the store for `room` (it died, or lost the
    /// lease): the session and each open stay end now. This node's own live session (a join
    /// that came meanwhile) is left alone; an ended session is final in the store, so a late
    /// write of the previous owner cannot bring it back.
    private func endOrphanedSessions(_ room: RoomRef, now: Date) async {
        // This node's own sessions of the room, written behind, are in the store first: an end of
        // its own still queued is not taken for a session left live (and ended now instead).
        await hub.sessionsWritten()
        do {
            let recent = try await repositories.sessions(apiKey: room.apiKey, roomId: room.roomId, page: 1, perPage: 5)
            for var session in recent.items where session.end == nil && session.id != hub.liveSession(room)?.id {
                for index in session.attendees.indices {
                    for stay in session.attendees[index].timelog.indices where session.attendees[index].timelog[stay].end == nil {
                        session.attendees[index].timelog[stay].end = now
                    }
                }
                session.end = now
                try await repositories.saveSession(session)
                logger.info("ended a session its node left live", metadata: ["room": "\(room.roomId)", "session": "\(session.id)"])
            }
        } catch {
            logger.warning("could not end a session a previous owner left live", metadata: ["room": "\(room.roomId)", "error": "\(error)"])
        }
    }

    /// What the owner said to a relayed admission.
    enum RelayedAdmission: Sendable {
        case admitted(RemoteAdmission)
        /// The owner no longer holds the room: route again.
        case moved
        /// No answer within `callTimeout` (the owner may be dead: its lease lapses soon).
        case silent
    }

    /// Relays the rest of admission to the room's owner. Throws the owner's refusal.
    func admit(_ query: JoinQuery, claims: Claims, room: RoomRef, owner: String, reserving: Bool) async throws -> RelayedAdmission {
        let message = RelayMessage(
            t: .admit, key: room.apiKey, room: room.roomId, claims: claims.json, join: RelayJoin(query), reserve: reserving)
        guard let reply = await call(message, to: owner) else { return .silent }
        if reply.moved == true { return .moved }
        if let status = reply.status {
            throw APIError(status: .init(code: status), body: reply.body ?? .object([]))
        }
        guard let participantId = reply.participantId else { throw AppError(.failed, "The room's node answered without a participant.") }
        return .admitted(
            RemoteAdmission(ref: reply.ref, ownerIncarnation: reply.from, room: room, participantId: participantId, lobby: reply.lobby ?? false))
    }

    // MARK: Relayed connections (this node, the owner elsewhere)

    /// Registers a connection relayed to `owner` and tells the owner to let it in.
    func openRelay(_ admitted: RemoteAdmission, owner: String, outlet: FrameOutlet) -> RelayID {
        let id = state.withLock { state in
            let id = state.nextRelay
            state.nextRelay += 1
            state.relays[id] = Relay(
                owner: owner, ownerIncarnation: admitted.ownerIncarnation, room: admitted.room, outlet: outlet, opened: Date())
            return id
        }
        send(RelayMessage(t: .open, c: id, ref: admitted.ref), to: owner)
        return id
    }

    /// A request of a relayed connection, counted here, for the owner.
    func forward(_ text: String, from relay: RelayID) {
        guard let owner = state.withLock({ $0.relays[relay]?.owner }) else { return }
        send(RelayMessage(t: .msg, c: relay, x: text), to: owner)
    }

    /// Whether a relayed connection was closed because its room moved (its owner went away, or
    /// lost the room): the client is told to join again (1012).
    func relayLost(_ relay: RelayID) -> Bool {
        state.withLock { $0.relays[relay]?.lost ?? false }
    }

    /// The relayed connection is gone: the owner hears it left (unless the owner is gone).
    func closeRelay(_ relay: RelayID) {
        guard let gone = state.withLock({ $0.relays.removeValue(forKey: relay) }), !gone.lost else { return }
        send(RelayMessage(t: .bye, c: relay), to: gone.owner)
    }

    // MARK: The server API on live meetings (LiveMeetings), wherever they run

    func liveSessionId(_ room: RoomRef) async -> String? {
        if let session = hub.liveSession(room) { return session.id }
        guard let owner = await remoteOwner(room) else { return nil }
        return await call(RelayMessage(t: .call, key: room.apiKey, room: room.roomId, op: .session), to: owner)?.session
    }

    func end(_ room: RoomRef, reason: LeaveReason) async -> Bool {
        await act(room, RelayMessage(t: .call, key: room.apiKey, room: room.roomId, op: .end)) { await self.hub.end(room, reason: reason) }
    }

    /// This node's meetings' session changes. Another node's are written by it, behind its
    /// events by its writer's wait (5 ms) and the statements before them: a few milliseconds
    /// with a healthy store, as long as the store takes when it is slow.
    func sessionsWritten() async {
        await hub.sessionsWritten()
    }

    func remove(_ room: RoomRef, participantId: String) async -> Bool {
        await act(room, RelayMessage(t: .call, key: room.apiKey, room: room.roomId, participantId: participantId, op: .remove)) {
            await self.hub.remove(room, participantId: participantId)
        }
    }

    /// The dashboard's lobby answer, on the owner's meeting.
    func answerEntry(_ room: RoomRef, participantId: String, allow: Bool) async -> Bool {
        await act(room, RelayMessage(t: .call, key: room.apiKey, room: room.roomId, participantId: participantId, op: .answer, allow: allow)) {
            await self.hub.answerEntry(room, participantId: participantId, allow: allow)
        }
    }

    /// Tells everyone in the room's meeting on its owner node a job's state (from the API or a
    /// worker's report to this node). Queued, so this node's events leave in the order given;
    /// the owner's `JobEventOrder` holds back one that arrives after a newer state of its job
    /// (from another node, or sent before a takeover).
    func broadcast(_ room: RoomRef, _ event: JobEvent) {
        if case .dropped = broadcastSink.yield((room, event)) {
            logger.warning("job events queue full: an event is dropped", metadata: ["room": "\(room.roomId)", "job": "\(event.id)"])
        }
    }

    /// Carries out the queued broadcasts in order: here when this node runs the room's meeting,
    /// else to the room's owner (found within 2 s).
    private func runBroadcasts() async {
        for await (room, event) in broadcasts {
            if hub.hasMeeting(room) {
                hub.broadcast(room, job: event)
                continue
            }
            if let owner = (try? await bounded { await self.remoteOwner(room) }) ?? nil {
                var message = RelayMessage(t: .call, key: room.apiKey, room: room.roomId, x: event.text, op: .broadcast)
                message.job = RelayJobStamp(id: event.id, kind: event.kind.rawValue, status: event.status.rawValue)
                send(message, to: owner)
            } else {
                hub.broadcast(room, job: event)
            }
        }
    }

    /// The live meetings other nodes own, as each answers for its own (within `callTimeout`;
    /// a node that does not answer is left out).
    func peerMeetings() async -> [RoomRef: JSONValue] {
        guard link != nil, let leases = try? await repositories.leases(apiKey: Self.nodeLease(node).apiKey) else { return [:] }
        let peers = leases.filter { $0.node != node && $0.live && $0.roomId == Self.nodeLease($0.node).roomId }.map(\.node)
        return await withTaskGroup(of: [JSONValue].self) { group in
            for peer in peers.prefix(64) {
                group.addTask { await self.call(RelayMessage(t: .call, op: .meetings), to: peer)?.meetings ?? [] }
            }
            var found: [RoomRef: JSONValue] = [:]
            for await meetings in group {
                for entry in meetings {
                    guard let key = entry["key"]?.stringValue, let room = entry["room"]?.stringValue, let live = entry["live"] else { continue }
                    found[RoomRef(apiKey: key, roomId: room)] = live
                }
            }
            return found
        }
    }

    /// Carries out `local` when the room's meeting is here (or nowhere), else asks its owner.
    private func act(_ room: RoomRef, _ message: RelayMessage, local: () async -> Bool) async -> Bool {
        if hub.hasMeeting(room) { return await local() }
        guard let owner = await remoteOwner(room) else { return await local() }
        return await call(message, to: owner)?.ok ?? false
    }

    /// The room's owner when it is another node with a live lease.
    private func remoteOwner(_ room: RoomRef) async -> String? {
        guard link != nil, let lease = try? await repositories.roomLease(apiKey: room.apiKey, roomId: room.roomId),
            lease.node != node, lease.live
        else { return nil }
        return lease.node
    }

    // MARK: Messages

    private func send(_ message: RelayMessage, to node: String) {
        guard let link, let line = message.line else { return }
        link.send(line, to: node)
    }

    /// Sends a call and waits for its answer (from the node called); nil after `callTimeout`.
    private func call(_ message: RelayMessage, to node: String) async -> RelayMessage? {
        guard link != nil else { return nil }
        let id = state.withLock { state -> UInt64? in
            guard state.calls.count < Self.maxPending else { return nil }
            defer { state.nextCall += 1 }
            return state.nextCall
        }
        guard let id else { return nil }
        var message = message
        message.rq = id
        let sent = message
        // The continuation is registered before the timer starts: the timer always finds it
        // (or its answer came first), so it is resumed exactly once.
        let timer = Mutex<Task<Void, Never>?>(nil)
        let reply = await withCheckedContinuation { continuation in
            state.withLock { $0.calls[id] = Call(node: node, continuation: continuation) }
            timer.withLock {
                $0 = Task {
                    try? await Task.sleep(for: Self.callTimeout)
                    self.answer(id, from: node, with: nil)
                }
            }
            send(sent, to: node)
        }
        timer.withLock { $0?.cancel() }
        return reply
    }

    private func answer(_ id: UInt64, from node: String, with reply: RelayMessage?) {
        let waiting = state.withLock { state -> Call? in
            guard state.calls[id]?.node == node else { return nil }
            return state.calls.removeValue(forKey: id)
        }
        waiting?.continuation.resume(returning: reply)
    }

    /// Runs the link, handles what comes, and keeps the leases, until shutdown.
    func run() async {
        guard let link else {
            try? await gracefulShutdown()
            return
        }
        await releaseLeftovers()
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await link.run() }
                group.addTask {
                    for await event in link.inbox {
                        switch event {
                        case .message(let message): self.receive(message)
                        case .lost(let from): self.lost(from: from)
                        }
                    }
                }
                group.addTask {
                    while (try? await Task.sleep(for: Self.renewInterval)) != nil { await self.maintain() }
                }
                group.addTask { await self.runBroadcasts() }
                await group.next()
                group.cancelAll()
            }
        }
        // Leaving: the rooms go at once rather than when their leases lapse.
        let owned = state.withLock { state -> [RoomRef] in
            defer { state.owned = [:] }
            return Array(state.owned.keys)
        }
        for room in owned { try? await repositories.releaseRoomLease(apiKey: room.apiKey, roomId: room.roomId, node: node) }
        let own = Self.nodeLease(node)
        try? await repositories.releaseRoomLease(apiKey: own.apiKey, roomId: own.roomId, node: node)
    }

    /// A node that starts holds no meeting: leases its id held before (a restart with the same
    /// `--node-id`) are given up, and its own name's lease taken.
    private func releaseLeftovers() async {
        let own = Self.nodeLease(node)
        do {
            for lease in try await repositories.renewRoomLeases(node: node, for: 0) where lease.apiKey != own.apiKey {
                try await repositories.releaseRoomLease(apiKey: lease.apiKey, roomId: lease.roomId, node: node)
            }
            _ = try await repositories.takeRoomLease(apiKey: own.apiKey, roomId: own.roomId, node: node, for: Self.leaseTime)
        } catch {
            logger.warning("could not take this node's lease; retrying", metadata: ["error": "\(error)"])
        }
    }

    /// `operation`, or an error after `limit`: no store call of the lease round may hang it.
    private func bounded<T: Sendable>(_ limit: Duration = .seconds(2), _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask { try await operation() }
            group.addTask {
                try await Task.sleep(for: limit)
                throw StoreError("the store did not answer within \(limit)")
            }
            guard let first = try await group.next() else { throw CancellationError() }
            group.cancelAll()
            return first
        }
    }

    /// Every second: renew the leases (and let go of rooms taken over meanwhile, or of every
    /// room once the leases could not be renewed for nearly their time), give up idle rooms,
    /// drop stale admissions, tell peers which relays this node holds with them, and let go of
    /// peers whose node lease lapsed.
    private func maintain() async {
        let now = Date()
        let own = Self.nodeLease(node)
        let (node, repositories, leaseTime) = (self.node, self.repositories, Self.leaseTime)
        var lost: [RoomRef] = []
        var strays: [RoomRef] = []
        do {
            let renewed = try await bounded {
                // The node's own lease is taken again when it lapsed (a stall longer than a lease).
                _ = try await repositories.takeRoomLease(apiKey: own.apiKey, roomId: own.roomId, node: node, for: leaseTime)
                return try await repositories.renewRoomLeases(node: node, for: leaseTime)
            }
            let held = Set(renewed.filter { $0.apiKey != own.apiKey }.map { RoomRef(apiKey: $0.apiKey, roomId: $0.roomId) })
            (lost, strays) = state.withLock { state in
                state.renewedAt = now
                let gone = state.owned.keys.filter { !held.contains($0) }
                for room in gone { state.owned[room] = nil }
                // Renewed but not known here twice in a row (a failed release, a lease dropped
                // after an error): released. Once could be a join between its take and `owned`.
                let unknown = held.filter { state.owned[$0] == nil }
                let release = unknown.filter(state.strays.contains)
                state.strays = unknown.subtracting(release)
                return (gone, Array(release))
            }
        } catch {
            // Not renewed for nearly a lease's time: another node may own these rooms soon.
            lost = state.withLock { state in
                guard !Self.fresh(state, now: now) else { return [] }
                defer { state.owned = [:] }
                return Array(state.owned.keys)
            }
            logger.warning("could not renew the room leases", metadata: ["error": "\(error)"])
        }
        for room in lost {
            logger.warning("lost the lease of a live room: its participants join again", metadata: ["room": "\(room.roomId)"])
            state.withLock { state in
                for key in state.remotes.keys where state.remotes[key]?.room == room { state.remotes[key]?.moved = true }
            }
            _ = await hub.end(room, reason: .websocketDisconnected)
        }
        for room in strays { try? await repositories.releaseRoomLease(apiKey: room.apiKey, roomId: room.roomId, node: node) }
        let idle = state.withLock { state in
            state.admitted = state.admitted.filter { $0.value.expires > now }
            return state.owned.filter { now.timeIntervalSince($0.value) > Self.idleRelease }.map(\.key)
        }
        for room in idle where !hub.hasMeeting(room) {
            // Checked again under the lock: a join may have used the room meanwhile.
            let release = state.withLock { state -> Bool in
                guard let used = state.owned[room], now.timeIntervalSince(used) > Self.idleRelease, !hub.hasMeeting(room) else { return false }
                state.owned[room] = nil
                return true
            }
            if release { try? await repositories.releaseRoomLease(apiKey: room.apiKey, roomId: room.roomId, node: node) }
        }
        sendHolds()
        await checkPeers(now: now)
        if Int(now.timeIntervalSince1970) % 60 == 0 {
            // Own leases of nodes gone for an hour (random node ids leave one each).
            try? await repositories.deleteLapsedLeases(apiKey: own.apiKey, olderThan: 3600)
        }
        metrics.cluster(ownedRooms: ownedRooms, relays: relayCounts)
    }

    /// Tells each peer which relays this node holds with it: as the relaying node (`relays`)
    /// and as the owner (`remotes`). A peer drops what the other side no longer holds, so a
    /// lost `open`, `bye` or `close` leaves nothing behind for more than a few seconds.
    private func sendHolds() {
        let (relays, remotes) = state.withLock { state -> ([String: [RelayID]], [String: [RelayID]]) in
            var relays: [String: [RelayID]] = [:]
            for (id, relay) in state.relays where !relay.lost { relays[relay.owner, default: []].append(id) }
            var remotes: [String: [RelayID]] = [:]
            for key in state.remotes.keys { remotes[key.node, default: []].append(key.relay) }
            return (relays, remotes)
        }
        for (owner, ids) in relays { send(RelayMessage(t: .relays, cs: ids), to: owner) }
        for (peer, ids) in remotes { send(RelayMessage(t: .remotes, cs: ids), to: peer) }
    }

    /// Relays older than this are dropped when the other side does not hold them (younger ones
    /// may be on their way).
    static let holdGrace: TimeInterval = 3

    /// `peer` restarted (a message came from another run of it): what this node held with its
    /// previous run `run` is gone. Its relayed participants leave; relays to it close (1012).
    private func restarted(_ peer: String, run: String) {
        logger.warning("another node restarted: what was relayed with its previous run goes", metadata: ["peer": "\(peer)"])
        let (finished, closing) = state.withLock { state -> ([AsyncStream<String>.Continuation], [FrameOutlet]) in
            var finished: [AsyncStream<String>.Continuation] = []
            for (key, remote) in state.remotes where key.node == peer && key.incarnation == run {
                state.remotes[key] = nil
                finished.append(remote.requests)
            }
            var closing: [FrameOutlet] = []
            for (id, relay) in state.relays where relay.owner == peer && relay.ownerIncarnation == run && !relay.lost {
                state.relays[id]?.lost = true
                closing.append(relay.outlet)
            }
            return (finished, closing)
        }
        for requests in finished { requests.finish() }
        close(closing)
    }

    /// A peer's list of the relays it holds with this node.
    private func reconcile(_ message: RelayMessage, from peer: String, incarnation: String) {
        let listed = Set(message.cs ?? [])
        let now = Date()
        var finished: [AsyncStream<String>.Continuation] = []
        var closing: [FrameOutlet] = []
        var unknown: [RelayID] = []
        state.withLock { state in
            switch message.t {
            case .relays:
                // The peer relays these to this node: ones this node does not run are closed there.
                for key in state.remotes.keys where key.node == peer && !listed.contains(key.relay) {
                    if let remote = state.remotes[key], now.timeIntervalSince(remote.opened) > Self.holdGrace {
                        state.remotes[key] = nil
                        finished.append(remote.requests)
                    }
                }
                unknown = listed.filter { state.remotes[RemoteKey(node: peer, incarnation: incarnation, relay: $0)] == nil }
            case .remotes:
                // The peer runs these for this node: ones no longer here leave there; relays here it does not run close.
                unknown = listed.filter { state.relays[$0]?.owner != peer }
                for (id, relay) in state.relays where relay.owner == peer && !relay.lost && !listed.contains(id) {
                    if now.timeIntervalSince(relay.opened) > Self.holdGrace {
                        state.relays[id]?.lost = true
                        closing.append(relay.outlet)
                    }
                }
            default:
                break
            }
        }
        for requests in finished { requests.finish() }
        close(closing)
        for id in unknown { send(RelayMessage(t: message.t == .relays ? .close : .bye, c: id, lost: true), to: peer) }
    }

    /// Closes relayed connections whose room moved (1012), after what was written to them.
    private func close(_ outlets: [FrameOutlet]) {
        guard !outlets.isEmpty else { return }
        var fanout = Fanout()
        for outlet in outlets { fanout.close(outlet) }
        fanout.send()
    }

    /// Peers this node relays for or to whose own lease lapsed (or is gone) are gone: their
    /// participants here leave, and connections relayed to them close (1012) to join again.
    private func checkPeers(now: Date) async {
        let peers = state.withLock { state in Set(state.remotes.keys.map(\.node)).union(state.relays.values.map(\.owner)) }
        for peer in peers {
            let lease = Self.nodeLease(peer)
            let repositories = self.repositories
            let found: RoomLease?
            do {
                found = try await bounded { try await repositories.roomLease(apiKey: lease.apiKey, roomId: lease.roomId) }
            } catch {
                continue  // the store is the problem, not the peer
            }
            if let found, found.node == peer, found.live { continue }
            logger.warning("a node stopped renewing its lease: its relayed participants go", metadata: ["peer": "\(peer)"])
            lost(from: peer)
        }
    }

    /// Messages from `peer` (or from anyone: nil) may have been lost, or the peer is gone: what
    /// depends on them is let go. Its participants relayed here leave their meetings;
    /// connections relayed to it close with 1012, and their clients join again.
    private func lost(from peer: String?) {
        let (remotes, relays) = state.withLock { state -> ([AsyncStream<String>.Continuation], [FrameOutlet]) in
            var remotes: [AsyncStream<String>.Continuation] = []
            for (key, remote) in state.remotes where peer == nil || key.node == peer {
                state.remotes[key] = nil
                remotes.append(remote.requests)
            }
            var outlets: [FrameOutlet] = []
            for (id, relay) in state.relays where (peer == nil || relay.owner == peer) && !relay.lost {
                state.relays[id]?.lost = true
                outlets.append(relay.outlet)
            }
            return (remotes, outlets)
        }
        guard !remotes.isEmpty || !relays.isEmpty else { return }
        logger.warning("messages from another node may have been lost, or it is gone: its relays are closed", metadata: ["peer": "\(peer ?? "any")"])
        for remote in remotes { remote.finish() }
        close(relays)
    }

    /// One message from another node. Messages about one connection are handled here in order
    /// (a stream per relayed participant); admissions and calls, which wait on the store or a
    /// meeting, each on a task of their own (at most `maxPending` at once).
    private func receive(_ message: NodeMessage) {
        let lag = Date().timeIntervalSince(message.sentAt)
        metrics.relayLag(lag)
        state.withLock { $0.lastLag = lag }
        guard var relayed = RelayMessage(line: message.text) else {
            logger.warning("dropped a node message not understood", metadata: ["from": "\(message.from)"])
            return
        }
        relayed.from = message.incarnation
        let (from, incarnation) = (message.from, message.incarnation)
        let previous = state.withLock { state -> String? in
            guard state.peerRuns.count < Self.maxPending || state.peerRuns[from] != nil else { return nil }
            return state.peerRuns.updateValue(incarnation, forKey: from)
        }
        if let previous, previous != incarnation { restarted(from, run: previous) }
        switch relayed.t {
        case .call where relayed.op == .broadcast:
            // In order, here: a job's state events must not overtake each other.
            if let apiKey = relayed.key, let roomId = relayed.room, let text = relayed.x, let stamp = relayed.job,
                let kind = JobKind(rawValue: stamp.kind), let status = JobStatus(rawValue: stamp.status)
            {
                hub.broadcast(RoomRef(apiKey: apiKey, roomId: roomId), job: JobEvent(id: stamp.id, kind: kind, status: status, text: text))
            }
        case .admit, .call:
            let accepted = state.withLock { state -> Bool in
                guard state.working < Self.maxPending else { return false }
                state.working += 1
                return true
            }
            guard accepted else {
                var busy = RelayMessage(t: relayed.t == .admit ? .admitted : .result, rq: relayed.rq)
                busy.status = 503
                busy.body = APIError(.serviceUnavailable, "The room's node is too busy; join again.").body
                send(busy, to: from)
                return
            }
            Task {
                if relayed.t == .admit {
                    await self.admitRelayed(relayed, from: from, incarnation: incarnation)
                } else {
                    await self.answerCall(relayed, from: from)
                }
                self.state.withLock { $0.working -= 1 }
            }
        case .admitted, .result:
            if let id = relayed.rq { answer(id, from: from, with: relayed) }
        case .open:
            openRemote(relayed, from: from, incarnation: incarnation)
        case .msg:
            guard let relay = relayed.c, let text = relayed.x else { return }
            let key = RemoteKey(node: from, incarnation: incarnation, relay: relay)
            guard let requests = state.withLock({ $0.remotes[key]?.requests }), case .dropped = requests.yield(text) else { return }
            // Over the backlog: refused as a local connection's media backlog is (429).
            if case .success(let (id, _)) = RTCMessage.request(text) {
                let body = RTCErrorBody(.tooManyRequests, reason: "at most \(Self.remoteBacklog) requests may wait")
                send(RelayMessage(t: .out, c: relay, xs: [RTCReply(id: id, error: body).text]), to: from)
            }
        case .bye:
            guard let relay = relayed.c else { return }
            state.withLock { $0.remotes.removeValue(forKey: RemoteKey(node: from, incarnation: incarnation, relay: relay)) }?.requests.finish()
        case .out, .close:
            // Only the relay's owner, in the run that admitted it, writes to it.
            guard let id = relayed.c else { return }
            let outlet = state.withLock { state -> FrameOutlet? in
                guard let relay = state.relays[id], relay.owner == from, relay.ownerIncarnation == nil || relay.ownerIncarnation == incarnation
                else { return nil }
                if relayed.t == .close, relayed.lost == true { state.relays[id]?.lost = true }
                return relay.outlet
            }
            guard let outlet else { return }
            var fanout = Fanout()
            for text in relayed.xs ?? [] { fanout.write(FrameOutlet.textFrame(text), to: outlet) }
            if relayed.t == .close { fanout.close(outlet) }
            fanout.send()
        case .relays, .remotes:
            reconcile(relayed, from: from, incarnation: incarnation)
        }
    }

    /// Owner side: the rest of admission for a participant connected to `from`.
    private func admitRelayed(_ message: RelayMessage, from: String, incarnation: String) async {
        var reply = RelayMessage(t: .admitted, rq: message.rq)
        defer { send(reply, to: from) }
        guard let apiKey = message.key, let roomId = message.room, let claims = message.claims.flatMap(Claims.init(relayed:)),
            claims.apiKey == apiKey, let join = message.join
        else {
            reply.status = 400
            reply.body = APIError(.badRequest, "The node relaying this join sent it incomplete.").body
            return
        }
        let room = RoomRef(apiKey: apiKey, roomId: roomId)
        do {
            guard try await route(room) == .local else {
                reply.moved = true
                return
            }
            let reserving = message.reserve ?? false
            let admitted = try await joins.admit(join.query(roomId: roomId), claims: claims, reserving: reserving)
            reply.participantId = admitted.participantId
            reply.lobby = admitted.lobby
            guard reserving else { return }
            let ref = Identifiers.hex(16)
            let kept = state.withLock { state -> Bool in
                guard state.admitted.count < Self.maxPending else { return false }
                state.admitted[ref] = Admitted(
                    join: admitted, from: from, incarnation: incarnation, expires: Date().addingTimeInterval(Self.admissionLifetime))
                return true
            }
            if kept {
                reply.ref = ref
            } else {
                reply.participantId = nil
                reply.status = 503
                reply.body = APIError(.serviceUnavailable, "Too many joins at once; join again.").body
            }
        } catch let error as AppError {
            let refusal = APIError(error)
            reply.status = Int(refusal.status.code)
            reply.body = refusal.body
        } catch let error as APIError {
            reply.status = Int(error.status.code)
            reply.body = error.body
        } catch {
            reply.status = 500
            reply.body = APIError(.internalServerError, "The join could not be admitted.").body
        }
    }

    /// Owner side: a relayed participant's connection opens; it runs here as a local one would,
    /// its frames going back through the link. Refused (closed there) when the admission is
    /// unknown, expired, another node's or run's, or the room is no longer this node's.
    private func openRemote(_ message: RelayMessage, from: String, incarnation: String) {
        guard let relay = message.c else { return }
        let now = Date()
        let admitted = state.withLock { state -> Admitted? in
            guard let ref = message.ref, let admitted = state.admitted[ref], admitted.from == from, admitted.incarnation == incarnation
            else { return nil }
            state.admitted[ref] = nil
            guard state.owned[admitted.join.room] != nil, Self.fresh(state, now: now) else { return nil }
            return admitted
        }
        guard let admitted else {
            send(RelayMessage(t: .close, c: relay, lost: true), to: from)
            return
        }
        let join = admitted.join
        let key = RemoteKey(node: from, incarnation: incarnation, relay: relay)
        let outlet = FrameOutlet.relaying(on: MultiThreadedEventLoopGroup.singleton.next()) { [weak self] texts, close in
            guard let self else { return }
            if !texts.isEmpty { self.send(RelayMessage(t: .out, c: relay, xs: texts), to: from) }
            if close {
                let moved = self.state.withLock { $0.remotes[key]?.moved ?? false }
                self.send(RelayMessage(t: .close, c: relay, lost: moved ? true : nil), to: from)
            }
        }
        let (requests, sink) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingOldest(Self.remoteBacklog))
        // Closed by the hub: the requests still relayed are not carried out.
        outlet.whenClosed { sink.finish() }
        let hub = self.hub
        let connection = hub.open(room: join.room, config: join.config, outlet: outlet, participantHooks: join.participantHooks)
        state.withLock { $0.remotes[key] = Remote(requests: sink, connection: connection, room: join.room, opened: now) }
        let runner = RTCController.RequestRunner(connection: connection, hub: hub, jobs: jobs, links: links)
        Task {
            await hub.arrive(
                connection, lobby: join.lobby, participantId: join.participantId, name: join.name, claims: join.claims, mic: join.mic,
                webcam: join.webcam)
            for await text in requests {
                guard !outlet.isCloseRequested else { break }
                if case .success(let (id, request)) = RTCMessage.request(text) { await runner.run(request, id: id) }
            }
            runner.stop()
            sink.finish()
            self.state.withLock { state in
                // This connection's entry only: keys carry the relaying node's run, whose ids only grow.
                if state.remotes[key]?.connection == connection { state.remotes[key] = nil }
            }
            await hub.disconnected(connection)
        }
    }

    /// Owner side: the server API's call on a live meeting, from another node.
    private func answerCall(_ message: RelayMessage, from: String) async {
        var reply = RelayMessage(t: .result, rq: message.rq)
        defer { send(reply, to: from) }
        if message.op == .meetings {
            reply.meetings = hub.liveRooms.prefix(OverviewController.maxRooms).compactMap { ref in
                hub.snapshot(ref).map { snapshot in
                    .object([
                        JSONMember("key", .string(ref.apiKey)), JSONMember("room", .string(ref.roomId)),
                        JSONMember("live", OverviewController.live(snapshot)),
                    ])
                }
            }
            return
        }
        guard let apiKey = message.key, let roomId = message.room, let op = message.op else { return }
        let room = RoomRef(apiKey: apiKey, roomId: roomId)
        switch op {
        case .session: reply.session = hub.liveSession(room)?.id
        case .end: reply.ok = await hub.end(room, reason: .meetingEndAPI)
        case .remove: reply.ok = await message.participantId.asyncMap { await hub.remove(room, participantId: $0) } ?? false
        case .answer:
            reply.ok = await message.participantId.asyncMap { await hub.answerEntry(room, participantId: $0, allow: message.allow ?? false) } ?? false
        case .broadcast, .meetings:
            break
        }
    }
}

/// The cluster, for what is made before it (the job service's port).
final class LateCluster: Sendable {
    private let cluster = Mutex<Cluster?>(nil)
    var value: Cluster? { cluster.withLock { $0 } }
    func set(_ value: Cluster) { cluster.withLock { $0 = value } }
}

/// Runs the cluster with the server: the link, the leases, the peers' liveness.
struct ClusterRunner: Service {
    let cluster: Cluster

    func run() async throws {
        await cluster.run()
    }
}

extension Optional {
    fileprivate func asyncMap<T>(_ transform: (Wrapped) async -> T) async -> T? {
        guard let value = self else { return nil }
        return await transform(value)
    }
}

/// One message between nodes: a JSON object on one line. `t` says what it is:
/// - `admit` (to the owner) / `admitted`: the rest of admission, the seat promised; `ref`
///   names the join for `open`, or `status` and `body` carry the refusal, or `moved`;
/// - `open`, `msg`, `bye` (to the owner): the relayed connection `c` opens, sends a request, leaves;
/// - `out`, `close` (from the owner): frames for connection `c`, then perhaps its close (`lost`:
///   the room moved, the client should join again);
/// - `call` / `result`: the server API on a live meeting (`op`), answered with `ok` or `session`;
/// - `relays`, `remotes` (each second): the relays a node holds with the receiver, as the
///   relaying node and as the owner (`cs`), so each side drops what the other lost.
/// Field names are short: a relayed event travels in one, and many fit a notification.
struct RelayMessage: Codable, Sendable {
    enum Kind: String, Codable, Sendable {
        case admit, admitted, open, msg, bye, out, close, call, result, relays, remotes
    }
    enum Operation: String, Codable, Sendable {
        /// `broadcast` carries a text frame for everyone in the meeting (a job's state); no answer.
        /// `meetings` asks for the node's live meetings (the dashboard's Rooms page).
        case session, end, remove, answer, broadcast, meetings
    }

    /// What the message is (`Kind`).
    var t: Kind
    /// A call's id, echoed by its answer.
    var rq: UInt64? = nil
    /// The relayed connection, by the relaying node's id for it.
    var c: RelayID? = nil
    /// An admitted join's name, for its `open`.
    var ref: String? = nil
    /// The room: its API key and id.
    var key: String? = nil
    var room: String? = nil
    /// The token's claims (verified where the participant connected), for `admit`.
    var claims: JSONValue? = nil
    /// The join's query without its token, for `admit`.
    var join: RelayJoin? = nil
    /// Whether admission promises the seat (an upgrade) or only answers (validate).
    var reserve: Bool? = nil
    /// One request's text (`msg`).
    var x: String? = nil
    /// Frames' texts (`out`).
    var xs: [String]? = nil
    /// Connection ids (`relays`, `remotes`).
    var cs: [RelayID]? = nil
    var participantId: String? = nil
    var op: Operation? = nil
    /// The lobby answer (`call` `answer`).
    var allow: Bool? = nil
    /// A refusal's HTTP status and body (`admitted`).
    var status: Int? = nil
    var body: JSONValue? = nil
    var lobby: Bool? = nil
    /// The owner no longer holds the room (`admitted`).
    var moved: Bool? = nil
    /// The room moved (`close`): the client is told to join again (1012).
    var lost: Bool? = nil
    var ok: Bool? = nil
    var session: String? = nil
    /// Live meetings as the Rooms page shows them (`meetings`): `[{"key", "room", "live"}]`.
    var meetings: [JSONValue]? = nil
    /// The job whose state a `broadcast` tells (its order on the owner).
    var job: RelayJobStamp? = nil
    /// The sender's run, set on receipt from the link's header (never sent).
    var from: String? = nil

    private enum CodingKeys: String, CodingKey {
        case t, rq, c, ref, key, room, claims, join, reserve, x, xs, cs, participantId, op, allow, status, body, lobby, moved, lost, ok, session,
            meetings, job
    }

    typealias RelayID = Cluster.RelayID

    var line: String? {
        (try? Self.encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) }
    }

    init(
        t: Kind, rq: UInt64? = nil, c: RelayID? = nil, ref: String? = nil, key: String? = nil, room: String? = nil, claims: JSONValue? = nil,
        join: RelayJoin? = nil, reserve: Bool? = nil, x: String? = nil, xs: [String]? = nil, cs: [RelayID]? = nil, participantId: String? = nil,
        op: Operation? = nil, allow: Bool? = nil, lost: Bool? = nil
    ) {
        self.t = t
        self.rq = rq
        self.c = c
        self.ref = ref
        self.key = key
        self.room = room
        self.claims = claims
        self.join = join
        self.reserve = reserve
        self.x = x
        self.xs = xs
        self.cs = cs
        self.participantId = participantId
        self.op = op
        self.allow = allow
        self.lost = lost
    }

    init?(line: String) {
        guard let decoded = try? Self.decoder.decode(RelayMessage.self, from: Data(line.utf8)) else { return nil }
        self = decoded
    }

    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()
}

/// A job event's job, kind and status (`JobKind`, `JobStatus` raw values), for `broadcast`.
struct RelayJobStamp: Codable, Sendable {
    var id: String
    var kind: String
    var status: String
}

/// A join's query as the owner needs it: everything but the token (verified where it came).
struct RelayJoin: Codable, Sendable {
    var roomId: String?
    var participantId: String?
    var name: String?
    var origin: String?
    var maxSendBitrate: String?
    var micEnabled: String?
    var webcamEnabled: String?

    init(_ query: JoinQuery) {
        roomId = query.roomId
        participantId = query.participantId
        name = query.name
        origin = query.origin
        maxSendBitrate = query.maxSendBitrate
        micEnabled = query.micEnabled
        webcamEnabled = query.webcamEnabled
    }

    func query(roomId canonical: String) -> JoinQuery {
        JoinQuery(
            token: nil, roomId: roomId ?? canonical, participantId: participantId, name: name, origin: origin, maxSendBitrate: maxSendBitrate,
            micEnabled: micEnabled, webcamEnabled: webcamEnabled)
    }
}

extension Claims {
    /// Claims as `json` wrote them, read back on the owner of a relayed join (the token was
    /// verified where the participant connected; these are not a credential).
    init?(relayed json: JSONValue) {
        guard let apiKey = json["apikey"]?.stringValue, let expiresAt = json["exp"]?.doubleValue,
            case .array(let permissionNames)? = json["permissions"],
            let permissions = try? Permissions(names: permissionNames.compactMap(\.stringValue))
        else { return nil }
        self.init(apiKey: apiKey, permissions: permissions, lifetime: 0, now: 0)
        self.expiresAt = expiresAt
        issuedAt = json["iat"]?.doubleValue
        notBefore = json["nbf"]?.doubleValue
        version = json["version"]?.integerValue
        roomId = json["roomId"]?.stringValue
        participantId = json["participantId"]?.stringValue
        jwtID = json["jti"]?.stringValue
        if case .array(let roleNames)? = json["roles"] {
            guard let roles = try? Roles(names: roleNames.compactMap(\.stringValue)) else { return nil }
            self.roles = roles
        } else {
            roles = nil
        }
    }
}
