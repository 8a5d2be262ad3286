package import AdmitCore
package import AdmitStore
package import AdmitToken
package import Foundation
package import Logging

/// A room of an API key: how meetings, jobs and sessions name the room they act on.
public struct RoomRef: Hashable, Sendable {
    public var apiKey: String
    public var roomId: String

    public init(apiKey: String, roomId: String) {
        self.apiKey = apiKey
        self.roomId = roomId
    }
}

/// Told when a room's session starts (its first join) and ends (its last leave, or `end`),
/// and who came and went, by whatever runs the meetings.
package protocol SessionObserver: Sendable {
    func sessionStarted(_ room: RoomRef, sessionId: String) async
    func sessionEnded(_ room: RoomRef, sessionId: String) async
    /// Participants entered or left the meeting (only for rooms whose webhook asked).
    func participantsChanged(_ room: RoomRef, _ changes: ParticipantChanges) async
}

/// Who entered and who left the meeting in one change, with names.
package struct ParticipantChanges: Sendable {
    package var sessionId: String
    package var joined: [(participantId: String, name: String)]
    package var left: [(participantId: String, name: String)]

    package init(sessionId: String, joined: [(participantId: String, name: String)], left: [(participantId: String, name: String)]) {
        self.sessionId = sessionId
        self.joined = joined
        self.left = left
    }
}

/// What jobs need from the rest of the server: the live meetings, the room records, webhook
/// delivery and metrics. The server provides it; the rules stay here.
package protocol JobPort: Sendable {
    /// The room's live session id, if any (wherever its meeting runs).
    func liveSessionId(_ room: RoomRef) async -> String?
    /// Tells everyone in the room's meeting (wherever it runs) a job's new state, unless a
    /// newer state of that job was told already (`JobEventOrder`).
    func broadcast(_ room: RoomRef, _ event: JobEvent)
    /// The room's record (for its webhook subscription); nil when unknown.
    func record(_ room: RoomRef) async -> RoomRecord?
    /// Delivers `event` with `data` to each URL, in the background.
    func sendWebhook(_ event: String, apiKey: String, data: JSONValue, to urls: [String])
    /// A job reached `status` (counted in metrics).
    func jobMoved(kind: JobKind, status: JobStatus)
}

/// Which URLs a webhook event goes to (CONTRACT.md section 4).
package enum WebhookRules {
    /// The job's own URL, and the room's endpoint when its `events` list names the event.
    package static func targets(event: String, jobURL: String?, room: RoomRecord?) -> [String] {
        var urls: [String] = []
        if let jobURL { urls.append(jobURL) }
        if let text = room?.webhook, let hook = try? JSONValue(parsing: text), let endPoint = hook["endPoint"]?.stringValue,
            case .array(let events)? = hook["events"], events.contains(.string(event)), !urls.contains(endPoint)
        {
            urls.append(endPoint)
        }
        return urls
    }

    /// Whether the room's webhook wants `participant-joined` or `participant-left` (the meetings
    /// then track who comes and goes in that room; other rooms pay nothing for it).
    package static func subscribesToParticipants(_ room: RoomRecord?) -> Bool {
        !targets(event: "participant-joined", jobURL: nil, room: room).isEmpty || !targets(event: "participant-left", jobURL: nil, room: room).isEmpty
    }
}

extension JobRecord {
    package var jobKind: JobKind? { JobKind(rawValue: kind) }
    package var jobStatus: JobStatus? { JobStatus(rawValue: status) }
    package var action: JobAction? { pendingAction.flatMap(JobAction.init(rawValue:)) }

    /// What the worker reported, as participants and webhooks see it: the URLs it gave and its error.
    var workerOutput: [JSONMember] {
        [("fileUrl", fileUrl), ("playbackHlsUrl", playbackHlsUrl), ("livestreamUrl", livestreamUrl), ("error", error)].compactMap { name, value in
            value.map { JSONMember(name, .string($0)) }
        }
    }

