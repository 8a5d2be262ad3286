import AdmitClient
import AdmitCore
import AdmitToken
import Foundation
import HTTPTypes
import Logging
import Testing

@testable import AdmitServer

/// Whether a `janus` is on the PATH (CI installs Debian's; `ADMIT_REQUIRE_MEDIA=1` makes its absence a failure).
let janusInstalled = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").contains {
    FileManager.default.isExecutableFile(atPath: "\($0)/janus")
}

/// SDP a WebRTC stack would send, enough for Janus to negotiate (no media flows: these tests
/// check the signalling; Tests/media/media_test.py sends real media).
enum CannedSDP {
    static let fingerprint = (0..<32).map { String(format: "%02X", $0 * 7 % 256) }.joined(separator: ":")

    static func transport(_ ufrag: String, setup: String) -> [String] {
        [
            "c=IN IP4 0.0.0.0", "a=rtcp:9 IN IP4 0.0.0.0", "a=ice-ufrag:\(ufrag)", "a=ice-pwd:\(ufrag)0123456789abcdefghijkl",
            "a=ice-options:trickle", "a=fingerprint:sha-256 \(fingerprint)", "a=setup:\(setup)", "a=rtcp-mux",
        ]
    }

    /// A publisher's offer: opus audio and VP8 video, send only.
    static let offer =
        (["v=0", "o=- 4611731400430051336 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0 1", "a=msid-semantic: WMS admit"]
        + ["m=audio 9 UDP/TLS/RTP/SAVPF 111"] + transport("pub1", setup: "actpass")
        + ["a=mid:0", "a=sendonly", "a=msid:admit audio0", "a=rtpmap:111 opus/48000/2", "a=ssrc:1001 cname:admit"]
        + ["m=video 9 UDP/TLS/RTP/SAVPF 96"] + transport("pub1", setup: "actpass")
        + ["a=mid:1", "a=sendonly", "a=msid:admit video0", "a=rtpmap:96 VP8/90000", "a=rtcp-fb:96 nack", "a=ssrc:2001 cname:admit", ""]).joined(
            separator: "\r\n")

    /// A subscriber's answer to the SFU's offer: every section received, with its first codec.
    static func answer(to offer: String) -> String {
        var lines = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0"]
        let sections = offer.components(separatedBy: "\r\nm=").dropFirst()
        lines.append("a=group:BUNDLE " + SDP.sections(offer).compactMap(\.mid).joined(separator: " "))
        for section in sections {
            let body = section.components(separatedBy: "\r\n")
            let header = body[0].split(separator: " ")
            guard header.count >= 4 else { continue }
            let payload = String(header[3])
            lines.append("m=\(header[0]) 9 UDP/TLS/RTP/SAVPF \(payload)")
            lines += transport("sub1", setup: "active")
            lines += body.filter { $0.hasPrefix("a=mid:") || $0.hasPrefix("a=rtpmap:\(payload) ") } + ["a=recvonly"]
        }
        return (lines + [""]).joined(separator: "\r\n")
    }
}

