import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdWebSocket
import Logging
import NIOCore
import NIOWebSocket
import Synchronization

/// `/rtc` (the meeting WebSocket) and `/rtc/validate` (the same verdict without joining).
struct RTCController {
    let services: Services
    let hub: MeetingHub
    let jobs: JobService
    let joins: JoinService
    let cluster: Cluster

    /// The per-connection request rate (`RequestBudget`), and what counts a refusal.
    struct RequestLimits: Sendable {
        var perSecond: Int
        var burst: Int
        var refused: @Sendable () -> Void
        /// A client disconnected for not reading its events.
        var unread: @Sendable () -> Void
    }

    private var limits: RequestLimits {
        let metrics = services.metrics
        return RequestLimits(
            perSecond: services.configuration.rtcRequestsPerSecond, burst: services.configuration.rtcRequestBurst,
            refused: { metrics.rtcRequestRefused() }, unread: { metrics.connectionExpired("unread-events") })
    }

    func register(on router: Router<AppContext>) {
        router.get("/rtc/validate") { request, context in
            let join = try await admit(request, context)
            return ValidateResponse(participantId: join.participantId, admission: join.lobby ? "lobby" : "join")
        }
        // Reached without an upgrade: answers the refusal in the contract's shape.
        router.get("/rtc") { request, context -> Response in
            _ = try await admit(request, context)
            throw APIError(.upgradeRequired, "Admitted, but /rtc is a WebSocket: send an Upgrade request.")
        }
    }

