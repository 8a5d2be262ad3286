import AdmitApp
import AdmitCore
import AdmitToken
import Foundation
import Logging
import NIOCore
import Synchronization

/// What the media bridge needs from the meetings (the hub): who a connection is, who holds a
/// participant id now, and a way to tell everyone in a room, in the room's order.
protocol MediaMeetings: Sendable {
    /// The connection's room, participant id and device state; nil unless it is in the meeting.
    func mediaMember(_ connection: ConnectionID) -> (room: RoomRef, participantId: String, mic: Bool, webcam: Bool)?
    /// The connection holding `participantId` in the room's meeting now.
    func connection(of participantId: String, in room: RoomRef) -> ConnectionID?
    /// The device state of a participant in the meeting.
    func devices(of participantId: String, in room: RoomRef) -> (mic: Bool, webcam: Bool)?
    func broadcast(_ room: RoomRef, _ text: String)
    /// Sends a frame to one connection, in its room's order.
    func send(_ connection: ConnectionID, _ text: String)
}

/// Carries the meetings' decisions to the SFU (CONTRACT.md section 7): one Janus VideoRoom per
/// live session, each participant's publisher and subscriptions as Janus handles, moderation
/// as VideoRoom `moderate`, removal as `kick`, the session's end as `destroy`. Admit's own state
/// is the truth for `stream-enabled` / `stream-disabled` (Janus says nothing on moderation).
///
/// Client requests (`publish`, `subscribe`, ...) run as they come; what the meetings decide
/// (starts, devices, departures, ends) runs in order through one queue per room, so a mute and
/// the unmute after it reach Janus in that order, and a slow answer in one room holds up no other.
/// A VideoRoom belongs to one session: a request of an ended session never creates one, and a
/// room's next session gets a new one.
actor MediaBridge {
    struct Failure: Error {
        var code: ErrorCode
        var reason: String
    }

    private struct Track {
        var kind: String
        var mid: String
    }

    private struct Publisher {
        var connection: ConnectionID
        var handle: UInt64
        /// The participant's numeric id in the VideoRoom.
        var feed: UInt64
        /// What the last publish sent; empty before one and after unpublish.
        var tracks: [Track] = []
        /// The kinds Janus forwards (published and not moderated).
        var forwarding: Set<String> = []
        /// The PeerConnection is up (Janus said `webrtcup`): media reaches Janus, and others may subscribe.
        var up = false
        /// The kinds the room was told reach it (`stream-enabled`), to tell it again when that changes.
        var announced: Set<String> = []
        /// Candidates named since the last offer (its SDP's and trickled ones).
        var candidates = 0
    }

    private struct Subscription {
        var connection: ConnectionID
        var handle: UInt64
        var subscriber: String
        var publisher: String
        /// The subscriber answered the SFU's offer; unanswered ones are detached after `answerTimeout`.
        var answered = false
        /// Candidates named by the answer's SDP and trickled.
        var candidates = 0
    }

    private struct Room {
        var janusRoom: UInt64
        /// The Janus session (`JanusClient.generation`) it was created in.
        var generation: UInt64
        /// The Admit session it serves.
        var session: String
        var publishers: [String: Publisher] = [:]
        var subscriptions: [String: Subscription] = [:]
    }

    /// Subscriptions one connection may hold (one per other participant, in the largest meeting).
    let maxSubscriptions: Int
    let janus: JanusClient?
    private var meetings: (any MediaMeetings)?
    private let logger: Logger
    /// The dashboard's cap of a key (`maxSendBitrate` at the dashboard layer), in bit/s.
    private let dashboardCap: @Sendable (String) -> Int?
    private var rooms: [RoomRef: Room] = [:]
    /// Rooms being created in Janus: a second request waits for the first's creation.
    private var creating: [RoomRef: Task<UInt64, any Error>] = [:]
    /// Every handle Admit made, by Janus handle id: its room.
    private var handles: [UInt64: RoomRef] = [:]
    /// Each room's live session, as the meetings said it (set and cleared at once, before the
    /// queued work runs): a room is created only for the session live now.
    private let live = Mutex<[RoomRef: String]>([:])
    /// Each room's queue of what the meetings decided; a room with a queue has a task draining it.
    /// Never dropped: a lost departure or end would leave media running.
    private let queues = Mutex<[RoomRef: CircularBuffer<@Sendable () async -> Void>]>([:])
    /// How long a subscription may wait for the subscriber's answer before it is detached.
    let answerTimeout: Duration
    private struct PendingDevices: Hashable {
        var room: RoomRef
        var participantId: String
    }
    /// Participants with a device change queued and not yet started.
    private let pendingDevices = Mutex<Set<PendingDevices>>([])

    init(
        janus: JanusClient?, maxSubscriptions: Int, logger: Logger, answerTimeout: Duration = .seconds(30),
        dashboardCap: @escaping @Sendable (String) -> Int? = { _ in nil }
    ) {
        self.janus = janus
        self.maxSubscriptions = maxSubscriptions
        self.dashboardCap = dashboardCap
        self.logger = logger
        self.answerTimeout = answerTimeout
    }

    func attach(_ meetings: any MediaMeetings) {
        self.meetings = meetings
    }

    /// Whether media can be offered now.
    nonisolated var available: Bool { janus?.state == .up }

    /// `meeting-joined.media` for a participant whose effective `maxSendBitrate` is `bitrate`.
    nonisolated func joinInfo(bitrate: String?) -> JSONValue {
        .object([
            JSONMember("available", .bool(available)), JSONMember("iceServers", .array([])),
            JSONMember("maxSendBitrateBps", Self.bitsPerSecond(bitrate).map { .number(String($0)) } ?? .null),
        ])
    }

    /// `sd`, `hd`, `fullhd` in bit/s; nil for `auto` and anything else.
    nonisolated static func bitsPerSecond(_ bitrate: String?) -> Int? {
        switch bitrate {
        case "sd": 800_000
        case "hd": 1_500_000
        case "fullhd": 3_000_000
        default: nil
        }
    }

    // MARK: Running

    /// Follows Janus (new sessions, events) until cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let janus {
                group.addTask { await janus.run() }
                group.addTask {
                    for await generation in janus.newSessions { await self.janusSessionStarted(generation) }
                }
                group.addTask {
                    for await event in janus.events { await self.janusEvent(event) }
                }
            }
            await group.waitForAll()
        }
    }

    /// Queues work that must follow the room's order; the first command of an idle room starts
    /// a task that drains its queue and ends with it. Without an SFU every command would find
    /// nothing to do: none is queued (a join would pay a task and a hop for nothing).
    private nonisolated func enqueue(_ room: RoomRef, _ command: @escaping @Sendable () async -> Void) {
        guard janus != nil else { return }
        let idle = queues.withLock { queues in
            if queues[room] != nil {
                queues[room]?.append(command)
                return false
            }
            queues[room] = [command]
            return true
        }
        guard idle else { return }
        Task {
            // An empty queue is removed under the lock, so the next command starts a new task.
            while let next = self.queues.withLock({ queues -> (@Sendable () async -> Void)? in
                guard let command = queues[room]?.popFirst() else {
                    queues[room] = nil
                    return nil
                }
                return command
            }) {
                await next()
            }
        }
    }

    /// The session live in `room` now, if any.
    private nonisolated func liveSession(_ room: RoomRef) -> String? {
        live.withLock { $0[room] }
    }

    // MARK: What the meetings decided

    /// A session started (its first join): its VideoRoom is created now.
    nonisolated func sessionStarted(_ room: RoomRef, session: String) {
        live.withLock { $0[room] = session }
        enqueue(room) { await self.create(room) }
    }

    /// A participant's mic or webcam changed: the SFU forwards the track or stops. Changes that
    /// come while one is already queued for that participant ride on it (the command reads the
    /// meeting's state when it runs), so a participant toggling fast queues one command, not many.
    nonisolated func devicesChanged(_ room: RoomRef, participantId: String) {
        let key = PendingDevices(room: room, participantId: participantId)
        guard pendingDevices.withLock({ $0.insert(key).inserted }) else { return }
        enqueue(room) {
            _ = self.pendingDevices.withLock { $0.remove(key) }
            await self.applyDevices(room, participantId: participantId)
        }
    }

    /// Someone entered the meeting: it hears the streams already flowing.
    nonisolated func entered(_ room: RoomRef, participantId: String) {
        enqueue(room) { await self.tellNewcomer(room, participantId: participantId) }
    }

    /// Someone left (removal, revocation, replacement, leave): whatever media belongs to a
    /// connection no longer in the meeting is kicked and detached.
    nonisolated func departed(_ room: RoomRef) {
        enqueue(room) { await self.sweep(room) }
    }

    /// The session ended: its VideoRoom goes.
    nonisolated func sessionEnded(_ room: RoomRef, session: String) {
        live.withLock { if $0[room] == session { $0[room] = nil } }
        enqueue(room) { await self.destroy(room, session: session) }
    }

    // MARK: Requests

    /// Carries out a media request of a connection in the meeting; `reply` gets the answer's
    /// fields before the room hears what changed.
    func handle(_ request: StreamRequest, from connection: ConnectionID, bitrate: String?, reply: ([JSONMember]) -> Void) async throws(Failure) {
        let code: ErrorCode =
            switch request {
            case .publish, .unpublish: .publishFailed
            default: .subscribeFailed
            }
        guard let meetings, let member = meetings.mediaMember(connection) else {
            throw Failure(code: code, reason: "only participants in the meeting can send or receive media")
        }
        guard let janus, janus.state == .up else { throw Failure(code: .mediaUnavailable, reason: "no media server is available") }
        do {
            switch request {
            case .publish(let sdp):
                reply(try await publish(sdp, member: member, connection: connection, bitrate: bitrate, janus: janus))
                // Told once media reaches Janus (`webrtcup`); at once for a renegotiation of a live one.
                announce(member.room, participantId: member.participantId)
            case .unpublish:
                try await unpublish(member.room, participantId: member.participantId, connection: connection, janus: janus)
                reply([])
            case .subscribe(let target):
                reply(try await subscribe(to: target, member: member, connection: connection, janus: janus))
            case .subscribeAnswer(let id, let sdp):
                let subscription = try owned(id, room: member.room, connection: connection)
                let named = SDP.candidateLines(sdp).count
                guard subscription.candidates + named <= ICECandidate.maxPerConnection else {
                    throw Failure(code: code, reason: "at most \(ICECandidate.maxPerConnection) candidates per subscription")
                }
                // Answered from now: the answer timeout must not detach it while Janus takes the answer.
                rooms[member.room]?.subscriptions[id]?.answered = true
                rooms[member.room]?.subscriptions[id]?.candidates += named
                do {
                    _ = try await janus.message(
                        subscription.handle, .object([JSONMember("request", .string("start"))]), jsep: Self.jsep("answer", sdp), async: true)
                } catch {
                    if rooms[member.room]?.subscriptions[id]?.handle == subscription.handle {
                        rooms[member.room]?.subscriptions[id]?.answered = false
                    }
                    throw error
                }
                guard rooms[member.room]?.subscriptions[id]?.handle == subscription.handle else {
                    throw Failure(code: code, reason: "the subscription ended while the SFU took the answer")
                }
                reply([])
            case .unsubscribe(let id):
                let subscription = try owned(id, room: member.room, connection: connection)
                rooms[member.room]?.subscriptions[id] = nil
                handles[subscription.handle] = nil
                await janus.detach(subscription.handle)
                reply([])
            case .trickle(let target, let candidate):
                let handle: UInt64
                let counted = candidate == nil ? 0 : 1
                let tooMany = Failure(
                    code: target == "publisher" ? .publishFailed : .subscribeFailed,
                    reason: "at most \(ICECandidate.maxPerConnection) candidates per offer or answer")
                if target == "publisher" {
                    guard let publisher = rooms[member.room]?.publishers[member.participantId], publisher.connection == connection else {
                        throw Failure(code: .publishFailed, reason: "nothing is being published to trickle for")
                    }
                    guard publisher.candidates + counted <= ICECandidate.maxPerConnection else { throw tooMany }
                    rooms[member.room]?.publishers[member.participantId]?.candidates += counted
                    handle = publisher.handle
                } else {
                    let subscription = try owned(target, room: member.room, connection: connection)
                    guard subscription.candidates + counted <= ICECandidate.maxPerConnection else { throw tooMany }
                    rooms[member.room]?.subscriptions[target]?.candidates += counted
                    handle = subscription.handle
                }
                try await janus.trickle(handle, candidate: candidate)
                reply([])
            }
        } catch let failure as Failure {
            throw failure
        } catch let failure as JanusClient.Failure {
            logger.warning("Janus refused a media request", metadata: ["room": "\(member.room.roomId)", "reason": "\(failure)"])
            let down =
                janus.state != .up || failure.reason == JanusClient.Failure.unavailable.reason
                || failure.reason == JanusClient.Failure.timedOut.reason
            throw Failure(code: down ? .mediaUnavailable : code, reason: failure.reason)
        } catch {
            throw Failure(code: code, reason: "\(error)")
        }
    }

    private func publish(
        _ sdp: String, member: (room: RoomRef, participantId: String, mic: Bool, webcam: Bool), connection: ConnectionID, bitrate: String?,
        janus: JanusClient
    ) async throws -> [JSONMember] {
        let janusRoom = try await ensureRoom(member.room, janus: janus)
        var publisher: Publisher
        if let existing = rooms[member.room]?.publishers[member.participantId], existing.connection == connection {
            publisher = existing
        } else {
            // A record of another connection with this participant id (replaced, not swept yet) goes first.
            await kick(member.room, participantId: member.participantId, janus: janus)
            let handle = try await janus.attach()
            handles[handle] = member.room
            let feed = Self.numericId()
            do {
                _ = try await janus.message(
                    handle,
                    .object([
                        JSONMember("request", .string("join")), JSONMember("ptype", .string("publisher")),
                        JSONMember("room", .number(String(janusRoom))), JSONMember("id", .number(String(feed))),
                        JSONMember("display", .string(member.participantId)),
                    ]), async: true)
            } catch {
                handles[handle] = nil
                await janus.detach(handle)
                throw error
            }
            publisher = Publisher(connection: connection, handle: handle, feed: feed)
        }
        // The awaits above let departures and ends run: the connection must still hold its place.
        guard rooms[member.room] != nil, meetings?.connection(of: member.participantId, in: member.room) == connection else {
            if rooms[member.room]?.publishers[member.participantId]?.handle == publisher.handle {
                rooms[member.room]?.publishers[member.participantId] = nil
            }
            await forget(publisher.handle, janus: janus)
            throw Failure(code: .publishFailed, reason: "the participant left, or the session ended")
        }
        publisher.candidates = SDP.candidateLines(sdp).count
        rooms[member.room]?.publishers[member.participantId] = publisher
        let cap = Self.bitsPerSecond(bitrate)
        var body = [JSONMember("request", .string(publisher.tracks.isEmpty ? "publish" : "configure"))]
        if let cap { body.append(JSONMember("bitrate", .number(String(cap)))) }
        let (data, jsep) = try await janus.message(publisher.handle, .object(body), jsep: Self.jsep("offer", sdp), async: true)
        // Janus took its time: a removal, a kick or a hangup may have come meanwhile. Only the
        // record as it is now is updated, never overwritten with the copy from before.
        guard rooms[member.room]?.publishers[member.participantId]?.handle == publisher.handle,
            meetings?.connection(of: member.participantId, in: member.room) == connection
        else { throw Failure(code: .publishFailed, reason: "the participant left, or was removed, while the SFU answered") }
        guard let answer = jsep?["sdp"]?.stringValue else { throw Failure(code: .publishFailed, reason: "the SFU sent no answer") }
        var tracks: [Track] = []
        if case .array(let streams)? = data["streams"] {
            // One audio and one video track at most (an offer has no more): a confused SFU's list costs nothing.
            for stream in streams.prefix(16) {
                guard let kind = stream["type"]?.stringValue, kind == "audio" || kind == "video", let mid = stream["mid"]?.stringValue,
                    mid.utf8.count <= 64, stream["disabled"] != .bool(true), !tracks.contains(where: { $0.kind == kind })
                else { continue }
                tracks.append(Track(kind: kind, mid: mid))
            }
        }
        rooms[member.room]?.publishers[member.participantId]?.tracks = tracks
        // A state set before publishing applies now; `announce` then tells the room.
        try await moderate(member.room, participantId: member.participantId, janus: janus, fresh: true)
        let hasVideo = tracks.contains { $0.kind == "video" }
        return [JSONMember("sdp", .string(cap != nil && hasVideo ? SDP.cappingVideo(answer, bitsPerSecond: cap ?? 0) : answer))]
    }

    /// Tells the room what changed in which of a publisher's tracks reach the others: those
    /// Janus forwards while the PeerConnection is up.
    private func announce(_ room: RoomRef, participantId: String) {
        guard let publisher = rooms[room]?.publishers[participantId] else { return }
        let reaching = publisher.up ? publisher.forwarding : []
        for kind in ["audio", "video"] where publisher.announced.contains(kind) != reaching.contains(kind) {
            meetings?.broadcast(room, RTCEvent.stream(participantId: participantId, kind: kind, enabled: reaching.contains(kind)).text)
        }
        rooms[room]?.publishers[participantId]?.announced = reaching
    }

    private func unpublish(_ room: RoomRef, participantId: String, connection: ConnectionID, janus: JanusClient) async throws {
        guard let publisher = rooms[room]?.publishers[participantId], publisher.connection == connection, !publisher.tracks.isEmpty else {
            throw Failure(code: .publishFailed, reason: "nothing is being published")
        }
        if publisher.up {
            _ = try await janus.message(publisher.handle, .object([JSONMember("request", .string("unpublish"))]), async: true)
            stopped(room, participantId: participantId)
        } else {
            // Janus counts a publication from its PeerConnection's start: before that there is
            // nothing to unpublish, so the handle goes (the next publish makes a new one).
            rooms[room]?.publishers[participantId] = nil
            handles[publisher.handle] = nil
            await janus.detach(publisher.handle)
        }
        await endSubscriptions(room, to: participantId, janus: janus)
    }

    private func subscribe(
        to target: String, member: (room: RoomRef, participantId: String, mic: Bool, webcam: Bool), connection: ConnectionID,
        janus: JanusClient
    ) async throws -> [JSONMember] {
        guard let room = rooms[member.room], let publisher = room.publishers[target], !publisher.tracks.isEmpty, publisher.up else {
            throw Failure(code: .subscribeFailed, reason: "participant \(target) sends no media (yet)")
        }
        guard target != member.participantId else { throw Failure(code: .subscribeFailed, reason: "a participant cannot subscribe to itself") }
        guard !room.subscriptions.values.contains(where: { $0.connection == connection && $0.publisher == target }) else {
            throw Failure(code: .subscribeFailed, reason: "this connection already subscribes to \(target)")
        }
        guard room.subscriptions.values.filter({ $0.connection == connection }).count < maxSubscriptions else {
            throw Failure(code: .subscribeFailed, reason: "at most \(maxSubscriptions) subscriptions per connection")
        }
        let handle = try await janus.attach()
        handles[handle] = member.room
        let offer: String
        do {
            let (_, jsep) = try await janus.message(
                handle,
                .object([
                    JSONMember("request", .string("join")), JSONMember("ptype", .string("subscriber")),
                    JSONMember("room", .number(String(room.janusRoom))),
                    JSONMember("streams", .array([.object([JSONMember("feed", .number(String(publisher.feed)))])])),
                ]), async: true)
            guard let sdp = jsep?["sdp"]?.stringValue else { throw Failure(code: .subscribeFailed, reason: "the SFU sent no offer") }
            offer = sdp
        } catch {
            handles[handle] = nil
            await janus.detach(handle)
            throw error
        }
        // The room may have ended, the publisher gone or the subscriber left while Janus answered.
        guard rooms[member.room]?.publishers[target]?.tracks.isEmpty == false,
            meetings?.connection(of: member.participantId, in: member.room) == connection
        else {
            await forget(handle, janus: janus)
            throw Failure(code: .subscribeFailed, reason: "participant \(target) stopped publishing, or the subscriber left")
        }
        var id = Identifiers.hex(16)
        while rooms[member.room]?.subscriptions[id] != nil { id = Identifiers.hex(16) }
        rooms[member.room]?.subscriptions[id] = Subscription(
            connection: connection, handle: handle, subscriber: member.participantId, publisher: target)
        let timeout = answerTimeout
        Task {
            try? await Task.sleep(for: timeout)
            await self.expire(member.room, subscription: id, handle: handle)
        }
        return [JSONMember("subscriptionId", .string(id)), JSONMember("sdp", .string(offer))]
    }

    /// A subscription still unanswered after `answerTimeout` is detached (its offer holds a
    /// Janus handle and ports); a late answer is refused as for no such subscription.
    private func expire(_ room: RoomRef, subscription id: String, handle: UInt64) async {
        guard let janus, let subscription = rooms[room]?.subscriptions[id], subscription.handle == handle, !subscription.answered else { return }
        rooms[room]?.subscriptions[id] = nil
        logger.debug("an unanswered subscription was detached", metadata: ["room": "\(room.roomId)"])
        await forget(handle, janus: janus)
    }

    private func owned(_ id: String, room: RoomRef, connection: ConnectionID) throws(Failure) -> Subscription {
        guard let subscription = rooms[room]?.subscriptions[id], subscription.connection == connection else {
            throw Failure(code: .subscribeFailed, reason: "no subscription \(id) on this connection")
        }
        return subscription
    }

    // MARK: The room in Janus

    /// The VideoRoom of the room's live session in the current Janus session, created when
    /// missing. One of an earlier session (its destroy still queued) or an earlier Janus goes first.
    private func ensureRoom(_ room: RoomRef, janus: JanusClient) async throws -> UInt64 {
        for _ in 0..<4 {
            guard let session = liveSession(room) else { throw Failure(code: .publishFailed, reason: "the session ended") }
            if let existing = rooms[room], existing.session == session, existing.generation == janus.generation { return existing.janusRoom }
            if let pending = creating[room] {
                _ = try? await pending.value
                continue
            }
            if let old = rooms.removeValue(forKey: room) {
                await tearDown(old, room: room, janus: janus)
                continue  // the awaits let others in: look again
            }
            let task = Task { try await self.create(room, session: session, janus: janus) }
            creating[room] = task
            return try await task.value
        }
        throw Failure(code: .publishFailed, reason: "the room's VideoRoom kept changing")
    }

    /// Creates the session's VideoRoom, and records it if the session is still live and Janus
    /// the same when Janus answers (else destroys it again).
    private func create(_ room: RoomRef, session: String, janus: JanusClient) async throws -> UInt64 {
        defer { creating[room] = nil }
        let generation = janus.generation
        let id = Self.numericId()
        var body = [
            JSONMember("request", .string("create")), JSONMember("room", .number(String(id))), JSONMember("permanent", .bool(false)),
            JSONMember("is_private", .bool(false)), JSONMember("description", .string(room.roomId)),
            JSONMember("publishers", .number(String(max(min(maxSubscriptions, 100_000) + 1, 3)))),
            JSONMember("audiocodec", .string("opus")), JSONMember("videocodec", .string("vp8,h264")),
        ]
        if let cap = dashboardCap(room.apiKey) { body += [JSONMember("bitrate", .number(String(cap))), JSONMember("bitrate_cap", .bool(true))] }
        let handle = try await janus.attach()
        do {
            _ = try await janus.message(handle, .object(body))
        } catch {
            await janus.detach(handle)
            // Unanswered is not undone: Janus may have made the room after all (the id is Admit's own).
            if let failure = error as? JanusClient.Failure, failure.reason == JanusClient.Failure.timedOut.reason {
                await destroyInJanus(id, room: room, janus: janus)
            }
            throw error
        }
        await janus.detach(handle)
        guard liveSession(room) == session, janus.generation == generation else {
            if janus.generation == generation { await destroyInJanus(id, room: room, janus: janus) }
            throw Failure(code: .publishFailed, reason: "the session ended, or the media server restarted")
        }
        rooms[room] = Room(janusRoom: id, generation: generation, session: session)
        return id
    }

    /// Moderation as the meeting has it now: each published track forwarded while its device is
    /// on. A `fresh` publication is told every track's state (Janus may keep a mid's old one
    /// across a renegotiation), and the room hears of it from `announce`; later, only changes
    /// go to Janus and the room hears each.
    private func moderate(_ room: RoomRef, participantId: String, janus: JanusClient, fresh: Bool) async throws {
        guard let publisher = rooms[room]?.publishers[participantId], let janusRoom = rooms[room]?.janusRoom,
            let current = meetings?.devices(of: participantId, in: room)
        else { return }
        var devices = current
        let publication = fresh
        var fresh = fresh
        // Up to three passes: a device change that lands while Janus answers is applied too
        // (this runs beside the ordered queue when a publish calls it).
        for _ in 0..<3 {
            for track in publisher.tracks {
                let on = track.kind == "audio" ? devices.mic : devices.webcam
                let was = rooms[room]?.publishers[participantId]?.forwarding.contains(track.kind) ?? false
                guard fresh || on != was else { continue }
                _ = try await janus.message(
                    publisher.handle,
                    .object([
                        JSONMember("request", .string("moderate")), JSONMember("room", .number(String(janusRoom))),
                        JSONMember("id", .number(String(publisher.feed))), JSONMember("mid", .string(track.mid)), JSONMember("mute", .bool(!on)),
                    ]))
                // Recorded at once: a later failure must not leave Janus and Admit disagreeing.
                if on {
                    rooms[room]?.publishers[participantId]?.forwarding.insert(track.kind)
                } else {
                    rooms[room]?.publishers[participantId]?.forwarding.remove(track.kind)
                }
            }
            fresh = false
            guard let now = meetings?.devices(of: participantId, in: room), now.mic != devices.mic || now.webcam != devices.webcam else { break }
            devices = now
        }
        // A publication's streams are announced after its reply (by `handle`).
        if !publication { announce(room, participantId: participantId) }
    }

    private func create(_ room: RoomRef) async {
        guard let janus, janus.state == .up, liveSession(room) != nil else { return }
        do {
            _ = try await ensureRoom(room, janus: janus)
        } catch {
            // Not worth a warning when the session ended meanwhile.
            guard liveSession(room) != nil else { return }
            logger.warning("could not create a VideoRoom", metadata: ["room": "\(room.roomId)", "error": "\(error)"])
        }
    }

    private func applyDevices(_ room: RoomRef, participantId: String) async {
        guard let janus, rooms[room]?.publishers[participantId] != nil else { return }
        do {
            try await moderate(room, participantId: participantId, janus: janus, fresh: false)
        } catch {
            logger.warning("moderation did not reach the SFU", metadata: ["room": "\(room.roomId)", "error": "\(error)"])
        }
    }

    /// A publisher's tracks stopped reaching the others: the room hears which.
    private func stopped(_ room: RoomRef, participantId: String) {
        guard rooms[room]?.publishers[participantId] != nil else { return }
        rooms[room]?.publishers[participantId]?.tracks = []
        rooms[room]?.publishers[participantId]?.forwarding = []
        rooms[room]?.publishers[participantId]?.up = false
        announce(room, participantId: participantId)
    }

    /// Ends every subscription to `publisher` (one subscription follows one publisher).
    private func endSubscriptions(_ room: RoomRef, to publisher: String, janus: JanusClient) async {
        for handle in takeSubscriptions(room, to: publisher) { await janus.detach(handle) }
    }

    /// Forgets every subscription to `publisher` at once (before any await: a request that
    /// comes meanwhile finds them gone), and returns their handles to detach.
    private func takeSubscriptions(_ room: RoomRef, to publisher: String) -> [UInt64] {
        let ending = rooms[room]?.subscriptions.filter { $0.value.publisher == publisher } ?? [:]
        for (id, subscription) in ending {
            rooms[room]?.subscriptions[id] = nil
            handles[subscription.handle] = nil
        }
        return ending.values.map(\.handle)
    }

    /// Kicks and detaches the media of connections that are no longer in the meeting.
    private func sweep(_ room: RoomRef) async {
        guard let janus, let meetings, let current = rooms[room] else { return }
        for (participantId, publisher) in current.publishers where meetings.connection(of: participantId, in: room) != publisher.connection {
            // Re-read: an earlier kick's awaits may have let a new publisher in under this id.
            guard rooms[room]?.publishers[participantId]?.handle == publisher.handle else { continue }
            await kick(room, participantId: participantId, janus: janus)
        }
        for (id, subscription) in rooms[room]?.subscriptions ?? [:]
        where meetings.connection(of: subscription.subscriber, in: room) != subscription.connection {
            guard rooms[room]?.subscriptions[id]?.handle == subscription.handle else { continue }
            rooms[room]?.subscriptions[id] = nil
            await forget(subscription.handle, janus: janus)
        }
    }

    /// Takes a participant's publisher out of the room: the room hears its streams stop, Janus
    /// kicks the feed, the handle goes, and so do the subscriptions to it.
    private func kick(_ room: RoomRef, participantId: String, janus: JanusClient) async {
        guard let publisher = rooms[room]?.publishers[participantId], let janusRoom = rooms[room]?.janusRoom else { return }
        stopped(room, participantId: participantId)
        rooms[room]?.publishers[participantId] = nil
        handles[publisher.handle] = nil
        let subscriptions = takeSubscriptions(room, to: participantId)
        _ = try? await janus.message(
            publisher.handle,
            .object([
                JSONMember("request", .string("kick")), JSONMember("room", .number(String(janusRoom))),
                JSONMember("id", .number(String(publisher.feed))),
            ]))
        await janus.detach(publisher.handle)
        for handle in subscriptions { await janus.detach(handle) }
    }

    /// Forgets a handle Admit made and detaches it.
    private func forget(_ handle: UInt64, janus: JanusClient) async {
        handles[handle] = nil
        await janus.detach(handle)
    }

    /// A participant entered the meeting: it hears which streams already reach the room
    /// (after its `meeting-joined`, in the room's order).
    private func tellNewcomer(_ room: RoomRef, participantId: String) {
        guard let meetings, let connection = meetings.connection(of: participantId, in: room), let state = rooms[room] else { return }
        for (publisher, record) in state.publishers.sorted(by: { $0.key < $1.key }) where publisher != participantId {
            for kind in ["audio", "video"] where record.announced.contains(kind) {
                meetings.send(connection, RTCEvent.stream(participantId: publisher, kind: kind, enabled: true).text)
            }
        }
    }

    /// The session's end: its VideoRoom goes (one still being created destroys itself).
    private func destroy(_ room: RoomRef, session: String) async {
        if let pending = creating[room] { _ = try? await pending.value }
        guard let janus, let current = rooms[room], current.session == session else { return }
        rooms[room] = nil
        await tearDown(current, room: room, janus: janus)
    }

    /// Destroys a VideoRoom Admit no longer records, with the handles it held.
    private func tearDown(_ state: Room, room: RoomRef, janus: JanusClient) async {
        let owned = Set(state.publishers.values.map(\.handle) + state.subscriptions.values.map(\.handle))
        for handle in owned { handles[handle] = nil }
        guard state.generation == janus.generation else { return }
        await destroyInJanus(state.janusRoom, room: room, janus: janus)
        for handle in owned { await janus.detach(handle) }
    }

    private func destroyInJanus(_ janusRoom: UInt64, room: RoomRef, janus: JanusClient) async {
        do {
            let handle = try await janus.attach()
            _ = try? await janus.message(
                handle, .object([JSONMember("request", .string("destroy")), JSONMember("room", .number(String(janusRoom)))]))
            await janus.detach(handle)
        } catch {
            logger.warning("could not destroy a VideoRoom", metadata: ["room": "\(room.roomId)", "error": "\(error)"])
        }
    }

    // MARK: Janus on its own

    /// A new Janus session: after a restart every room and handle of the old one is gone. The
    /// rooms hear their streams stopped, and each room is created again for its next publisher.
    private func janusSessionStarted(_ generation: UInt64) async {
        let stale = rooms.filter { $0.value.generation < generation }
        for (room, state) in stale {
            for handle in state.publishers.values.map(\.handle) + state.subscriptions.values.map(\.handle) { handles[handle] = nil }
            for participantId in state.publishers.keys { stopped(room, participantId: participantId) }
            rooms[room] = nil
        }
        // Only the connection may have dropped while Janus ran on: the old VideoRooms would stay.
        // Destroying them is harmless when Janus restarted (they are gone already).
        if let janus {
            for (room, state) in stale { await destroyInJanus(state.janusRoom, room: room, janus: janus) }
        }
        // Each live session's room, in that room's order (a session ending meanwhile gets none).
        let waiting = live.withLock { Array($0.keys) }.filter { rooms[$0] == nil }
        for room in waiting { enqueue(room) { await self.create(room) } }
        if generation > 1 { logger.info("Janus came back: rooms created again", metadata: ["rooms": "\(waiting.count)"]) }
    }

    /// Janus's own events: a publisher's PeerConnection coming up starts its streams, closing
    /// stops them; an event about a handle Admit did not make (or no longer holds) is ignored.
    private func janusEvent(_ event: JanusClient.Event) async {
        guard let janus, event.generation == janus.generation, let room = handles[event.handle] else { return }
        let kind = event.body["janus"]?.stringValue
        if kind == "webrtcup", let (participantId, publisher) = rooms[room]?.publishers.first(where: { $0.value.handle == event.handle }) {
            guard !publisher.tracks.isEmpty else { return }
            rooms[room]?.publishers[participantId]?.up = true
            announce(room, participantId: participantId)
            return
        }
        guard kind == "hangup" || kind == "detached" else { return }
        guard let (participantId, _) = rooms[room]?.publishers.first(where: { $0.value.handle == event.handle }) else {
            if kind == "detached" {
                handles[event.handle] = nil
                if let id = rooms[room]?.subscriptions.first(where: { $0.value.handle == event.handle })?.key { rooms[room]?.subscriptions[id] = nil }
            }
            return
        }
        stopped(room, participantId: participantId)
        if kind == "detached" {
            // The handle is gone in Janus: the record goes too, so the next publish makes a new one.
            rooms[room]?.publishers[participantId] = nil
            handles[event.handle] = nil
        }
        await endSubscriptions(room, to: participantId, janus: janus)
    }

    // MARK: Helpers

    private static func jsep(_ type: String, _ sdp: String) -> JSONValue {
        .object([JSONMember("type", .string(type)), JSONMember("sdp", .string(sdp))])
    }

    /// Janus's numeric room and participant ids: random, below 2^53 so every JSON reader keeps them exact.
    static func numericId() -> UInt64 {
        UInt64.random(in: 1..<(1 << 53))
    }
}