    /// The job moved to `next`, with `action` for its worker, when its state machine allows the
    /// move (`JobStatus.canMove`); nil otherwise. Every change of a job's status goes through here.
    package func moved(to next: JobStatus, action: JobAction?, now: Date) -> JobRecord? {
        guard let kind = jobKind, let current = jobStatus, current.canMove(to: next, kind: kind) else { return nil }
        var job = self
        job.status = next.rawValue
        job.pendingAction = action?.rawValue
        job.updatedAt = now
        if next == .stopped || next == .failed { job.endedAt = now }
        return job
    }
}

/// The control plane for recording, HLS, livestream and transcription jobs (CONTRACT.md
/// section 3): starts resolve their configuration once (request, then dashboard, then default)
/// and store it with the job; workers claim jobs and report their progress; participants
/// hear every change as `<kind>-state-changed`. Admit encodes no media itself.
package final class JobService: SessionObserver {
    let repositories: any Repositories
    let port: any JobPort
    /// A key's API settings (the server's key ring).
    let settings: @Sendable (String) -> APISettings
    /// Starts per key and minute (`--job-starts-per-minute`).
    let startLimiter: RateLimiter
    let startsPerMinute: Int
    /// Why a webhook URL is refused (nil: accepted); the server's address rules.
    let webhookRefusal: @Sendable (String) -> String?
    let logger: Logger

    package init(
        repositories: any Repositories, port: any JobPort, settings: @escaping @Sendable (String) -> APISettings, startsPerMinute: Int,
        webhookRefusal: @escaping @Sendable (String) -> String?, logger: Logger
    ) {
        self.repositories = repositories
        self.port = port
        self.settings = settings
        self.startsPerMinute = startsPerMinute
        self.startLimiter = RateLimiter(perMinute: startsPerMinute)
        self.webhookRefusal = webhookRefusal
        self.logger = logger
    }

    // MARK: Starting and stopping

    /// Starts a job of `kind` in a room with a live session. `source` is `api` for REST, `sdk` for `/rtc`,
    /// `dashboard` for an automatic start.
    /// `reply` runs before the room hears the change (so a `/rtc` caller gets its answer first).
    package func start(
        _ kind: JobKind, room: RoomRef, body: JSONValue, source: SettingSource, reply: (JobRecord) -> Void = { _ in }
    ) async throws(AppError) -> JobRecord {
        let settings = settings(room.apiKey)
        func disabled(_ service: String) -> AppError {
            AppError(
                .forbidden,
                "\(service == "transcription.enabled" ? "Transcription" : kind.displayName) is disabled for this API key (`\(service)` is false).",
                code: .addOnServicesDisabled)
        }
        // A switched-off service is refused whatever the request says.
        guard settings.isEnabled(kind.serviceSwitch) else { throw disabled(kind.serviceSwitch) }
        let request = try StartRequest(kind, body, webhookRefusal: webhookRefusal)
        if request.transcription, !settings.isEnabled("transcription.enabled") { throw disabled("transcription.enabled") }
        guard let sessionId = await port.liveSessionId(room) else {
            throw AppError.conflict("Room \(room.roomId) has no live session to \(kind.verb).")
        }
        let config: EffectiveConfig
        if kind == .transcription {
            config = EffectiveConfig()
        } else {
            do throws(SettingsError) {
                config = try Precedence.media(kind, dashboard: settings, request: request.config, source: source)
            } catch {
                throw AppError.invalid(error.message)
            }
        }
        // Starts cost workers and webhooks: a key gets `startsPerMinute` of them. Only starts
        // that run are charged (a refused one is given back below); automatic starts are not.
        let charged = source != .dashboard
        if charged, !startLimiter.allow(room.apiKey) {
            throw AppError(.tooManyRequests, "Too many job starts for this API key: at most \(startsPerMinute) a minute.")
        }
        let now = Date.stamp()
        let job = JobRecord(
            id: Identifiers.recordId(), apiKey: room.apiKey, roomId: room.roomId, sessionId: sessionId, kind: kind.rawValue,
            status: JobStatus.starting.rawValue, pendingAction: JobAction.start.rawValue, config: config.json.jsonText,
            request: JSONValue.object(request.extras).jsonText, createdAt: now, updatedAt: now)
        let inserted: Bool
        do {
            inserted = try await repositories.insertJob(job)
        } catch {
            if charged { startLimiter.giveBack(room.apiKey) }
            throw storeFailure(error)
        }
        guard inserted else {
            if charged { startLimiter.giveBack(room.apiKey) }
            throw AppError.conflict("Room \(room.roomId) already has an active \(kind.displayName.lowercased()) job.")
        }
        reply(job)
        announce(job)
        return job
    }

    /// Asks the room's active job of `kind` to stop. A job no worker has claimed yet stops at once.
    package func stop(_ kind: JobKind, room: RoomRef, reply: (JobRecord) -> Void = { _ in }) async throws(AppError) -> JobRecord {
        for _ in 0..<5 {
            let active: JobRecord?
            do {
                active = try await repositories.activeJob(apiKey: room.apiKey, roomId: room.roomId, kind: kind.rawValue)
            } catch {
                throw storeFailure(error)
            }
            guard let active else {
                throw AppError.conflict("Room \(room.roomId) has no active \(kind.displayName.lowercased()) job.")
            }
            if active.jobStatus == .stopping {
                reply(active)
                return active
            }
            let unclaimed = active.action == .start
            guard let next = active.moved(to: unclaimed ? .stopped : .stopping, action: unclaimed ? nil : .stop, now: .stamp()) else {
                throw AppError.conflict("A \(kind.rawValue) job cannot stop from \(active.status).")
            }
            do {
                if try await repositories.updateJob(next, expectedStatus: active.status) {
                    reply(next)
                    announce(next)
                    return next
                }
            } catch {
                throw storeFailure(error)
            }
        }
        throw AppError.conflict("The job kept changing; try again.")
    }

    // MARK: Workers

    /// The oldest job with an action for a worker, or nil.
    package func claim(kinds: [JobKind]) async throws -> JobRecord? {
        try await repositories.claimJob(kinds: kinds.map(\.rawValue))
    }

    /// A worker's report: moves the job if its state machine allows it and tells the room.
    package func report(_ id: String, _ report: StatusReport) async throws -> JobRecord {
        guard let job = try await repositories.job(id: id), let kind = job.jobKind, let current = job.jobStatus else {
            throw AppError.notFound("No job \(id).")
        }
        guard var next = job.moved(to: report.status, action: nil, now: .stamp()) else {
            throw AppError.conflict("A \(kind.rawValue) job cannot move from \(current.rawValue) to \(report.status.rawValue).")
        }
        next.fileUrl = report.fileUrl ?? job.fileUrl
        next.playbackHlsUrl = report.playbackHlsUrl ?? job.playbackHlsUrl
        next.livestreamUrl = report.livestreamUrl ?? job.livestreamUrl
        next.error = report.error ?? job.error
        if let file = report.file {
            // The list shows the file with an id of its own, stable across reports of the same job.
            next.file = JSONValue.object(file + [JSONMember("id", .string("\(job.id)-file"))]).jsonText
            if next.fileUrl == nil { next.fileUrl = file.first { $0.key == "fileUrl" }?.value.stringValue }
        }
        guard try await repositories.updateJob(next, expectedStatus: job.status) else {
            throw AppError.conflict("Job \(id) changed meanwhile; read it and report again.")
        }
        announce(next)
        return next
    }

    // MARK: Sessions

    /// `autoStart` from the dashboard: a recording and an HLS stream start with the session.
    package func sessionStarted(_ room: RoomRef, sessionId: String) async {
        await notifyRoom("session-started", room: room, sessionId: sessionId)
        let settings = settings(room.apiKey)
        for kind in [JobKind.recording, .hls] where settings["\(kind.rawValue).autoStart"] == .bool(true) {
            do {
                _ = try await start(kind, room: room, body: .object([]), source: .dashboard)
            } catch {
                logger.warning("autoStart failed", metadata: ["room": "\(room.roomId)", "kind": "\(kind.rawValue)", "reason": "\(error.message)"])
            }
        }
    }

    /// The meeting ended: its active jobs are asked to stop.
    package func sessionEnded(_ room: RoomRef, sessionId: String) async {
        await notifyRoom("session-ended", room: room, sessionId: sessionId)
        for kind in JobKind.allCases {
            _ = try? await stop(kind, room: room)
        }
    }

    /// `participant-joined` / `participant-left` webhooks, for rooms that subscribed to them.
    package func participantsChanged(_ room: RoomRef, _ changes: ParticipantChanges) async {
        for (event, people) in [("participant-joined", changes.joined), ("participant-left", changes.left)] {
            for person in people {
                await notifyRoom(
                    event, room: room, sessionId: changes.sessionId,
                    extra: [JSONMember("participantId", .string(person.participantId)), JSONMember("name", .string(person.name))])
            }
        }
    }

    /// A room webhook (`session-started`, `participant-joined`, ...) for rooms that subscribed to it.
    private func notifyRoom(_ event: String, room: RoomRef, sessionId: String, extra: [JSONMember] = []) async {
        let urls = WebhookRules.targets(event: event, jobURL: nil, room: await port.record(room))
        guard !urls.isEmpty else { return }
        let data = JSONValue.object(
            [
                JSONMember("meetingId", .string(room.roomId)), JSONMember("roomId", .string(room.roomId)),
                JSONMember("sessionId", .string(sessionId)),
            ] + extra)
        port.sendWebhook(event, apiKey: room.apiKey, data: data, to: urls)
    }

    // MARK: Helpers

    /// Tells the room's participants the job's state (`recording-state-changed`, ...), and its webhooks.
    private func announce(_ job: JobRecord) {
        guard let kind = job.jobKind, let status = job.jobStatus else { return }
        port.jobMoved(kind: kind, status: status)
        let event = RTCEvent.jobStateChanged(kind: kind, status: status.wireName(kind), id: job.id, details: job.workerOutput)
        port.broadcast(RoomRef(apiKey: job.apiKey, roomId: job.roomId), JobEvent(id: job.id, kind: kind, status: status, text: event.text))
        Task { await notify(job, kind: kind, status: status) }
    }

    /// The job's webhook event (`recording-started`, `hls-playable`, `livestream-failed`, ...).
    private func notify(_ job: JobRecord, kind: JobKind, status: JobStatus) async {
        let event = "\(kind.rawValue)-\(status.rawValue)"
        let jobURL = (try? JSONValue(parsing: job.request))?["webhookUrl"]?.stringValue
        let urls = WebhookRules.targets(event: event, jobURL: jobURL, room: await port.record(RoomRef(apiKey: job.apiKey, roomId: job.roomId)))
        guard !urls.isEmpty else { return }
        let data = [
            JSONMember("meetingId", .string(job.roomId)), JSONMember("roomId", .string(job.roomId)), JSONMember("sessionId", .string(job.sessionId)),
            JSONMember("id", .string(job.id)), JSONMember("status", .string(job.status)),
        ]
        port.sendWebhook(event, apiKey: job.apiKey, data: .object(data + job.workerOutput), to: urls)
    }

    private func storeFailure(_ error: any Error) -> AppError {
        logger.error("job store error", metadata: ["error": "\(String(reflecting: type(of: error)))"])
        return AppError(.failed, "Internal error.")
    }
}

extension JobKind {
    package var displayName: String {
        switch self {
        case .recording: "Recording"
        case .hls: "HLS"
        case .livestream: "Livestream"
        case .transcription: "Transcription"
        }
    }

    var verb: String { "start a \(displayName.lowercased()) job" }

    /// The code a refused `/rtc` start carries when no more precise one applies.
    package var startCode: ErrorCode {
        switch self {
        case .recording: .startRecordingFailed
        case .hls: .startHLSFailed
        case .livestream: .startLivestreamFailed
        case .transcription: .startTranscriptionFailed
        }
    }

    package var stopCode: ErrorCode {
        switch self {
        case .recording: .stopRecordingFailed
        case .hls: .stopHLSFailed
        case .livestream: .stopLivestreamFailed
        case .transcription: .stopTranscriptionFailed
        }
    }
}

/// A job's state as its room hears it: the `<kind>-state-changed` frame's text, with what
/// orders it (`JobEventOrder`).
package struct JobEvent: Sendable, Equatable {
    package var id: String
    package var kind: JobKind
    package var status: JobStatus
    package var text: String

    package init(id: String, kind: JobKind, status: JobStatus, text: String) {
        self.id = id
        self.kind = kind
        self.status = status
        self.text = text
    }
}
