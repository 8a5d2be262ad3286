import AdmitClient
import AdmitCore
import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Synchronization
import Testing

extension MeetingHarness {
    /// The server API as the harness's key, with a token that may do everything.
    var api: AdmitClient { client() }

    func claim(_ kinds: String? = nil) async throws -> Reply {
        try await admin.admin(.post, "/admin/v1/jobs/claim", body: kinds.map { #"{"kinds":\#($0)}"# })
    }

    func report(_ id: String, _ body: String) async throws -> Reply {
        try await admin.admin(.post, "/admin/v1/jobs/\(id)/status", body: body)
    }

    func settings(_ body: String) async throws {
        let reply = try await admin.putSettings(key.apiKey, body)
        try #require(reply.status == 200, "\(reply.text)")
    }

    /// Starts a job of `kind` (`recordings`, `hls`, `livestreams`, `transcriptions`) over REST,
    /// checks the answer VideoSDK documents, and returns the job as the kind's list shows it.
    func start(_ kind: String, roomId: String? = nil, _ fields: [JSONMember] = []) async throws -> JSONValue {
        let room = roomId ?? self.roomId
        let answer = try await api.startJob(kind, roomId: room, fields)
        // The room's one active job of the kind (an ended one may share its millisecond).
        let listed = try #require(try await api.jobs(kind, roomId: room).first { ![.string("stopped"), .string("failed")].contains($0["status"]) })
        switch kind {
        case "recordings": #expect(answer == .string("Recording started successfully"))
        case "livestreams": #expect(answer == .string("Livestream started successfully"))
        case "hls":
            #expect(answer["id"] == listed["id"] && answer["sessionId"] == listed["sessionId"] && answer["roomId"] == .string(room))
        default: #expect(answer["id"] == listed["id"])
        }
        return listed
    }

    /// Ends the room's job of `kind` over REST, checks the documented answer, and returns the job as listed.
    func end(_ kind: String) async throws -> JSONValue {
        let answer = try await api.endJob(kind, roomId: roomId)
        let names = ["recordings": "Recording", "livestreams": "Livestream", "hls": "HLS"]
        if let name = names[kind] { #expect(answer == .string("\(name) ended successfully")) }
        return try #require(try await api.jobs(kind, roomId: roomId).first)
    }

    /// The REST failure of `body`.
    func failure(_ body: () async throws -> JSONValue) async throws -> AdmitClient.Failure {
        try await refusal(AdmitClient.Failure.self, body)
    }
}

extension Reader {
    /// The next `<kind>-state-changed` status, skipping other events.
    func state(_ kind: String) async throws -> String? {
        try await skip(to: "\(kind)-state-changed").body["status"]?.stringValue
    }
}

/// The `/rtc` refusal of `body`.
private func rtcFailure(_ body: () async throws -> JSONValue) async throws -> MeetingConnection.RequestFailed {
    try await refusal(MeetingConnection.RequestFailed.self, body)
}

/// What `body` was refused with; a test issue (and a thrown error) when it succeeded or failed otherwise.
private func refusal<Refusal: Error>(_: Refusal.Type, _ body: () async throws -> JSONValue) async throws -> Refusal {
    do {
        let value = try await body()
        Issue.record("expected a refusal, got \(value.jsonText)")
        throw CancellationError()
    } catch let refusal as Refusal {
        return refusal
    }
}

@Suite("recording, HLS, livestream and transcription jobs (live)", .timeLimit(.minutes(1)))
struct JobsLiveTests {
    @Test("a recording over REST: resolved config with sources, one at a time, workers drive it, participants hear it")
    func recordingLifecycle() async throws {
        try await withMeeting { m in
            try await m.settings(#"{"recording":{"quality":"low","layout":{"type":"SIDEBAR"}}}"#)
            let noSession = try await m.failure { try await m.api.startJob("recordings", roomId: m.roomId) }
            #expect(noSession.status == 409)

            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let job = try await m.start("recordings", [JSONMember("config", .object([JSONMember("quality", .string("high"))]))])
            let id = try #require(job["id"]?.stringValue)
            #expect(job["status"] == .string("starting"))
            #expect(job["config"]?["quality"] == .object([JSONMember("value", .string("high")), JSONMember("source", .string("api"))]))
            #expect(job["config"]?["layout.type"]?["source"] == .string("dashboard"))
            #expect(job["config"]?["theme"]?["source"] == .string("default"))
            #expect(try await host.state("recording") == "RECORDING_STARTING")

            let second = try await m.failure { try await m.api.startJob("recordings", roomId: m.roomId) }
            #expect(second.status == 409)

            // A dashboard change reaches the next start, not the running job.
            try await m.settings(#"{"recording":{"quality":"med","layout":{"type":"GRID"}}}"#)
            let claimed = try await m.claim(#"["recording"]"#)
            #expect(claimed.status == 200)
            #expect(claimed.json["action"] == .string("start") && claimed.json["id"] == .string(id))
            #expect(claimed.json["config"]?["layout.type"]?["value"] == .string("SIDEBAR"))
            #expect(try await m.claim().status == 204)

            #expect(try await m.report(id, #"{"status":"playable"}"#).status == 409)
            #expect(try await m.report(id, #"{"status":"started"}"#).status == 200)
            #expect(try await host.state("recording") == "RECORDING_STARTED")

            let stopping = try await m.end("recordings")
            #expect(stopping["status"] == .string("stopping"))
            #expect(try await host.state("recording") == "RECORDING_STOPPING")
            let stop = try await m.claim()
            #expect(stop.json["action"] == .string("stop") && stop.json["id"] == .string(id))
            let stopped = try await m.report(id, #"{"status":"stopped","fileUrl":"https://files.example/rec.mp4"}"#)
            #expect(stopped.json["fileUrl"] == .string("https://files.example/rec.mp4"))
            #expect(try await host.state("recording") == "RECORDING_STOPPED")

            let listed = try await m.api.call("GET", "/v2/recordings?roomId=\(m.roomId)")
            #expect(listed["pageInfo"]?["total"] == .number("1"))
            #expect(listed["data"]?.jsonText.contains(#""status":"stopped""#) == true)
            #expect(listed["data"]?.jsonText.contains(#""layout.type":{"value":"SIDEBAR","source":"dashboard"}"#) == true)

            // A new start sees the dashboard as it is now.
            let next = try await m.start("recordings")
            #expect(next["config"]?["layout.type"]?["value"] == .string("GRID"))
        }
    }

    @Test("disabled services are refused with 4021, over REST and over /rtc")
    func disabled() async throws {
        try await withMeeting { m in
            try await m.settings(
                #"{"recording":{"enabled":false},"hls":{"enabled":false},"services":{"rtmpOut":false},"transcription":{"enabled":false}}"#)
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let outputs = JSONMember(
                "outputs", .array([.object([JSONMember("url", .string("rtmp://live.example/app")), JSONMember("streamKey", .string("k"))])]))
            for (path, fields) in [("recordings", []), ("hls", []), ("livestreams", [outputs]), ("transcriptions", [])] {
                let refused = try await m.failure { try await m.api.startJob(path, roomId: m.roomId, fields) }
                #expect(refused.status == 403 && refused.code == 4021, "\(path): \(refused)")
            }
            for (kind, fields) in [(JobKind.recording, []), (.hls, []), (.livestream, [outputs]), (.transcription, [])] {
                #expect(try await rtcFailure { try await host.connection.start(kind, fields) }.code == 4021)
            }
            // The switch is checked before the body: a livestream without outputs is still 4021.
            #expect(try await m.failure { try await m.api.startJob("livestreams", roomId: m.roomId) }.code == 4021)
            // Transcription asked alongside a recording obeys the transcription switch too.
            try await m.settings(#"{"transcription":{"enabled":false}}"#)
            let alongside = try await m.failure {
                try await m.api.startJob("recordings", roomId: m.roomId, [JSONMember("transcription", .object([JSONMember("enabled", .bool(true))]))])
            }
            #expect(alongside.code == 4021)
            #expect(try await m.start("recordings")["status"] == .string("starting"))
        }
    }

    @Test("livestreams need outputs (4015); bad config fields are a 400 naming the field")
    func validation() async throws {
        try await withMeeting { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let missing = try await m.failure { try await m.api.startJob("livestreams", roomId: m.roomId) }
            #expect(missing.status == 400 && missing.code == 4015)
            let badURL = try await m.failure {
                try await m.api.startJob(
                    "livestreams", roomId: m.roomId,
                    [JSONMember("outputs", .array([.object([JSONMember("url", .string("https://x")), JSONMember("streamKey", .string("k"))])]))])
            }
            #expect(badURL.code == 4015)
            #expect(try await rtcFailure { try await host.connection.start(.livestream) }.code == 4015)
            // A stream key is a credential: the server API shows it redacted, workers get it.
            let output = JSONValue.object([JSONMember("url", .string("rtmp://live.example/app")), JSONMember("streamKey", .string("sk-123"))])
            let live = try await m.start("livestreams", [JSONMember("outputs", .array([output]))])
            #expect(live["outputs"]?.jsonText.contains("sk-123") == false)
            #expect(try await m.api.call("GET", "/v2/livestreams?roomId=\(m.roomId)").jsonText.contains("sk-123") == false)
            #expect(try await m.claim(#"["livestream"]"#).json["outputs"]?.jsonText.contains("sk-123") == true)
            let metrics = try await m.admin.call(.get, "/metrics")
            #expect(metrics.text.contains(#"admit_job_transitions_total{kind="livestream",status="starting"} 1"#))
            let badConfig = try await m.failure {
                try await m.api.startJob("hls", roomId: m.roomId, [JSONMember("config", .object([JSONMember("quality", .string("ultra"))]))])
            }
            #expect(badConfig.status == 400 && badConfig.body["error"]?.stringValue?.contains("`config.quality`") == true)
            #expect(try await rtcFailure { try await host.connection.start(.hls, [JSONMember("config", .string("x"))]) }.code == 4016)
            try await m.settings(#"{"hls":{"modes":["audio"]}}"#)
            let mode = try await m.failure {
                try await m.api.startJob("hls", roomId: m.roomId, [JSONMember("config", .object([JSONMember("mode", .string("video-and-audio"))]))])
            }
            #expect(mode.status == 400)
            let audio = try await m.start("hls")
            #expect(audio["config"]?["mode"] == .object([JSONMember("value", .string("audio")), JSONMember("source", .string("dashboard"))]))
            let id = try #require(audio["id"]?.stringValue)
            #expect(audio["playbackHlsUrl"] == .string("\(m.baseURL.absoluteString)/hls/\(id)/index.m3u8"))
        }
    }

    @Test("over /rtc: moderators start and stop with sdk-sourced config; others get the method's code")
    func overRTC() async throws {
        try await withMeeting { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let guest = try await m.join("guest", .allowJoin)
            try await guest.next("meeting-joined")
            #expect(try await rtcFailure { try await guest.connection.start(.recording) }.code == 4011)
            #expect(try await rtcFailure { try await guest.connection.start(.hls) }.code == 4016)
            #expect(try await rtcFailure { try await guest.connection.stop(.transcription) }.code == 4032)
            #expect(try await rtcFailure { try await host.connection.stop(.hls) }.code == 4017)

            let hls = try await host.connection.start(.hls, [JSONMember("config", .object([JSONMember("orientation", .string("portrait"))]))])
            #expect(hls["config"]?["orientation"] == .object([JSONMember("value", .string("portrait")), JSONMember("source", .string("sdk"))]))
            #expect(try await guest.state("hls") == "HLS_STARTING")
            let id = try #require(hls["id"]?.stringValue)
            _ = try await m.claim(#"["hls"]"#)
            _ = try await m.report(id, #"{"status":"started"}"#)
            #expect(try await guest.state("hls") == "HLS_STARTED")
            let playable = try await m.report(id, #"{"status":"playable","playbackHlsUrl":"https://cdn.example/x.m3u8"}"#)
            #expect(playable.status == 200)
            let event = try await guest.skip(to: "hls-state-changed")
            #expect(event.body["status"] == .string("HLS_PLAYABLE"))
            #expect(event.body["playbackHlsUrl"] == .string("https://cdn.example/x.m3u8"))
            #expect(try await rtcFailure { try await host.connection.start(.hls) }.code == 4016)
            #expect(try await host.connection.stop(.hls)["status"] == .string("stopping"))

            let transcription = try await host.connection.start(.transcription)
            #expect(transcription["status"] == .string("starting"))
            #expect(try await guest.state("transcription") == "TRANSCRIPTION_STARTING")
            // Never claimed by a worker: the stop is immediate.
            #expect(try await host.connection.stop(.transcription)["status"] == .string("stopped"))
            #expect(try await guest.state("transcription") == "TRANSCRIPTION_STOPPED")
        }
    }

    @Test("autoStart from the dashboard starts with the session; the session's end stops it")
    func autoStart() async throws {
        try await withMeeting { m in
            try await m.settings(#"{"hls":{"autoStart":true,"theme":"DARK"},"recording":{"autoStart":true,"enabled":false}}"#)
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            #expect(try await host.state("hls") == "HLS_STARTING")
            let listed = try await m.api.call("GET", "/v2/hls?roomId=\(m.roomId)")
            #expect(listed["data"]?.jsonText.contains(#""theme":{"value":"DARK","source":"dashboard"}"#) == true)
            #expect(try await m.api.call("GET", "/v2/recordings?roomId=\(m.roomId)")["pageInfo"]?["total"] == .number("0"))
            try await host.connection.leave()
            // The job was never claimed, so the session's end stops it outright.
            var status: JSONValue?
            for _ in 0..<50 {
                status = try await m.api.call("GET", "/v2/hls?roomId=\(m.roomId)")["data"].flatMap {
                    if case .array(let items) = $0 { items.first?["status"] } else { nil }
                }
                if status == .string("stopped") { break }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(status == .string("stopped"))
        }
    }

    @Test("meeting-joined config: the dashboard's bitrate beats the SDK's, and reaches the next join")
    func joinConfig() async throws {
        try await withMeeting { m in
            let first = Reader(try await m.client().join(roomId: m.roomId, .init(participantId: "a", maxSendBitrate: "hd")))
            #expect(try await first.next("meeting-joined").body["config"]?["maxSendBitrate"]?["source"] == .string("sdk"))
            try await m.settings(#"{"maxSendBitrate":"fullhd"}"#)
            let second = Reader(try await m.client().join(roomId: m.roomId, .init(participantId: "b", maxSendBitrate: "hd")))
            let config = try await second.next("meeting-joined").body["config"]?["maxSendBitrate"]
            #expect(config == .object([JSONMember("value", .string("fullhd")), JSONMember("source", .string("dashboard"))]))
        }
    }

    @Test("workers: bad reports are refused, unknown jobs are 404, claims filter by kind")
    func workers() async throws {
        try await withMeeting { m in
            let host = try await m.join("host")
            try await host.next("meeting-joined")
            let job = try await m.start("recordings")
            let id = try #require(job["id"]?.stringValue)
            #expect(try await m.claim(#"["hls"]"#).status == 204)
            let pending = try await m.admin.admin(.get, "/admin/v1/jobs/\(id)")
            #expect(pending.json["action"] == .string("start") && pending.json["kind"] == .string("recording"))
            #expect(pending.json["apiKey"] == .string(m.key.apiKey))
            #expect(try await m.claim(#"["recording"]"#).json["id"] == .string(id))
            #expect(try await m.admin.admin(.get, "/admin/v1/jobs/\(id)").json["action"] == .null)
            #expect(try await m.admin.admin(.get, "/admin/v1/jobs/nope").status == 404)
            #expect(try await m.claim(#"["films"]"#).status == 400)
            #expect(try await m.report(id, #"{"status":"exploded"}"#).status == 400)
            #expect(try await m.report(id, #"{"status":"starting"}"#).status == 400)
            #expect(try await m.report("no-such-job", #"{"status":"started"}"#).status == 404)
            #expect(try await m.report(id, #"{"status":"failed","error":"encoder crashed"}"#).status == 200)
            let event = try await host.skip(to: "recording-state-changed")
            #expect(event.body["status"] == .string("RECORDING_STARTING"))
            let failed = try await host.skip(to: "recording-state-changed")
            #expect(failed.body["status"] == .string("RECORDING_STOPPED") && failed.body["error"] == .string("encoder crashed"))
            #expect(try await m.report(id, #"{"status":"started"}"#).status == 409)
            #expect(try await m.admin.call(.post, "/admin/v1/jobs/claim", token: token(m.key)).status == 401)
            // The failed job freed the slot.
            #expect(try await m.start("recordings")["status"] == .string("starting"))
        }
    }
}

@Suite("webhooks (live)", .timeLimit(.minutes(1)))
struct WebhookTests {
    /// What the receiver got: the path's last part, the signature header, the body.
    struct Delivery: Sendable {
        var target: String
        var signature: String
        var body: String
    }

    @Test("job events go to the start's webhookUrl, subscribed events to the room's endpoint, each signed with the key's secret")
    func delivered() async throws {
        let received = Mutex<[Delivery]>([])
        let router = Router()
        router.post("/hook/:target") { request, context -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 65_536)
            let delivery = Delivery(
                target: context.parameters.get("target") ?? "", signature: request.headers[HTTPField.Name("X-Admit-Signature")!] ?? "",
                body: String(buffer: body))
            received.withLock { $0.append(delivery) }
            return .ok
        }
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await receiver.test(.live) { hookClient in
            let hooks = "http://127.0.0.1:\(try #require(hookClient.port))/hook"
            try await withMeeting({ $0.webhookAllowPrivate = true }) { m in
                let room = try await m.api.call(
                    "POST", "/v2/rooms",
                    body: .object([
                        JSONMember(
                            "webhook",
                            .object([
                                JSONMember("endPoint", .string("\(hooks)/room")),
                                JSONMember("events", .array([.string("session-started"), .string("recording-started")])),
                            ]))
                    ]))
                let roomId = try #require(room["roomId"]?.stringValue)
                let host = Reader(try await m.client().join(roomId: roomId, .init(participantId: "host")))
                try await host.next("meeting-joined")
                let job = try await m.start("recordings", roomId: roomId, [JSONMember("webhookUrl", .string("\(hooks)/job"))])
                let id = try #require(job["id"]?.stringValue)
                _ = try await m.claim()
                _ = try await m.report(id, #"{"status":"started"}"#)

                var deliveries: [Delivery] = []
                for _ in 0..<250 {
                    deliveries = received.withLock { $0 }
                    if deliveries.count >= 4 { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                func events(_ target: String) -> Set<String> {
                    Set(deliveries.filter { $0.target == target }.compactMap { try? JSONValue(parsing: $0.body)["webhookType"]?.stringValue })
                }
                #expect(events("room") == ["session-started", "recording-started"])
                #expect(events("job") == ["recording-starting", "recording-started"])
                let started = try #require(deliveries.first { $0.target == "job" && $0.body.contains("recording-started") })
                let data = try JSONValue(parsing: started.body)["data"]
                #expect(data?["roomId"] == .string(roomId) && data?["id"] == .string(id) && data?["status"] == .string("started"))

                // The signature: HMAC-SHA256 of "<t>.<body>" under the key's secret, in hex.
                let parts = Dictionary(
                    uniqueKeysWithValues: started.signature.split(separator: ",").compactMap { part -> (String, String)? in
                        let pair = part.split(separator: "=", maxSplits: 1)
                        return pair.count == 2 ? (String(pair[0]), String(pair[1])) : nil
                    })
                let time = try #require(parts["t"])
                let expected = Secret(m.key.secret)!.authenticationCode(for: Array("\(time).\(started.body)".utf8))
                #expect(parts["v1"] == expected.map { String(format: "%02x", $0) }.joined())
                #expect(abs((Double(time) ?? 0) - Date().timeIntervalSince1970) < 60)
            }
        }
    }

    @Test("a webhook receiver cannot redirect a delivery elsewhere")
    func noRedirects() async throws {
        let landed = Mutex<Int>(0)
        let redirected = Mutex<Int>(0)
        let router = Router()
        router.post("/hook/redirect") { _, _ -> Response in
            redirected.withLock { $0 += 1 }
            return Response(status: .temporaryRedirect, headers: [.location: "/hook/landed"])
        }
        // A Location that Foundation's URLSession could not turn back into a URL: it aborted
        // the whole process before asking its delegate whether to follow.
        router.post("/hook/bad-location") { _, _ -> Response in
            redirected.withLock { $0 += 1 }
            return Response(status: .found, headers: [.location: "//[::1]/"])
        }
        router.post("/hook/landed") { _, _ -> HTTPResponse.Status in
            landed.withLock { $0 += 1 }
            return .ok
        }
        router.get("/hook/landed") { _, _ -> HTTPResponse.Status in
            landed.withLock { $0 += 1 }
            return .ok
        }
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await receiver.test(.live) { hookClient in
            let hooks = "http://127.0.0.1:\(try #require(hookClient.port))/hook"
            try await withMeeting({ $0.webhookAllowPrivate = true }) { m in
                let host = try await m.join("host")
                try await host.next("meeting-joined")
                _ = try await m.api.startJob("recordings", roomId: m.roomId, [JSONMember("webhookUrl", .string("\(hooks)/redirect"))])
                for _ in 0..<250 where redirected.withLock({ $0 }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
                #expect(redirected.withLock { $0 } >= 1)
                _ = try await m.api.endJob("recordings", roomId: m.roomId)
                _ = try await m.api.startJob("recordings", roomId: m.roomId, [JSONMember("webhookUrl", .string("\(hooks)/bad-location"))])
                for _ in 0..<250 where redirected.withLock({ $0 }) < 2 { try await Task.sleep(for: .milliseconds(20)) }
                #expect(redirected.withLock { $0 } >= 2)
                // Still serving after the odd redirect.
                #expect(try await m.api.sessions(roomId: m.roomId).count == 1)
                try await Task.sleep(for: .milliseconds(300))
                #expect(landed.withLock { $0 } == 0)
            }
        }
    }

    @Test("rooms that subscribe hear participant-joined, participant-left and session-ended, with names")
    func participantEvents() async throws {
        let received = Mutex<[String]>([])
        let router = Router()
        router.post("/hook") { request, _ -> HTTPResponse.Status in
            let body = try await request.body.collect(upTo: 65_536)
            if let value = try? JSONValue(parsing: String(buffer: body)), let event = value["webhookType"]?.stringValue {
                let who = value["data"]?["participantId"]?.stringValue.map { " \($0)/\(value["data"]?["name"]?.stringValue ?? "")" } ?? ""
                received.withLock { $0.append(event + who) }
            }
            return .ok
        }
        let receiver = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await receiver.test(.live) { hookClient in
            let hook = "http://127.0.0.1:\(try #require(hookClient.port))/hook"
            try await withMeeting({ $0.webhookAllowPrivate = true }) { m in
                let events = ["participant-joined", "participant-left", "session-ended"].map(JSONValue.string)
                let room = try await m.api.call(
                    "POST", "/v2/rooms",
                    body: .object([
                        JSONMember("webhook", .object([JSONMember("endPoint", .string(hook)), JSONMember("events", .array(events))]))
                    ]))
                let roomId = try #require(room["roomId"]?.stringValue)
                let host = Reader(try await m.client().join(roomId: roomId, .init(participantId: "host", name: "Host")))
                try await host.next("meeting-joined")
                let guest = Reader(try await m.client().join(roomId: roomId, .init(participantId: "guest", name: "Guest")))
                try await guest.next("meeting-joined")
                try await guest.connection.leave()
                try await host.skip(to: "participant-left")
                try await host.connection.leave()
                var got: [String] = []
                for _ in 0..<250 {
                    got = received.withLock { $0 }
                    if got.count >= 5 { break }
                    try await Task.sleep(for: .milliseconds(20))
                }
                #expect(
                    Set(got) == [
                        "participant-joined host/Host", "participant-joined guest/Guest", "participant-left guest/Guest",
                        "participant-left host/Host", "session-ended",
                    ])
                #expect(got.count == 5)
            }
        }
    }
}
