import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird
import HummingbirdWebSocket
import HTTPTypes
import Logging
import NIOCore
import Synchronization

/// An admitted join, handed from the upgrade decision to the WebSocket handler.
struct AdmittedJoin: Sendable {
    var claims: Claims
    var room: MeetingHub.RoomKey
    var participantId: String
    var name: String
    var lobby: Bool
    var mic: Bool
    var webcam: Bool
    var config: JSONValue
    /// The room's webhook subscribes to `participant-joined` or `participant-left`.
    var participantHooks: Bool
}

/// `/rtc` (the meeting WebSocket) and `/rtc/validate` (the same verdict without joining).
struct RTCController {
    let services: Services
    let hub: MeetingHub
    let jobs: JobService

    /// The per-connection request rate (`RequestBudget`), and what counts a refusal.
    struct RequestLimits: Sendable {
        var perSecond: Int
        var burst: Int
        var refused: @Sendable () -> Void
    }

    private var limits: RequestLimits {
        let metrics = services.metrics
        return RequestLimits(
            perSecond: services.configuration.rtcRequestsPerSecond, burst: services.configuration.rtcRequestBurst,
            refused: { metrics.rtcRequestRefused() })
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
            return .upgrade([:], Self.meeting(join, channel: channel, hub: hub, jobs: jobs, limits: limits))
        } catch let error as APIError {
            RefusedUpgradeWriter.record(ObjectIdentifier(channel), error)
            return .dontUpgrade
        } catch {
            return .dontUpgrade
        }
    }

    /// One admitted connection's life in its meeting. Static, so each connection's tasks hold
    /// only the hub, the job service and the limits, not a copy of the controller.
    private static func meeting(
        _ join: AdmittedJoin, channel: any Channel, hub: MeetingHub, jobs: JobService, limits: RequestLimits
    ) -> WebSocketDataHandler<HTTP1WebSocketUpgradeChannel.Context> {
        { inbound, outbound, context in
            let outlet: FrameOutlet
            do {
                outlet = try await FrameOutlet.attach(to: channel)
            } catch {
                // Only if the WebSocket pipeline lost its frame encoder: the seat is given back by the hub's expiry.
                context.logger.error("no WebSocket frame encoder on an upgraded /rtc channel")
                return
            }
            let connection = hub.open(room: join.room, config: join.config, outlet: outlet, participantHooks: join.participantHooks)
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
                    let clock = ContinuousClock()
                    let started = clock.now
                    do {
                        for try await message in inbound.messages(maxSize: 64 * 1024) {
                            // Every message counts, binary ones (which carry no request) included.
                            let parsed: Result<(id: Int, request: RTCMessage.Inbound), RTCMessage.ParseError>?
                            if case .text(let text) = message { parsed = RTCMessage.request(text) } else { parsed = nil }
                            let elapsed = (clock.now - started).components
                            switch budget.take(now: Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18) {
                            case .allowed:
                                break
                            case .refused:
                                limits.refused()
                                if case .success(let (id, _))? = parsed { try? await outbound.write(.text(Wire.reply(id: id, error: .tooManyRequests))) }
                                continue
                            case .close:
                                limits.refused()
                                try? await outbound.close(.unknown(4029), reason: "Too many requests")
                                return
                            }
                            guard let parsed else { continue }
                            switch parsed {
                            case .success(let (id, .meeting(request))): await hub.handle(request, id: id, from: connection)
                            case .success(let (id, .startJob(kind, body))): await job(kind, start: body, id: id, from: connection, hub: hub, jobs: jobs)
                            case .success(let (id, .stopJob(kind))): await job(kind, start: nil, id: id, from: connection, hub: hub, jobs: jobs)
                            case .failure(let error): try? await outbound.write(.text(Wire.badRequest(id: error.id, error.message)))
                            }
                        }
                    } catch {}
                }
                await group.next()
                group.cancelAll()
            }
            await hub.disconnected(connection)
        }
    }

    /// `startRecording`, `stopHls`, ... over `/rtc`: needs `allow_mod` and a place in the meeting;
    /// the same rules as the server API (`JobService`), with the request's fields sourced `sdk`.
    /// A refusal carries its own code (4021, 4015) or the kind's start/stop failure code.
    private static func job(_ kind: JobKind, start body: JSONValue?, id: Int, from connection: ConnectionID, hub: MeetingHub, jobs: JobService) async {
        let failure = body == nil ? kind.stopCode : kind.startCode
        guard let member = hub.member(connection), member.permissions.contains(.allowMod) else {
            return hub.send(connection, Wire.reply(id: id, error: failure, reason: "needs allow_mod, in the meeting"))
        }
        let reply = { (job: JobRecord) in hub.send(connection, Wire.reply(id: id, job: job.json())) }
        do throws(AppError) {
            if let body {
                _ = try await jobs.start(kind, room: member.room, body: body, source: .sdk, reply: reply)
            } else {
                _ = try await jobs.stop(kind, room: member.room, reply: reply)
            }
        } catch {
            hub.send(connection, Wire.reply(id: id, error: error.code ?? failure, reason: error.message))
        }
    }

    struct ValidateResponse: ResponseEncodable, Sendable {
        var participantId: String
        /// `join` or `lobby`.
        var admission: String
    }

    /// The one admission function: steps 1-8 for the token, then step 9 (`Admission.decide`),
    /// the lobby's id rule and participant revocations. `reserving`, for the upgrade: a direct
    /// join also takes its seat here, so one over the cap is refused (4009) before any WebSocket.
    func admit(_ request: Request, _ context: AppContext, reserving: Bool = false) async throws -> AdmittedJoin {
        let query = request.uri.queryParameters
        let token = Services.accessToken(request) ?? query["token"].map(String.init)
        let claims = try services.verify(token, for: nil)
        guard let roomId = query["roomId"].map(String.init), !roomId.isEmpty else { throw APIError.badRequest("`roomId` is required.") }
        let settings = try JoinSettings(query)
        let dashboard = services.keyRing.settings(for: claims.apiKey)
        let record = try await services.rooms.room(apiKey: claims.apiKey, id: roomId)
        let key = record.map { MeetingHub.RoomKey(apiKey: claims.apiKey, roomId: $0.roomId) }
        let requested = query["participantId"].map(String.init)
        let facts = record.map { room in
            let counts = hub.counts(
                MeetingHub.RoomKey(apiKey: claims.apiKey, roomId: room.roomId), waiting: requested ?? claims.participantId)
            return RoomFacts(
                roomId: room.roomId, customRoomId: room.customRoomId, disabled: room.disabled,
                participantCount: counts.participants, maxParticipants: hub.maxParticipants,
                lobbyCount: counts.lobby, maxLobby: hub.maxLobby, alreadyWaiting: counts.waiting, whitelist: dashboard.whitelist)
        }
        let verdict = Admission.decide(
            claims: claims, request: JoinRequest(roomId: roomId, participantId: requested, origin: request.headers[.origin]), room: facts
        ) { Identifiers.hex(8) }
        let participantId: String
        let lobby: Bool
        switch verdict {
        case .refused(let error, let status):
            services.metrics.verification(error.reason.rawValue)
            throw APIError(status: .init(code: status), body: error.body(statusCode: status))
        case .join(let id): (participantId, lobby) = (id, false)
        case .lobby(let id): (participantId, lobby) = (id, true)
        }
        guard let key else { throw APIError.code(.invalidMeetingID, .notFound) }
        if lobby, !hub.lobbyMayUse(key, participantId: participantId) {
            throw APIError.code(
                .duplicateParticipant, .conflict, text: "participantId \(participantId) is in the meeting; a lobby entrant cannot replace it.")
        }
        var scoped = claims
        scoped.participantId = participantId
        scoped.roomId = key.roomId
        if services.revocations.isRevoked(scoped) {
            throw APIError.token(TokenError(.invalidToken, .revoked, "participant \(participantId) has been revoked"))
        }
        if reserving, !lobby, !hub.reserveSeat(key, participantId: participantId) {
            let error = TokenError(.maxParticipantReached, .room, "room \(key.roomId) has \(hub.maxParticipants) participants")
            services.metrics.verification(error.reason.rawValue)
            throw APIError(status: .forbidden, body: error.body(statusCode: 403))
        }
        let name = query["name"].map(String.init).flatMap { $0.isEmpty ? nil : String($0.prefix(100)) } ?? participantId
        return AdmittedJoin(
            claims: claims, room: key, participantId: participantId, name: name, lobby: lobby, mic: settings.mic, webcam: settings.webcam,
            config: Precedence.audioVideo(dashboard: dashboard, sdkMaxSendBitrate: settings.maxSendBitrate).json,
            participantHooks: record?.webhook != nil && WebhookRules.subscribesToParticipants(record))
    }
}

/// The SDK's own settings on the join URL (CONTRACT.md section 4).
struct JoinSettings {
    var maxSendBitrate: String?
    var mic = false
    var webcam = false

    init(_ query: Parameters) throws {
        if let value = query["maxSendBitrate"].map(String.init) {
            guard MediaField.bitrates.contains(value) else { throw APIError.badRequest("`maxSendBitrate` must be auto, sd, hd or fullhd.") }
            maxSendBitrate = value
        }
        mic = try Self.flag(query, "micEnabled")
        webcam = try Self.flag(query, "webcamEnabled")
    }

    private static func flag(_ query: Parameters, _ name: String) throws -> Bool {
        guard let value = query[Substring(name)] else { return false }
        guard value == "true" || value == "false" else { throw APIError.badRequest("`\(name)` must be true or false.") }
        return value == "true"
    }
}
