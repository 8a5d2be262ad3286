import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird
import Logging

/// Why a start, stop or worker report was refused: the HTTP answer for REST, the code for `/rtc`.
struct JobFailure: Error {
    var status: HTTPResponse.Status
    /// The contract code the REST body carries, where one applies (4021, 4015).
    var code: ErrorCode?
    /// The code a `/rtc` reply carries.
    var rtcCode: ErrorCode
    var message: String

    var apiError: APIError {
        code.map { APIError.code($0, status, text: message) } ?? APIError(status, message)
    }
}

/// The control plane for recording, HLS, livestream and transcription jobs (CONTRACT.md
/// section 3): starts resolve their configuration once (request, then dashboard, then default)
/// and store it with the job; workers claim jobs and report their progress; participants
/// hear every change as `<kind>-state-changed`. Admit encodes no media itself.
///
/// A class, so that every meeting connection holds one reference to it rather than a copy.
final class JobService: SessionObserver {
    let services: Services
    let hub: MeetingHub
    let webhooks: Webhooks
    let logger: Logger

    init(services: Services, hub: MeetingHub, webhooks: Webhooks, logger: Logger) {
        self.services = services
        self.hub = hub
        self.webhooks = webhooks
        self.logger = logger
    }

    /// `startRecording`, `stopHls`, ... over `/rtc`: needs `allow_mod` and a place in the meeting;
    /// the same rules as the server API, with the request's fields sourced `sdk`.
    func handle(_ kind: JobKind, start body: JSONValue?, id: Int, from connection: ConnectionID) async {
        let failure = body == nil ? kind.stopCode : kind.startCode
        guard let member = hub.member(connection), member.permissions.contains(.allowMod) else {
            return hub.send(connection, Wire.reply(id: id, error: failure, reason: "needs allow_mod, in the meeting"))
        }
        let reply = { (job: JobRecord) in self.hub.send(connection, Wire.reply(id: id, job: job.json())) }
        do throws(JobFailure) {
            if let body {
                _ = try await start(kind, room: member.room, body: body, source: .sdk, reply: reply)
            } else {
                _ = try await stop(kind, room: member.room, reply: reply)
            }
        } catch {
            hub.send(connection, Wire.reply(id: id, error: error.rtcCode, reason: error.message))
        }
    }

    // MARK: Starting and stopping

    /// Starts a job of `kind` in a room with a live session. `source` is `api` for REST, `sdk` for `/rtc`,
    /// `dashboard` for an automatic start.
    /// `reply` runs before the room hears the change (so a `/rtc` caller gets its answer first).
    func start(
        _ kind: JobKind, room: MeetingHub.RoomKey, body: JSONValue, source: SettingSource, reply: (JobRecord) -> Void = { _ in }
    ) async throws(JobFailure) -> JobRecord {
        let settings = services.keyRing.settings(for: room.apiKey)
        func disabled(_ service: String) -> JobFailure {
            JobFailure(
                status: .forbidden, code: .addOnServicesDisabled, rtcCode: .addOnServicesDisabled,
                message:
                    "\(service == "transcription.enabled" ? "Transcription" : kind.displayName) is disabled for this API key (`\(service)` is false)."
            )
        }
        // A switched-off service is refused whatever the request says.
        guard settings.isEnabled(kind.serviceSwitch) else { throw disabled(kind.serviceSwitch) }
        let request = try StartRequest(kind, body, allowPrivateWebhooks: services.configuration.webhookAllowPrivate)
        if request.transcription, !settings.isEnabled("transcription.enabled") { throw disabled("transcription.enabled") }
        guard let session = hub.liveSession(room) else {
            throw JobFailure(status: .conflict, rtcCode: kind.startCode, message: "Room \(room.roomId) has no live session to \(kind.verb).")
        }
        let config: EffectiveConfig
        if kind == .transcription {
            config = EffectiveConfig()
        } else {
            do throws(SettingsError) {
                config = try Precedence.media(kind, dashboard: settings, request: request.config, source: source)
            } catch {
                throw JobFailure(status: .badRequest, rtcCode: kind.startCode, message: error.message)
            }
        }
        // Starts cost workers and webhooks: a key gets `jobStartsPerMinute` of them. Only starts
        // that run are charged (a refused one is given back below); automatic starts are not.
        let charged = source != .dashboard
        if charged, !services.jobStartLimiter.allow(room.apiKey) {
            throw JobFailure(
                status: .tooManyRequests, rtcCode: kind.startCode,
                message: "Too many job starts for this API key: at most \(services.configuration.jobStartsPerMinute) a minute.")
        }
        let now = Date.stamp()
        let job = JobRecord(
            id: Identifiers.recordId(), apiKey: room.apiKey, roomId: room.roomId, sessionId: session.id, kind: kind.rawValue, status: "starting",
            pendingAction: "start", config: config.json.jsonText, request: JSONValue.object(request.extras).jsonText, createdAt: now, updatedAt: now)
        let inserted: Bool
        do {
            inserted = try await services.repositories.insertJob(job)
        } catch {
            if charged { services.jobStartLimiter.giveBack(room.apiKey) }
            throw storeFailure(kind.startCode, error)
        }
        guard inserted else {
            if charged { services.jobStartLimiter.giveBack(room.apiKey) }
            throw JobFailure(
                status: .conflict, rtcCode: kind.startCode, message: "Room \(room.roomId) already has an active \(kind.displayName.lowercased()) job."
            )
        }
        reply(job)
        announce(job)
        return job
    }

