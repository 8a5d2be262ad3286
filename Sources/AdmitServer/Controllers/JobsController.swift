import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Hummingbird

/// Recording, HLS, livestream (and transcription) over the server API, and the media workers'
/// side of the job queue under the admin credential.
struct JobsController {
    let services: Services
    let jobs: JobService

    /// The REST prefix of each kind (`/v2/transcriptions` is Admit's own; VideoSDK starts them over `/rtc`).
    static let prefixes: [(JobKind, String)] = [
        (.recording, "/v2/recordings"), (.hls, "/v2/hls"), (.livestream, "/v2/livestreams"), (.transcription, "/v2/transcriptions"),
    ]

    func register(on router: Router<AppContext>) {
        for (kind, prefix) in Self.prefixes {
            router.post("\(prefix)/start") { request, context in
                let (_, room, body) = try await target(request, context)
                let job = try await jobs.start(kind, room: room, body: body, source: .api)
                return JSONResponse(value: Self.started(job, kind: kind, links: services.links))
            }
            for verb in ["end", "stop"] {
                router.post("\(prefix)/\(verb)") { request, context in
                    let (_, room, _) = try await target(request, context)
                    let job = try await jobs.stop(kind, room: room)
                    return JSONResponse(value: Self.ended(job, kind: kind, links: services.links))
                }
            }
            router.get(RouterPath(prefix)) { request, _ in
                let claims = try services.requireServerAPI(request)
                let (page, perPage) = try pagination(request)
                var roomId = FormQuery(request.uri.query?[...])["roomId"]
                if let id = roomId { roomId = try await services.roomService.find(claims, id, origin: request.headers[.origin]).roomId }
                if roomId == nil, let scoped = claims.roomId {
                    roomId = try await services.roomService.find(claims, scoped, origin: request.headers[.origin]).roomId
                }
                let found = try await services.repositories.jobs(
                    apiKey: claims.apiKey, roomId: roomId, kind: kind.rawValue, page: page, perPage: perPage)
                return JSONResponse(
                    value: JSONValue.page(items: found.items.map { $0.json(links: services.links) }, page: page, perPage: perPage, total: found.total)
                )
            }
        }

        // HLS playback (`playbackHlsUrl`, `livestreamUrl` in the start's answer): no token, as
        // players fetch it; the job id (96 random bits) is the capability. Redirects to the
        // playlist the worker reported, while the stream runs.
        router.get("/hls/:jobId/:playlist") { _, context -> Response in
            // One answer for unknown, not yet playable and ended streams; ids that cannot be a
            // job's (24 lower-case hex digits) never reach the store.
            let notPlaying = APIError.notFound("No HLS stream is playing there.")
            let id = try context.parameters.require("jobId")
            let playlist = try context.parameters.require("playlist")
            guard id.utf8.count == 24, id.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
                playlist == "index.m3u8" || playlist == "live.m3u8",
                let job = try await services.repositories.job(id: id), job.kind == "hls", job.isActive
            else { throw notPlaying }
            let target = playlist == "index.m3u8" ? job.playbackHlsUrl : job.livestreamUrl ?? job.playbackHlsUrl
            guard let target, !services.links.isOwnPlayback(target) else { throw notPlaying }
            return Response(status: .temporaryRedirect, headers: [.location: target, .cacheControl: "no-store"])
        }

        let admin = router.group("/admin/v1/jobs").add(middleware: AdminGuard(services: services))
        admin.post("/claim") { request, context in
            let body = try await decodeJSON(request, context)
            var kinds: [JobKind] = []
            if let value = body["kinds"], value != .null {
                let parsed: [JobKind]? =
                    if case .array(let items) = value { items.compactMap { $0.stringValue.flatMap(JobKind.init(rawValue:)) } } else { nil }
                guard let parsed, case .array(let items) = value, parsed.count == items.count else {
                    throw APIError.badRequest("`kinds` must list some of recording, hls, livestream, transcription.")
                }
                kinds = parsed
            }
            guard let job = try await jobs.claim(kinds: kinds) else { return Response(status: .noContent) }
            return try JSONResponse(value: job.json(links: services.links, worker: true, action: job.pendingAction ?? "start")).response(
                from: request, context: context)
        }
        admin.get("/:id") { _, context in
            let id = try context.parameters.require("id")
            guard let job = try await services.repositories.job(id: id) else { throw APIError.notFound("No job \(id).") }
            return JSONResponse(value: job.json(links: services.links, worker: true, action: job.pendingAction))
        }
        admin.post("/:id/status") { request, context in
            let report = try StatusReport(try await decodeJSON(request, context))
            for (name, url) in [("playbackHlsUrl", report.playbackHlsUrl), ("livestreamUrl", report.livestreamUrl)] {
                if let url, services.links.isOwnPlayback(url) {
                    throw APIError.badRequest("`\(name)` must be the worker's playlist, not Admit's own /hls URL.")
                }
            }
            return JSONResponse(value: try await jobs.report(try context.parameters.require("id"), report).json(links: services.links))
        }
    }

    /// What a REST start answers, as VideoSDK documents it: a sentence for recordings and
    /// livestreams, the stream's URLs for HLS; transcriptions (Admit's own route) answer the job.
    /// The job itself is in the kind's list.
    static func started(_ job: JobRecord, kind: JobKind, links: PublicLinks) -> JSONValue {
        switch kind {
        case .recording: .string("Recording started successfully")
        case .livestream: .string("Livestream started successfully")
        case .hls: job.hlsStarted(links: links)
        case .transcription: job.json(links: links)
        }
    }

    /// What a REST end answers: `"<Kind> ended successfully"`; transcriptions answer the job.
    static func ended(_ job: JobRecord, kind: JobKind, links: PublicLinks) -> JSONValue {
        switch kind {
        case .recording: .string("Recording ended successfully")
        case .livestream: .string("Livestream ended successfully")
        case .hls: .string("HLS ended successfully")
        case .transcription: job.json(links: links)
        }
    }

    /// The token's room named by the body's `roomId`, within the token's scope, and the body.
    private func target(_ request: Request, _ context: AppContext) async throws -> (Claims, RoomRef, JSONValue) {
        let claims = try services.requireServerAPI(request)
        let body = try await decodeJSON(request, context)
        guard let roomId = body["roomId"]?.stringValue, !roomId.isEmpty else { throw APIError.badRequest("`roomId` is required.") }
        let room = try await services.roomService.find(claims, roomId, origin: request.headers[.origin])
        return (claims, RoomRef(apiKey: claims.apiKey, roomId: room.roomId), body)
    }
}