@Suite("media over /rtc", .timeLimit(.minutes(1)))
struct MediaTests {
    @Test("without an SFU: meeting-joined says so, media requests answer 4090, /health says none")
    func withoutSFU() async throws {
        try await withMeeting { m in
            let host = Reader(try await m.client().join(roomId: m.roomId, .init(participantId: "host", maxSendBitrate: "hd")))
            let joined = try await host.next("meeting-joined").body["media"]
            #expect(joined?["available"] == .bool(false) && joined?["iceServers"] == .array([]))
            #expect(joined?["maxSendBitrateBps"] == .number("1500000"))
            let refusal = try await #require(throws: MeetingConnection.RequestFailed.self) {
                try await host.connection.publish(offer: CannedSDP.offer)
            }
            #expect(refusal.code == 4090)
            let subscribe = try await #require(throws: MeetingConnection.RequestFailed.self) { try await host.connection.subscribe(to: "x") }
            #expect(subscribe.code == 4090)
            #expect(try await m.admin.call(.get, "/health").json["sfu"]?["state"] == .string("none"))
            // A participant in the lobby is refused as not in the meeting, SFU or not.
            let guest = Reader(try await m.client([.askJoin]).join(roomId: m.roomId, .init(participantId: "guest")))
            _ = try await host.next("entry-requested")
            let lobby = try await #require(throws: MeetingConnection.RequestFailed.self) {
                try await guest.connection.publish(offer: CannedSDP.offer)
            }
            #expect(lobby.code == 4091)
            // Auto: no cap.
            let other = Reader(try await m.client().join(roomId: m.roomId, .init(participantId: "other")))
            #expect(try await other.next("meeting-joined").body["media"]?["maxSendBitrateBps"] == .null)
        }
    }

    @Test(
        "with Janus, through AdmitClient: publish answers with the cap, nothing to subscribe to before media flows, moderation kept for the next publication, unpublish",
        .enabled(if: janusInstalled || ProcessInfo.processInfo.environment["ADMIT_REQUIRE_MEDIA"] == "1"))
    func signalling() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("admit-janus-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await Self.signalling { $0.launchJanusIn = directory }
    }

    @Test(
        "the same through Janus's HTTP API (--janus http://...): requests by POST, events by long poll",
        .enabled(if: janusInstalled || ProcessInfo.processInfo.environment["ADMIT_REQUIRE_MEDIA"] == "1"))
    func signallingOverHTTP() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("admit-janus-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let janus = try #require(try await JanusLauncher.start(in: directory, api: .http, logger: Logger(label: "janus-http")))
        do {
            #expect(janus.url.hasPrefix("http://127.0.0.1:") && janus.url.hasSuffix("/janus"))
            try await Self.signalling {
                $0.janusURL = janus.url
                $0.janusAPISecret = janus.apiSecret
            }
            // A wrong secret: Janus refuses the session, and the SFU is reported down (not just "not up yet").
            try await withMeeting({
                $0.janusURL = janus.url
                $0.janusAPISecret = "wrong"
            }) { m in
                let state = try await m.sfuState("down", within: .seconds(5))
                #expect(state == .string("down"))
            }
        } catch {
            await janus.stop()
            throw error
        }
        await janus.stop()
    }

    static func signalling(_ configure: @escaping @Sendable (inout AppConfiguration) -> Void) async throws {
        try await withMeeting(configure) { m in
            let state = try await m.sfuState("up")
            try #require(state == .string("up"), "Janus did not come up: \(String(describing: state))")
            try await m.settings(#"{"maxSendBitrate":"hd"}"#)
            let host = try await m.join("host")
            #expect(try await host.next("meeting-joined").body["media"]?["available"] == .bool(true))
            let guest = Reader(try await m.client().join(roomId: m.roomId, .init(participantId: "guest", micEnabled: true, webcamEnabled: true)))
            _ = try await guest.next("meeting-joined")

            let answer = try await guest.connection.publish(offer: CannedSDP.offer)
            #expect(answer.contains("b=TIAS:1500000") && SDP.sections(answer).map(\.kind) == ["audio", "video"])
            #expect(SDP.sections(answer).allSatisfy { $0.direction == "recvonly" })
            try await guest.connection.trickle("publisher", candidate: nil)
            // No media reaches Janus from canned SDP: nothing to subscribe to yet, and nobody is told
            // of a stream (Tests/media/media_test.py has real media).
            let early = try await #require(throws: MeetingConnection.RequestFailed.self) { try await host.connection.subscribe(to: "guest") }
            #expect(early.code == 4092)
            let unknown = try await #require(throws: MeetingConnection.RequestFailed.self) {
                try await host.connection.subscribeAnswer("nope", answer: CannedSDP.offer)
            }
            #expect(unknown.code == 4092)
            let foreign = try await #require(throws: MeetingConnection.RequestFailed.self) {
                try await host.connection.trickle("publisher", candidate: nil)
            }
            #expect(foreign.code == 4091)
            // Moderation before media flows is kept: a second publication applies it.
            try await host.connection.disableWebcam(participantId: "guest")
            _ = try await guest.skip(to: "webcam-changed")
            let again = try await guest.connection.publish(offer: CannedSDP.offer)
            #expect(again.contains("b=TIAS:1500000"))
            try await guest.connection.unpublish()
            let twice = try await #require(throws: MeetingConnection.RequestFailed.self) { try await guest.connection.unpublish() }
            #expect(twice.code == 4091)
        }
    }
}
