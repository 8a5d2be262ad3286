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
        var room: RoomRef
        var outlet: FrameOutlet
        var lost = false
    }

    private struct Admitted {
        var join: AdmittedJoin
        var from: String
        var expires: Date
    }

    private struct RemoteKey: Hashable {
        var node: String
        var relay: RelayID
    }

    private struct State {
        /// Rooms whose lease this node holds, with when a join last used each.
        var owned: [RoomRef: Date] = [:]
        var renewedAt = Date()
        var calls: [UInt64: CheckedContinuation<RelayMessage?, Never>] = [:]
        var nextCall: UInt64 = 1
        /// Owner side: admitted joins waiting for their `open`, by ref.
        var admitted: [String: Admitted] = [:]
        /// Owner side: the request streams of participants relayed from other nodes.
        var remotes: [RemoteKey: AsyncStream<String>.Continuation] = [:]
        /// This side: connections relayed to their room's owner.
        var relays: [RelayID: Relay] = [:]
        var nextRelay: RelayID = 1
        /// Seconds the latest message from another node took.
        var lastLag: Double?
    }

    private let state = Mutex(State())

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

    /// Where `room`'s meeting runs: here (the lease taken or held), or on its owner.
    func route(_ room: RoomRef) async throws(AppError) -> Route {
        guard link != nil else { return .local }
        let now = Date()
        let held = state.withLock { state -> Bool in
            guard state.owned[room] != nil else { return false }
            state.owned[room] = now
            return true
        }
        if held { return .local }
        let lease: RoomLease
        do {
            lease = try await repositories.takeRoomLease(
                apiKey: room.apiKey, roomId: room.roomId, node: node, until: now.addingTimeInterval(Self.leaseTime), now: now)
        } catch {
            logger.warning("could not read a room's lease", metadata: ["room": "\(room.roomId)", "error": "\(error)"])
            throw AppError(.unavailable, "The store did not answer; try again.")
        }
        guard lease.node == node else { return .remote(owner: lease.node) }
        let fresh = state.withLock { $0.owned.updateValue(now, forKey: room) == nil }
        if fresh, hub.liveSession(room) == nil { await endOrphanedSessions(room, now: now) }
        return .local
    }

    /// Ends what a previous owner left live in the store for `room` (it died, or lost the
    /// lease): the session and each open stay end now.
    private func endOrphanedSessions(_ room: RoomRef, now: Date) async {
        do {
            let recent = try await repositories.sessions(apiKey: room.apiKey, roomId: room.roomId, page: 1, perPage: 5)
            for var session in recent.items where session.end == nil {
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
        return .admitted(RemoteAdmission(ref: reply.ref, room: room, participantId: participantId, lobby: reply.lobby ?? false))
    }

    // MARK: Relayed connections (this node, the owner elsewhere)

    /// Registers a connection relayed to `owner` and tells the owner to let it in.
    func openRelay(_ admitted: RemoteAdmission, owner: String, outlet: FrameOutlet) -> RelayID {
        let id = state.withLock { state in
            let id = state.nextRelay
            state.nextRelay += 1
            state.relays[id] = Relay(owner: owner, room: admitted.room, outlet: outlet)
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

    /// Whether a relayed connection was closed because its owner went away.
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

    /// Carries out `local` when the room's meeting is here (or nowhere), else asks its owner.
    private func act(_ room: RoomRef, _ message: RelayMessage, local: () async -> Bool) async -> Bool {
        if hub.hasMeeting(room) { return await local() }
        guard let owner = await remoteOwner(room) else { return await local() }
        return await call(message, to: owner)?.ok ?? false
    }

    /// The room's owner when it is another node with a live lease.
    private func remoteOwner(_ room: RoomRef) async -> String? {
        guard link != nil, let lease = try? await repositories.roomLease(apiKey: room.apiKey, roomId: room.roomId),
            lease.node != node, lease.until >= Date()
        else { return nil }
        return lease.node
    }

    // MARK: Messages

    private func send(_ message: RelayMessage, to node: String) {
        guard let link, let line = message.line else { return }
        link.send(line, to: node)
    }

    /// Sends a call and waits for its answer; nil after `callTimeout`.
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
        let timer = Task {
            try? await Task.sleep(for: Self.callTimeout)
            self.answer(id, with: nil)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { continuation in
            state.withLock { $0.calls[id] = continuation }
            send(sent, to: node)
        }
    }

    private func answer(_ id: UInt64, with reply: RelayMessage?) {
        state.withLock { $0.calls.removeValue(forKey: id) }?.resume(returning: reply)
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
                    for await message in link.inbox { self.receive(message) }
                }
                group.addTask {
                    while (try? await Task.sleep(for: Self.renewInterval)) != nil { await self.maintain() }
                }
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
        let now = Date()
        let own = Self.nodeLease(node)
        do {
            for lease in try await repositories.renewRoomLeases(node: node, until: now) where lease.apiKey != own.apiKey {
                try await repositories.releaseRoomLease(apiKey: lease.apiKey, roomId: lease.roomId, node: node)
            }
            _ = try await repositories.takeRoomLease(
                apiKey: own.apiKey, roomId: own.roomId, node: node, until: now.addingTimeInterval(Self.leaseTime), now: now)
        } catch {
            logger.warning("could not take this node's lease; retrying", metadata: ["error": "\(error)"])
        }
    }

    /// Every second: renew the leases (and let go of rooms taken over meanwhile), give up idle
    /// rooms, drop stale admissions, and let go of peers whose node lease lapsed.
    private func maintain() async {
        let now = Date()
        let own = Self.nodeLease(node)
        var lost: [RoomRef] = []
        do {
            // The node's own lease is taken again when it lapsed (a stall longer than a lease).
            _ = try await repositories.takeRoomLease(
                apiKey: own.apiKey, roomId: own.roomId, node: node, until: now.addingTimeInterval(Self.leaseTime), now: now)
            let renewed = Set(
                try await repositories.renewRoomLeases(node: node, until: now.addingTimeInterval(Self.leaseTime)).map {
                    RoomRef(apiKey: $0.apiKey, roomId: $0.roomId)
                })
            lost = state.withLock { state in
                state.renewedAt = now
                let gone = state.owned.keys.filter { !renewed.contains($0) }
                for room in gone { state.owned[room] = nil }
                return gone
            }
        } catch {
            // Not renewed for a lease's time: another node may own these rooms by now.
            lost = state.withLock { state in
                guard now.timeIntervalSince(state.renewedAt) >= Self.leaseTime - 0.5 else { return [] }
                defer { state.owned = [:] }
                return Array(state.owned.keys)
            }
            logger.warning("could not renew the room leases", metadata: ["error": "\(error)"])
        }
        for room in lost {
            logger.warning("lost the lease of a live room: its participants join again", metadata: ["room": "\(room.roomId)"])
            _ = await hub.end(room, reason: .websocketDisconnected)
        }
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
        await checkPeers(now: now)
        metrics.cluster(ownedRooms: ownedRooms, relays: relayCounts)
    }

    /// Peers this node relays for or to whose own lease lapsed are gone: their participants
    /// here leave, and connections relayed to them close (1012) to join again.
    private func checkPeers(now: Date) async {
        let peers = state.withLock { state in Set(state.remotes.keys.map(\.node)).union(state.relays.values.map(\.owner)) }
        for peer in peers {
            let lease = Self.nodeLease(peer)
            guard let found = try? await repositories.roomLease(apiKey: lease.apiKey, roomId: lease.roomId) else { continue }
            if found.node == peer, found.until >= now { continue }
            logger.warning("a node stopped renewing its lease: its relayed participants go", metadata: ["peer": "\(peer)"])
            peerGone(peer)
        }
    }

    private func peerGone(_ peer: String) {
        let (remotes, relays) = state.withLock { state -> ([AsyncStream<String>.Continuation], [FrameOutlet]) in
            let remotes = state.remotes.filter { $0.key.node == peer }
            for key in remotes.keys { state.remotes[key] = nil }
            var outlets: [FrameOutlet] = []
            for (id, relay) in state.relays where relay.owner == peer && !relay.lost {
                state.relays[id]?.lost = true
                outlets.append(relay.outlet)
            }
            return (Array(remotes.values), outlets)
        }
        for remote in remotes { remote.finish() }
        var fanout = Fanout()
        for outlet in relays { fanout.close(outlet) }
        fanout.send()
    }

    /// One message from another node. Messages about one connection are handled here in order
    /// (a stream per relayed participant); admissions and calls, which wait on the store or a
    /// meeting, each on a task of their own.
    private func receive(_ message: NodeMessage) {
        let lag = Date().timeIntervalSince(message.sentAt)
        metrics.relayLag(lag)
        state.withLock { $0.lastLag = lag }
        guard let relayed = RelayMessage(line: message.text) else {
            logger.warning("dropped a node message not understood", metadata: ["from": "\(message.from)"])
            return
        }
        let from = message.from
        switch relayed.t {
        case .admit:
            Task { await self.admitRelayed(relayed, from: from) }
        case .call:
            Task { await self.answerCall(relayed, from: from) }
        case .admitted, .result:
            if let id = relayed.rq { answer(id, with: relayed) }
        case .open:
            openRemote(relayed, from: from)
        case .msg:
            guard let relay = relayed.c, let text = relayed.x else { return }
            _ = state.withLock { $0.remotes[RemoteKey(node: from, relay: relay)] }?.yield(text)
        case .bye:
            guard let relay = relayed.c else { return }
            state.withLock { $0.remotes.removeValue(forKey: RemoteKey(node: from, relay: relay)) }?.finish()
        case .out, .close:
            // Only the relay's owner writes to it.
            guard let id = relayed.c, let outlet = state.withLock({ $0.relays[id].flatMap { $0.owner == from ? $0.outlet : nil } }) else { return }
            var fanout = Fanout()
            for text in relayed.xs ?? [] { fanout.write(FrameOutlet.textFrame(text), to: outlet) }
            if relayed.t == .close { fanout.close(outlet) }
            fanout.send()
        }
    }

    /// Owner side: the rest of admission for a participant connected to `from`.
    private func admitRelayed(_ message: RelayMessage, from: String) async {
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
                state.admitted[ref] = Admitted(join: admitted, from: from, expires: Date().addingTimeInterval(Self.admissionLifetime))
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
    /// its frames going back through the link.
    private func openRemote(_ message: RelayMessage, from: String) {
        guard let relay = message.c else { return }
        guard let ref = message.ref,
            let admitted = state.withLock({ state in state.admitted[ref].flatMap { $0.from == from ? state.admitted.removeValue(forKey: ref) : nil } }
            )
        else {
            // Unknown or expired: the relaying node closes it.
            send(RelayMessage(t: .close, c: relay), to: from)
            return
        }
        let join = admitted.join
        let key = RemoteKey(node: from, relay: relay)
        let outlet = FrameOutlet.relaying(on: MultiThreadedEventLoopGroup.singleton.next()) { [weak self] texts, close in
            guard let self else { return }
            if !texts.isEmpty { self.send(RelayMessage(t: .out, c: relay, xs: texts), to: from) }
            if close { self.send(RelayMessage(t: .close, c: relay), to: from) }
        }
        let (requests, sink) = AsyncStream<String>.makeStream(bufferingPolicy: .bufferingOldest(Self.remoteBacklog))
        state.withLock { $0.remotes[key] = sink }
        let hub = self.hub
        let connection = hub.open(room: join.room, config: join.config, outlet: outlet, participantHooks: join.participantHooks)
        let runner = RTCController.RequestRunner(connection: connection, hub: hub, jobs: jobs, links: links)
        Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    for await _ in outlet.closeRequested { return }
                }
                group.addTask {
                    await hub.arrive(
                        connection, lobby: join.lobby, participantId: join.participantId, name: join.name, claims: join.claims, mic: join.mic,
                        webcam: join.webcam)
                    for await text in requests {
                        if case .success(let (id, request)) = RTCMessage.request(text) { await runner.run(request, id: id) }
                    }
                }
                await group.next()
                group.cancelAll()
            }
            runner.stop()
            sink.finish()
            self.state.withLock { state in
                // Only this connection's entry (a later `open` could not reuse the id: ids only grow).
                _ = state.remotes.removeValue(forKey: key)
            }
            await hub.disconnected(connection)
        }
    }

    /// Owner side: the server API's call on a live meeting, from another node.
    private func answerCall(_ message: RelayMessage, from: String) async {
        var reply = RelayMessage(t: .result, rq: message.rq)
        defer { send(reply, to: from) }
        guard let apiKey = message.key, let roomId = message.room, let op = message.op else { return }
        let room = RoomRef(apiKey: apiKey, roomId: roomId)
        switch op {
        case .session: reply.session = hub.liveSession(room)?.id
        case .end: reply.ok = await hub.end(room, reason: .meetingEndAPI)
        case .remove: reply.ok = await message.participantId.asyncMap { await hub.remove(room, participantId: $0) } ?? false
        case .answer:
            reply.ok = await message.participantId.asyncMap { await hub.answerEntry(room, participantId: $0, allow: message.allow ?? false) } ?? false
        }
    }
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
/// - `out`, `close` (from the owner): frames for connection `c`, then perhaps its close;
/// - `call` / `result`: the server API on a live meeting (`op`), answered with `ok` or `session`.
struct RelayMessage: Codable, Sendable {
    enum Kind: String, Codable, Sendable {
        case admit, admitted, open, msg, bye, out, close, call, result
    }
    enum Operation: String, Codable, Sendable {
        case session, end, remove, answer
    }

    var t: Kind
    var rq: UInt64? = nil
    var c: RelayID? = nil
    var ref: String? = nil
    var key: String? = nil
    var room: String? = nil
    var claims: JSONValue? = nil
    var join: RelayJoin? = nil
    var reserve: Bool? = nil
    var x: String? = nil
    var xs: [String]? = nil
    var participantId: String? = nil
    var op: Operation? = nil
    var allow: Bool? = nil
    var status: Int? = nil
    var body: JSONValue? = nil
    var lobby: Bool? = nil
    var moved: Bool? = nil
    var ok: Bool? = nil
    var session: String? = nil

    typealias RelayID = Cluster.RelayID

    var line: String? {
        (try? Self.encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) }
    }

    init(
        t: Kind, rq: UInt64? = nil, c: RelayID? = nil, ref: String? = nil, key: String? = nil, room: String? = nil, claims: JSONValue? = nil,
        join: RelayJoin? = nil, reserve: Bool? = nil, x: String? = nil, xs: [String]? = nil, participantId: String? = nil,
        op: Operation? = nil, allow: Bool? = nil
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
        self.participantId = participantId
        self.op = op
        self.allow = allow
    }

    init?(line: String) {
        guard let decoded = try? Self.decoder.decode(RelayMessage.self, from: Data(line.utf8)) else { return nil }
        self = decoded
    }

    private static let encoder = JSONEncoder()
    private static let decoder = JSONDecoder()
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