    /// Asks the room's active job of `kind` to stop. A job no worker has claimed yet stops at once.
    func stop(_ kind: JobKind, room: MeetingHub.RoomKey, reply: (JobRecord) -> Void = { _ in }) async throws(JobFailure) -> JobRecord {
        for _ in 0..<5 {
            let active: JobRecord?
            do {
                active = try await services.repositories.activeJob(apiKey: room.apiKey, roomId: room.roomId, kind: kind.rawValue)
            } catch {
                throw storeFailure(kind.stopCode, error)
            }
            guard let active else {
                throw JobFailure(
                    status: .conflict, rtcCode: kind.stopCode, message: "Room \(room.roomId) has no active \(kind.displayName.lowercased()) job.")
            }
            if active.status == "stopping" {
                reply(active)
                return active
            }
            var next = active
            next.status = active.pendingAction == "start" ? "stopped" : "stopping"
            next.pendingAction = next.status == "stopping" ? "stop" : nil
            next.updatedAt = .stamp()
            do {
                if try await services.repositories.updateJob(next, expectedStatus: active.status) {
                    reply(next)
                    announce(next)
                    return next
                }
            } catch {
                throw storeFailure(kind.stopCode, error)
            }
        }
        throw JobFailure(status: .conflict, rtcCode: kind.stopCode, message: "The job kept changing; try again.")
    }

    // MARK: Workers

    /// The oldest job with an action for a worker, or nil.
    func claim(kinds: [JobKind]) async throws -> JobRecord? {
        try await services.repositories.claimJob(kinds: kinds.map(\.rawValue))
    }

    /// A worker's report: moves the job if its state machine allows it and tells the room.
    func report(_ id: String, _ report: StatusReport) async throws -> JobRecord {
        guard let job = try await services.repositories.job(id: id), let kind = JobKind(rawValue: job.kind),
            let current = JobStatus(rawValue: job.status)
        else { throw APIError.notFound("No job \(id).") }
        guard current.canMove(to: report.status, kind: kind) else {
            throw APIError.conflict("A \(kind.rawValue) job cannot move from \(current.rawValue) to \(report.status.rawValue).")
        }
        var next = job
        next.status = report.status.rawValue
        next.pendingAction = nil
        next.fileUrl = report.fileUrl ?? job.fileUrl
        next.playbackHlsUrl = report.playbackHlsUrl ?? job.playbackHlsUrl
        next.livestreamUrl = report.livestreamUrl ?? job.livestreamUrl
        next.error = report.error ?? job.error
        next.updatedAt = .stamp()
        guard try await services.repositories.updateJob(next, expectedStatus: job.status) else {
            throw APIError.conflict("Job \(id) changed meanwhile; read it and report again.")
        }
        announce(next)
        return next
    }

    // MARK: Sessions

    /// `autoStart` from the dashboard: a recording and an HLS stream start with the session.
    func sessionStarted(_ room: MeetingHub.RoomKey, sessionId: String) async {
        await notifyRoom("session-started", room: room, sessionId: sessionId)
        let settings = services.keyRing.settings(for: room.apiKey)
        for kind in [JobKind.recording, .hls] where settings["\(kind.rawValue).autoStart"] == .bool(true) {
            do {
                _ = try await start(kind, room: room, body: .object([]), source: .dashboard)
            } catch {
                logger.warning("autoStart failed", metadata: ["room": "\(room.roomId)", "kind": "\(kind.rawValue)", "reason": "\(error.message)"])
            }
        }
    }

    /// The meeting ended: its active jobs are asked to stop.
    func sessionEnded(_ room: MeetingHub.RoomKey, sessionId: String) async {
        await notifyRoom("session-ended", room: room, sessionId: sessionId)
        for kind in JobKind.allCases {
            _ = try? await stop(kind, room: room)
        }
    }

