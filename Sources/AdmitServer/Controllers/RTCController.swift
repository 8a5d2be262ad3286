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
            let join = try await admit(request, context, reserving: true)
            return .upgrade([:], Self.meeting(join, channel: channel, hub: hub, jobs: jobs, links: services.links, limits: limits))
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

    /// One admitted connection's life in its meeting. Static, so each connection's tasks hold
    /// only the hub, the job service, the links and the limits, not a copy of the controller.
    private static func meeting(
        _ join: AdmittedJoin, channel: any Channel, hub: MeetingHub, jobs: JobService, links: PublicLinks, limits: RequestLimits
    ) -> WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context> {
        { inbound, outbound, context in
            let outlet: FrameOutlet
            do {
                outlet = try await FrameOutlet.attach(to: channel, overflowed: limits.unread)
            } catch {
                // Only if the WebSocket pipeline lost its frame encoder: the seat is given back by the hub's expiry.
                context.logger.error("no WebSocket frame encoder on an upgraded /rtc channel")
                return
            }
            let connection = hub.open(room: join.room, config: join.config, outlet: outlet, participantHooks: join.participantHooks)
            // Media requests wait on the SFU: they run in order on a task of their own, so the
            // connection's other requests, and its departure, never wait behind one.
            let (mediaRequests, mediaSink) = AsyncStream<(id: Int, request: StreamRequest)>.makeStream(
                bufferingPolicy: .bufferingOldest(Self.mediaBacklog))
            let mediaWorker = Task {
                for await (id, request) in mediaRequests {
                    // Requests still buffered when the connection closes are dropped, not carried out.
                    guard !Task.isCancelled else { break }
                    await media(request, id: id, from: connection, hub: hub)
                }
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    // The hub's events go out through the outlet; this task only closes, when the hub says so.
                    for await _ in outlet.closeRequested {
                        try? await outbound.close(.normalClosure, reason: nil)
                        return
                    }
                }
                group.addTask {
                    await hub.arrive(
                        connection, lobby: join.lobby, participantId: join.participantId, name: join.name, claims: join.claims, mic: join.mic,
                        webcam: join.webcam)
                    var budget = RequestBudget(perSecond: limits.perSecond, burst: limits.burst)
                    // ICE candidates come in bursts at connection setup: `trickle` has its own,
                    // ten times larger budget (CONTRACT.md section 4: not counted in the other).
                    var trickles = RequestBudget(perSecond: min(limits.perSecond, 1_000_000) * 10, burst: min(limits.burst, 1_000_000) * 10)
                    let clock = ContinuousClock()
                    let started = clock.now
                    do {
                        for try await message in inbound.messages(maxSize: 64 * 1024) {
                            // Every message counts, binary ones (which carry no request) included.
                            let parsed: Result<(id: Int, request: RTCMessage.Inbound), RTCMessage.ParseError>?
                            if case .text(let text) = message { parsed = RTCMessage.request(text) } else { parsed = nil }
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
                            guard let parsed else { continue }
                            switch parsed {
                            case .success(let (id, .meeting(request))): await hub.handle(request, id: id, from: connection)
                            case .success(let (id, .startJob(kind, body))):
                                await job(kind, start: body, id: id, from: connection, hub: hub, jobs: jobs, links: links)
                            case .success(let (id, .stopJob(kind))):
                                await job(kind, start: nil, id: id, from: connection, hub: hub, jobs: jobs, links: links)
                            case .success(let (id, .media(request))):
                                if case .dropped = mediaSink.yield((id, request)) {
                                    let body = RTCErrorBody(.tooManyRequests, reason: "at most \(Self.mediaBacklog) media requests may wait")
                                    try? await outbound.write(.text(RTCReply(id: id, error: body).text))
                                }
                            case .failure(let error):
                                // No contract code applies to a frame that is not understood: 400, with a sentence naming the problem.
                                let body = RTCErrorBody.invalidRequest(error.message)
                                try? await outbound.write(.text(error.id.map { RTCReply(id: $0, error: body).text } ?? RTCEvent.error(body).text))
                            }
                        }
                    } catch {}
                }
                await group.next()
                group.cancelAll()
            }
            // The request in flight (if any) finds the connection gone when the SFU answers; the
            // ones still waiting are dropped.
            mediaWorker.cancel()
            mediaSink.finish()
            await hub.disconnected(connection)
        }
    }

    /// Media requests one connection may have waiting for the SFU.
    static let mediaBacklog = 32

    /// `publish`, `subscribe`, `trickle`, ... (CONTRACT.md section 7): carried out by the SFU
    /// through the hub's media bridge; only a participant in the meeting may.
    private static func media(_ request: StreamRequest, id: Int, from connection: ConnectionID, hub: MeetingHub) async {
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
    private static func job(
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

    /// Admission (`JoinService.admit`) for this request: the token from `Authorization` or the
    /// `token` query parameter, the rest from the query.
    func admit(_ request: Request, _ context: AppContext, reserving: Bool = false) async throws -> AdmittedJoin {
        let query = FormQuery(request.uri.query?[...])
        func value(_ name: String) -> String? { query[name] }
        return try await joins.admit(
            JoinQuery(
                token: Services.accessToken(request) ?? value("token"), roomId: value("roomId"), participantId: value("participantId"),
                name: value("name"), origin: request.headers[.origin], maxSendBitrate: value("maxSendBitrate"), micEnabled: value("micEnabled"),
                webcamEnabled: value("webcamEnabled")),
            reserving: reserving)
    }
}