    /// Decides a WebSocket upgrade (the channel's `shouldUpgrade`): `/rtc` runs admission with
    /// its seat promise and, when admitted, returns the meeting handler; a refusal is recorded
    /// for `RefusedUpgradeWriter`, which answers it in the contract's shape. Decided here, on
    /// the channel, rather than by the WebSocket router: the router keeps every upgraded
    /// request's context alive through a reference cycle (a leak per connection, seen in the soak).
    func upgrade(_ head: HTTPRequest, channel: any Channel, logger: Logger) async
        -> ShouldUpgradeResult<WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context>>
    {
        let request = Request(head: head, body: .init(buffer: ByteBuffer()))
        if request.uri.path == "/bench/ws", services.configuration.benchEndpoints {
            return .upgrade([:]) { inbound, outbound, _ in
                try await outbound.write(.text(#"{"event":"connected"}"#))
                for try await _ in inbound {}
            }
        }
        guard request.uri.path == "/rtc" else { return .dontUpgrade }
        let context = AppContext(source: .init(channel: channel, logger: logger))
        do {
            switch try await admit(request, context, reserving: true) {
            case .here(let join):
                return .upgrade([:], Self.meeting(join, channel: channel, hub: hub, jobs: jobs, links: services.links, limits: limits))
            case .relayed(let admitted, let owner):
                return .upgrade([:], Self.relayed(admitted, owner: owner, channel: channel, cluster: cluster, limits: limits))
            }
        } catch let error as AppError {
            RefusedUpgradeWriter.record(ObjectIdentifier(channel), APIError(error))
            return .dontUpgrade
        } catch let error as APIError {
            RefusedUpgradeWriter.record(ObjectIdentifier(channel), error)
            return .dontUpgrade
        } catch {
            return .dontUpgrade
        }
    }

    /// One admitted connection's life in its meeting. Static, so each connection's task holds
    /// only the hub, the job service, the links and the limits, not a copy of the controller.
    private static func meeting(
        _ join: AdmittedJoin, channel: any Channel, hub: MeetingHub, jobs: JobService, links: PublicLinks, limits: RequestLimits
    ) -> WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context> {
        { inbound, outbound, context in
            // Without one, the seat is given back by the hub's expiry.
            guard let outlet = await outlet(on: channel, limits: limits, logger: context.logger) else { return }
            // The hub's events go out through the outlet. When the hub closes the connection, its
            // Close goes out after them and the stream ends; frames already read are dropped.
            outlet.whenClosed { closeHandshake(outbound, channel: channel, code: .normalClosure, reason: nil) }
            let connection = hub.open(room: join.room, config: join.config, outlet: outlet, participantHooks: join.participantHooks)
            let runner = RequestRunner(connection: connection, hub: hub, jobs: jobs, links: links)
            await hub.arrive(
                connection, lobby: join.lobby, participantId: join.participantId, name: join.name, claims: join.claims, mic: join.mic,
                webcam: join.webcam)
            await readRequests(inbound, outbound, limits: limits, closed: { outlet.isCloseRequested }) { id, request, _ in
                await runner.run(request, id: id)
            }
            // The request in flight (if any) finds the connection gone when the SFU answers; the
            // ones still waiting are dropped.
            runner.stop()
            await hub.disconnected(connection)
        }
    }

    /// Sends a Close frame (after the frames before it); the WebSocket writer then ends the stream,
    /// which hangs up without waiting for the client's answer. A Close that cannot be written (a
    /// client that stops reading) would wait forever: the channel is closed after `closeTimeout`.
    private static func closeHandshake(_ outbound: WebSocketOutboundWriter, channel: any Channel, code: WebSocketErrorCode, reason: String?) {
        Task { try? await outbound.close(code, reason: reason) }
        // Weak: a channel closed meanwhile (the usual case) is not kept for the timeout.
        channel.eventLoop.scheduleTask(in: closeTimeout) { [weak channel] in channel?.close(promise: nil) }
    }

    /// How long the server's Close may wait to be written before the channel is closed.
    static let closeTimeout = TimeAmount.seconds(15)

    /// The upgraded channel's outlet for events; nil (logged) only if the WebSocket pipeline
    /// lost its frame encoder.
    private static func outlet(on channel: any Channel, limits: RequestLimits, logger: Logger) async -> FrameOutlet? {
        do {
            return try await FrameOutlet.attach(to: channel, overflowed: limits.unread)
        } catch {
            logger.error("no WebSocket frame encoder on an upgraded /rtc channel")
            return nil
        }
    }

    /// A connection to this node whose room's meeting runs on another node (`owner`): its
    /// requests are counted here and relayed there; the owner's frames come back through the
    /// cluster into the outlet.
    private static func relayed(
        _ admitted: Cluster.RemoteAdmission, owner: String, channel: any Channel, cluster: Cluster, limits: RequestLimits
    ) -> WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context> {
        { inbound, outbound, context in
            guard let outlet = await outlet(on: channel, limits: limits, logger: context.logger) else { return }
            let relay = cluster.openRelay(admitted, owner: owner, outlet: outlet)
            outlet.whenClosed {
                // 1012 (service restart) when the room's node went away: the client joins again, on whichever node.
                let lost = cluster.relayLost(relay)
                closeHandshake(
                    outbound, channel: channel, code: lost ? .unknown(1012) : .normalClosure, reason: lost ? "The room moved; join again" : nil)
            }
            await readRequests(inbound, outbound, limits: limits, closed: { outlet.isCloseRequested }) { id, request, text in
                // What crosses the database is bounded by kind: an SDP for media, a candidate for trickle, a small object else.
                let limit =
                    switch request {
                    case .media(.trickle): Self.relayedTrickleBytes
                    case .media: Self.relayedMediaBytes
                    default: Self.relayedRequestBytes
                    }
                guard text.utf8.count <= limit else {
                    let body = RTCErrorBody.invalidRequest("a request of this kind takes at most \(limit) bytes")
                    try? await outbound.write(.text(RTCReply(id: id, error: body).text))
                    return
                }
                cluster.forward(text, from: relay)
            }
            cluster.closeRelay(relay)
            outlet.finish()
        }
    }

    /// Reads a connection's requests, each counted against its budget (`trickle` against its
    /// own), and hands on the ones understood; answers refusals and frames not understood.
    /// Once `closed` (the hub closed the connection), messages are read and dropped unparsed
    /// until the client answers the close.
    private static func readRequests(
        _ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter, limits: RequestLimits, closed: () -> Bool,
        handle: (Int, RTCMessage.Inbound, String) async -> Void
    ) async {
        var budget = RequestBudget(perSecond: limits.perSecond, burst: limits.burst)
        // ICE candidates come in bursts at connection setup: `trickle` has its own,
        // ten times larger budget (CONTRACT.md section 4: not counted in the other).
        var trickles = RequestBudget(perSecond: min(limits.perSecond, 1_000_000) * 10, burst: min(limits.burst, 1_000_000) * 10)
        let clock = ContinuousClock()
        let started = clock.now
        do {
            for try await message in inbound.messages(maxSize: 64 * 1024) {
                if closed() { continue }
                // Every message counts, binary ones (which carry no request) included.
                var text = ""
                let parsed: Result<(id: Int, request: RTCMessage.Inbound), RTCMessage.ParseError>?
                if case .text(let body) = message {
                    text = body
                    parsed = RTCMessage.request(body)
                } else {
                    parsed = nil
                }
                let elapsed = (clock.now - started).components
                let now = Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
                let verdict: RequestBudget.Decision
                if case .success((_, .media(.trickle)))? = parsed {
                    verdict = trickles.take(now: now)
                } else {
                    verdict = budget.take(now: now)
                }
                switch verdict {
                case .allowed:
                    break
                case .refused:
                    limits.refused()
                    if case .success(let (id, _))? = parsed {
                        try? await outbound.write(.text(RTCReply(id: id, error: RTCErrorBody(.tooManyRequests)).text))
                    }
                    continue
                case .close:
                    limits.refused()
                    try? await outbound.close(.unknown(4029), reason: "Too many requests")
                    return
                }
                switch parsed {
                case .success(let (id, request))?: await handle(id, request, text)
                case .failure(let error)?:
                    // No contract code applies to a frame that is not understood: 400, with a sentence naming the problem.
                    let body = RTCErrorBody.invalidRequest(error.message)
                    try? await outbound.write(.text(error.id.map { RTCReply(id: $0, error: body).text } ?? RTCEvent.error(body).text))
                case nil:
                    continue
                }
            }
        } catch {}
    }

    /// Media requests one connection may have waiting for the SFU.
    static let mediaBacklog = 32
    /// The largest requests relayed to another node, by kind (each crosses the database).
    static let relayedTrickleBytes = 2048
    static let relayedMediaBytes = RTCMessage.maxSDPBytes + 4096
    static let relayedRequestBytes = 8192

    /// Carries out one connection's requests in its meeting (a connection to this node, or one
    /// relayed from another node): meeting requests and jobs at once, in order; media requests,
    /// which wait on the SFU, in order on a task of their own, so the connection's other
    /// requests, and its departure, never wait behind one. That task starts with the first media
    /// request: a connection that never sends one (most, in a big room) costs no task.
    final class RequestRunner: Sendable {
        let connection: ConnectionID
        private let hub: MeetingHub
        private let jobs: JobService
        private let links: PublicLinks
        private let mediaQueue = Mutex(MediaQueue())

        private struct MediaQueue {
            var sink: AsyncStream<(id: Int, request: StreamRequest)>.Continuation?
            var worker: Task<Void, Never>?
            var stopped = false
        }

        init(connection: ConnectionID, hub: MeetingHub, jobs: JobService, links: PublicLinks) {
            self.connection = connection
            self.hub = hub
            self.jobs = jobs
            self.links = links
        }

        /// Queues a media request behind the connection's others; false when `mediaBacklog` wait already.
        private func queueMedia(_ id: Int, _ request: StreamRequest) -> Bool {
            let (connection, hub) = (self.connection, self.hub)
            return mediaQueue.withLock { queue in
                guard !queue.stopped else { return true }
                let sink: AsyncStream<(id: Int, request: StreamRequest)>.Continuation
                if let existing = queue.sink {
                    sink = existing
                } else {
                    let (requests, made) = AsyncStream<(id: Int, request: StreamRequest)>.makeStream(bufferingPolicy: .bufferingOldest(mediaBacklog))
                    sink = made
                    queue.sink = made
                    queue.worker = Task {
                        for await (id, request) in requests {
                            // Requests still buffered when the connection closes are dropped, not carried out.
                            guard !Task.isCancelled else { break }
                            await RTCController.media(request, id: id, from: connection, hub: hub)
                        }
                    }
                }
                if case .dropped = sink.yield((id, request)) { return false }
                return true
            }
        }

        func run(_ request: RTCMessage.Inbound, id: Int) async {
            switch request {
            case .meeting(let request): await hub.handle(request, id: id, from: connection)
            case .startJob(let kind, let body):
                await RTCController.job(kind, start: body, id: id, from: connection, hub: hub, jobs: jobs, links: links)
            case .stopJob(let kind): await RTCController.job(kind, start: nil, id: id, from: connection, hub: hub, jobs: jobs, links: links)
            case .media(let request):
                if !queueMedia(id, request) {
                    let body = RTCErrorBody(.tooManyRequests, reason: "at most \(mediaBacklog) media requests may wait")
                    hub.send(connection, RTCReply(id: id, error: body).text)
                }
            }
        }

        /// The connection is gone: the media request in flight finds it gone; waiting ones are dropped.
        func stop() {
            let queue = mediaQueue.withLock { queue in
                queue.stopped = true
                return queue
            }
            queue.worker?.cancel()
            queue.sink?.finish()
        }
    }

    /// `publish`, `subscribe`, `trickle`, ... (CONTRACT.md section 7): carried out by the SFU
    /// through the hub's media bridge; only a participant in the meeting may.
    fileprivate static func media(_ request: StreamRequest, id: Int, from connection: ConnectionID, hub: MeetingHub) async {
        do throws(MediaBridge.Failure) {
            try await hub.media.handle(request, from: connection, bitrate: hub.bitrate(connection)) { fields in
                hub.send(connection, RTCReply(id: id, fields: fields).text)
            }
        } catch {
            hub.send(connection, RTCReply(id: id, error: RTCErrorBody(error.code, reason: error.reason)).text)
        }
    }

    /// `startRecording`, `stopHls`, ... over `/rtc`: needs `allow_mod` and a place in the meeting;
    /// the same rules as the server API (`JobService`), with the request's fields sourced `sdk`.
    /// A refusal carries its own code (4021, 4015) or the kind's start/stop failure code.
    fileprivate static func job(
        _ kind: JobKind, start body: JSONValue?, id: Int, from connection: ConnectionID, hub: MeetingHub, jobs: JobService, links: PublicLinks
    ) async {
        let failure = body == nil ? kind.stopCode : kind.startCode
        guard let member = hub.member(connection), member.permissions.contains(.allowMod) else {
            return hub.send(connection, RTCReply(id: id, error: RTCErrorBody(failure, reason: "needs allow_mod, in the meeting")).text)
        }
        let reply = { (job: JobRecord) in hub.send(connection, RTCReply(id: id, job: job.json(links: links)).text) }
        do throws(AppError) {
            if let body {
                _ = try await jobs.start(kind, room: member.room, body: body, source: .sdk, reply: reply)
            } else {
                _ = try await jobs.stop(kind, room: member.room, reply: reply)
            }
        } catch {
            hub.send(connection, RTCReply(id: id, error: RTCErrorBody(error.code ?? failure, reason: error.message)).text)
        }
    }

    struct ValidateResponse: ResponseEncodable, Sendable {
        var participantId: String
        /// `join` or `lobby`.
        var admission: String
    }

    /// A join admitted to the meeting here, or by the room's owner node for a relay.
    enum Admission {
        case here(AdmittedJoin)
        case relayed(Cluster.RemoteAdmission, owner: String)

        var participantId: String {
            switch self {
            case .here(let join): join.participantId
            case .relayed(let admitted, _): admitted.participantId
            }
        }
        var lobby: Bool {
            switch self {
            case .here(let join): join.lobby
            case .relayed(let admitted, _): admitted.lobby
            }
        }
    }

    /// Admission (`JoinService.admit`) for this request: the token from `Authorization` or the
    /// `token` query parameter, the rest from the query. With other nodes on the store, the
    /// token is verified here and the rest runs on the room's owner (`Cluster`).
    func admit(_ request: Request, _ context: AppContext, reserving: Bool = false) async throws -> Admission {
        let form = FormQuery(request.uri.query?[...])
        func value(_ name: String) -> String? { form[name] }
        let query = JoinQuery(
            token: Services.accessToken(request) ?? value("token"), roomId: value("roomId"), participantId: value("participantId"),
            name: value("name"), origin: request.headers[.origin], maxSendBitrate: value("maxSendBitrate"), micEnabled: value("micEnabled"),
            webcamEnabled: value("webcamEnabled"))
        guard cluster.isShared else { return .here(try await joins.admit(query, reserving: reserving)) }
        let claims = try services.access.verify(query.token, for: nil)
        guard let roomId = query.roomId, !roomId.isEmpty, let record = try await services.rooms.room(apiKey: claims.apiKey, id: roomId) else {
            return .here(try await joins.admit(query, claims: claims, reserving: reserving))
        }
        let room = RoomRef(apiKey: claims.apiKey, roomId: record.roomId)
        // Again when the owner gave the room up meanwhile, or does not answer (dead, its lease
        // lapses within `Cluster.leaseTime` and this node takes the room over), for a while.
        let deadline = ContinuousClock.now + Cluster.joinPatience
        var moved = false
        for _ in 0..<8 where ContinuousClock.now < deadline {
            switch try await cluster.route(room) {
            case .local:
                return .here(try await joins.admit(query, claims: claims, reserving: reserving))
            case .remote(let owner):
                switch try await cluster.admit(query, claims: claims, room: room, owner: owner, reserving: reserving) {
                case .admitted(let admitted): return .relayed(admitted, owner: owner)
                case .moved: moved = true
                case .silent: moved = false
                }
            }
        }
        throw AppError(
            .unavailable,
            moved
                ? "Room \(record.roomId) is moving between nodes; join again." : "The node running room \(record.roomId) does not answer; join again."
        )
    }
}