    /// `participant-joined` / `participant-left` webhooks, for rooms that subscribed to them.
    func participantsChanged(_ room: MeetingHub.RoomKey, _ changes: ParticipantChanges) async {
        for (event, people) in [("participant-joined", changes.joined), ("participant-left", changes.left)] {
            for person in people {
                await notifyRoom(
                    event, room: room, sessionId: changes.sessionId,
                    extra: [JSONMember("participantId", .string(person.participantId)), JSONMember("name", .string(person.name))])
            }
        }
    }

    /// A room webhook (`session-started`, `participant-joined`, ...) for rooms that subscribed to it.
    private func notifyRoom(_ event: String, room: MeetingHub.RoomKey, sessionId: String, extra: [JSONMember] = []) async {
        let record = try? await services.rooms.room(apiKey: room.apiKey, id: room.roomId)
        let urls = Webhooks.targets(event: event, jobURL: nil, room: record)
        guard !urls.isEmpty else { return }
        let data = JSONValue.object(
            [
                JSONMember("meetingId", .string(room.roomId)), JSONMember("roomId", .string(room.roomId)),
                JSONMember("sessionId", .string(sessionId)),
            ] + extra)
        webhooks.send(event, apiKey: room.apiKey, data: data, to: urls)
    }

    // MARK: Helpers

    /// Tells the room's participants the job's state (`recording-state-changed`, ...).
    private func announce(_ job: JobRecord) {
        guard let kind = JobKind(rawValue: job.kind), let status = JobStatus(rawValue: job.status) else { return }
        services.metrics.job(kind: job.kind, status: job.status)
        var members = [
            JSONMember("event", .string("\(kind.rawValue)-state-changed")), JSONMember("status", .string(status.wireName(kind))),
            JSONMember("id", .string(job.id)),
        ]
        for (name, value) in [
            ("fileUrl", job.fileUrl), ("playbackHlsUrl", job.playbackHlsUrl), ("livestreamUrl", job.livestreamUrl), ("error", job.error),
        ] {
            if let value { members.append(JSONMember(name, .string(value))) }
        }
        hub.broadcast(MeetingHub.RoomKey(apiKey: job.apiKey, roomId: job.roomId), JSONValue.object(members).jsonText)
        Task { await notify(job, kind: kind, status: status) }
    }

    /// The job's webhook event (`recording-started`, `hls-playable`, `livestream-failed`, ...).
    private func notify(_ job: JobRecord, kind: JobKind, status: JobStatus) async {
        let event = "\(kind.rawValue)-\(status.rawValue)"
        let jobURL = (try? JSONValue(parsing: job.request))?["webhookUrl"]?.stringValue
        let room = try? await services.rooms.room(apiKey: job.apiKey, id: job.roomId)
        let urls = Webhooks.targets(event: event, jobURL: jobURL, room: room)
        guard !urls.isEmpty else { return }
        var data = [
            JSONMember("meetingId", .string(job.roomId)), JSONMember("roomId", .string(job.roomId)), JSONMember("sessionId", .string(job.sessionId)),
            JSONMember("id", .string(job.id)), JSONMember("status", .string(job.status)),
        ]
        for (name, value) in [
            ("fileUrl", job.fileUrl), ("playbackHlsUrl", job.playbackHlsUrl), ("livestreamUrl", job.livestreamUrl), ("error", job.error),
        ] {
            if let value { data.append(JSONMember(name, .string(value))) }
        }
        webhooks.send(event, apiKey: job.apiKey, data: .object(data), to: urls)
    }

    private func storeFailure(_ code: ErrorCode, _ error: any Error) -> JobFailure {
        logger.error("job store error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
        return JobFailure(status: .internalServerError, rtcCode: code, message: "Internal error.")
    }
}

extension JobKind {
    var displayName: String {
        switch self {
        case .recording: "Recording"
        case .hls: "HLS"
        case .livestream: "Livestream"
        case .transcription: "Transcription"
        }
    }

    var verb: String { "start a \(displayName.lowercased()) job" }

    var startCode: ErrorCode {
        switch self {
        case .recording: .startRecordingFailed
        case .hls: .startHLSFailed
        case .livestream: .startLivestreamFailed
        case .transcription: .startTranscriptionFailed
        }
    }

    var stopCode: ErrorCode {
        switch self {
        case .recording: .stopRecordingFailed
        case .hls: .stopHLSFailed
        case .livestream: .stopLivestreamFailed
        case .transcription: .stopTranscriptionFailed
        }
    }
}
