import AdmitToken
import Testing

@testable import AdmitCore

private func json(_ text: String) -> JSONValue { try! JSONValue(parsing: text) }

private func settings(_ text: String) throws(SettingsError) -> APISettings { try APISettings(validating: json(text)) }

@Suite("Settings validation")
struct SettingsValidationTests {
    @Test("a whole document round-trips in schema order")
    func roundTrip() throws {
        let given = try settings(
            #"{"hls":{"layout":{"gridSize":9},"enabled":false},"maxSendBitrate":"hd","transcription":{"whitelistDomains":["https://App.Example.com:443/"]}}"#
        )
        #expect(
            given.json.jsonText
                == #"{"maxSendBitrate":"hd","hls":{"enabled":false,"layout":{"gridSize":9}},"transcription":{"whitelistDomains":["https://app.example.com"]}}"#
        )
        #expect(given.whitelist == ["https://app.example.com"])
    }

    @Test(
        "bad values are refused with an error naming the field",
        arguments: [
            (#"{"recording":{"layout":{"gridSize":26}}}"#, "recording.layout.gridSize"),
            (#"{"recording":{"layout":{"gridSize":0}}}"#, "recording.layout.gridSize"),
            (#"{"hls":{"layout":{"gridSize":2.5}}}"#, "hls.layout.gridSize"),
            (#"{"maxSendBitrate":"4k"}"#, "maxSendBitrate"),
            (#"{"recording":{"quality":"HD"}}"#, "recording.quality"),
            (#"{"recording":{"theme":"dark"}}"#, "recording.theme"),
            (#"{"hls":{"orientation":"square"}}"#, "hls.orientation"),
            (#"{"recording":{"layout":{"type":"MOSAIC"}}}"#, "recording.layout.type"),
            (#"{"recording":{"layout":{"priority":"LOUDEST"}}}"#, "recording.layout.priority"),
            (#"{"recording":{"enabled":"yes"}}"#, "recording.enabled"),
            (#"{"recording":{"modes":[]}}"#, "recording.modes"),
            (#"{"recording":{"modes":["video"]}}"#, "recording.modes"),
            (#"{"recording":{"modes":["audio","audio"]}}"#, "recording.modes"),
            (#"{"recording":{"modes":["audio"],"mode":"video-and-audio"}}"#, "recording.mode"),
            (#"{"recording":{"colour":"red"}}"#, "recording.colour"),
            (#"{"recording":true}"#, "recording"),
            (#"{"webhooks":{}}"#, "webhooks"),
            (#"{"services":{"rtmpOut":1}}"#, "services.rtmpOut"),
            (#"{"transcription":{"whitelistDomains":["*.example.com"]}}"#, "transcription.whitelistDomains"),
            (#"{"transcription":{"whitelistDomains":["https://example.com/app"]}}"#, "transcription.whitelistDomains"),
            (#"{"transcription":{"whitelistDomains":["example.com"]}}"#, "transcription.whitelistDomains"),
            (#"{"transcription":{"whitelistDomains":["ftp://example.com"]}}"#, "transcription.whitelistDomains"),
            (#"{"transcription":{"whitelistDomains":["https://example.com:99999"]}}"#, "transcription.whitelistDomains"),
            (#"{"transcription":{"whitelistDomains":"https://example.com"}}"#, "transcription.whitelistDomains"),
        ])
    func refused(document: String, field: String) {
        #expect(throws: SettingsError.self) { try settings(document) }
        do throws(SettingsError) {
            _ = try settings(document)
        } catch {
            #expect(error.field == field)
            #expect(error.message.contains("`\(field)`"))
        }
    }

    @Test("a patch merges, null unsets a field or a section, and a failed patch changes nothing")
    func patch() throws {
        var current = try settings(#"{"maxSendBitrate":"sd","recording":{"quality":"high","layout":{"type":"SPOTLIGHT","gridSize":3}}}"#)
        try current.apply(patch: json(#"{"recording":{"layout":{"gridSize":null},"theme":"DARK"}}"#))
        #expect(current["recording.layout.gridSize"] == nil)
        #expect(current["recording.layout.type"] == .string("SPOTLIGHT"))
        #expect(current["recording.theme"] == .string("DARK"))
        #expect(current["maxSendBitrate"] == .string("sd"))
        try current.apply(patch: json(#"{"recording":null}"#))
        #expect(current.json.jsonText == #"{"maxSendBitrate":"sd"}"#)
        let before = current
        #expect(throws: SettingsError.self) { try current.apply(patch: json(#"{"maxSendBitrate":null,"hls":{"quality":"ultra"}}"#)) }
        #expect(current == before)
    }

    @Test("stored settings are read leniently: unknown or unreadable fields are skipped, the rest kept")
    func stored() {
        let read = APISettings(stored: json(#"{"maxSendBitrate":"hd","future":{"x":1},"recording":{"quality":"ultra","theme":"DARK"}}"#))
        #expect(read.json.jsonText == #"{"maxSendBitrate":"hd","recording":{"theme":"DARK"}}"#)
        #expect(APISettings(stored: json("[]")) == APISettings())
    }

    @Test("service switches: unset means enabled")
    func switches() throws {
        let given = try settings(#"{"recording":{"enabled":false},"services":{"sip":true}}"#)
        #expect(!given.isEnabled("recording.enabled"))
        #expect(given.isEnabled("hls.enabled"))
        #expect(given.isEnabled("services.sip"))
        #expect(given.isEnabled("services.rtmpOut"))
    }
}

@Suite("Precedence")
struct PrecedenceTests {
    @Test(
        "audio/video: dashboard, then SDK, then default",
        arguments: [
            (#"{}"#, String?.none, "auto", SettingSource.default),
            (#"{}"#, "hd", "hd", .sdk),
            (#"{"maxSendBitrate":"fullhd"}"#, "hd", "fullhd", .dashboard),
            (#"{"maxSendBitrate":"auto"}"#, "sd", "auto", .dashboard),
            (#"{"maxSendBitrate":"sd"}"#, nil, "sd", .dashboard),
        ])
    func audioVideo(dashboard: String, sdk: String?, value: String, source: SettingSource) throws {
        let config = Precedence.audioVideo(dashboard: try settings(dashboard), sdkMaxSendBitrate: sdk)
        #expect(config["maxSendBitrate"] == Resolved(.string(value), source))
    }

    @Test("recording: the API's quality wins, the dashboard's layout still applies, the rest falls to defaults")
    func recordingFieldByField() throws {
        let dashboard = try settings(#"{"recording":{"quality":"low","layout":{"type":"SIDEBAR","gridSize":12}},"hls":{"theme":"LIGHT"}}"#)
        let request = try MediaRequest(config: json(#"{"quality":"high","layout":{"priority":"PIN"}}"#))
        let config = try Precedence.media(.recording, dashboard: dashboard, request: request, source: .api)
        #expect(config["quality"] == Resolved(.string("high"), .api))
        #expect(config["layout.type"] == Resolved(.string("SIDEBAR"), .dashboard))
        #expect(config["layout.gridSize"] == Resolved(.number("12"), .dashboard))
        #expect(config["layout.priority"] == Resolved(.string("PIN"), .api))
        #expect(config["theme"] == Resolved(.string("DEFAULT"), .default))
        #expect(config["orientation"] == Resolved(.string("landscape"), .default))
        #expect(config["mode"] == Resolved(.string("video-and-audio"), .default))
        #expect(config.entries.map(\.key) == ["quality", "theme", "orientation", "mode", "layout.type", "layout.priority", "layout.gridSize"])
    }

    @Test("HLS reads its own dashboard section, and a start over /rtc is sourced sdk")
    func hlsSection() throws {
        let dashboard = try settings(#"{"recording":{"theme":"DARK"},"hls":{"theme":"LIGHT","recordStream":true}}"#)
        let config = try Precedence.media(
            .hls, dashboard: dashboard, request: MediaRequest(config: json(#"{"orientation":"portrait"}"#)), source: .sdk)
        #expect(config["theme"] == Resolved(.string("LIGHT"), .dashboard))
        #expect(config["orientation"] == Resolved(.string("portrait"), .sdk))
        #expect(config["recordStream"] == Resolved(.bool(true), .dashboard))
    }

    @Test("livestreams have no dashboard section: request, then default")
    func livestream() throws {
        let dashboard = try settings(#"{"recording":{"quality":"low"},"hls":{"quality":"low"}}"#)
        let config = try Precedence.media(.livestream, dashboard: dashboard, request: MediaRequest(), source: .api)
        #expect(config["quality"] == Resolved(.string("med"), .default))
    }

    @Test("enabled modes: a request outside them is refused, a default outside them gives way")
    func modes() throws {
        let dashboard = try settings(#"{"recording":{"modes":["audio"]}}"#)
        #expect(throws: SettingsError.self) {
            try Precedence.media(.recording, dashboard: dashboard, request: MediaRequest(config: json(#"{"mode":"video-and-audio"}"#)), source: .api)
        }
        let config = try Precedence.media(.recording, dashboard: dashboard, request: MediaRequest(), source: .api)
        #expect(config["mode"] == Resolved(.string("audio"), .dashboard))
        let asked = try Precedence.media(.recording, dashboard: dashboard, request: MediaRequest(config: json(#"{"mode":"audio"}"#)), source: .api)
        #expect(asked["mode"] == Resolved(.string("audio"), .api))
    }

    @Test(
        "a request config with unknown or bad fields is refused",
        arguments: [
            (#"{"quality":"ultra"}"#, "config.quality"), (#"{"layout":{"gridSize":40}}"#, "config.layout.gridSize"),
            (#"{"fps":30}"#, "config.fps"), (#"{"layout":"GRID"}"#, "config.layout"), (#"[1]"#, "config"),
        ])
    func badRequestConfig(text: String, field: String) {
        do throws(SettingsError) {
            _ = try MediaRequest(config: json(text))
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.field == field)
        }
    }

    @Test("a room's configuration lists every setting with dashboard or default")
    func room() throws {
        let config = Precedence.room(dashboard: try settings(#"{"hls":{"autoStart":true},"services":{"sip":false}}"#), sdkMaxSendBitrate: "sd")
        #expect(config.entries.count == SettingsSchema.fields.count)
        #expect(config["maxSendBitrate"] == Resolved(.string("sd"), .sdk))
        #expect(config["hls.autoStart"] == Resolved(.bool(true), .dashboard))
        #expect(config["recording.autoStart"] == Resolved(.bool(false), .default))
        #expect(config["services.sip"] == Resolved(.bool(false), .dashboard))
        #expect(config["recording.layout.gridSize"] == Resolved(.number("4"), .default))
        #expect(config.json["hls.autoStart"]?["source"] == .string("dashboard"))
    }
}

@Suite("Job status")
struct JobStatusTests {
    @Test("every transition, by kind")
    func transitions() {
        let allowed: Set<String> = [
            "starting>started", "starting>stopping", "starting>stopped", "starting>failed",
            "started>stopping", "started>stopped", "started>failed",
            "playable>stopping", "playable>stopped", "playable>failed", "stopping>stopped", "stopping>failed",
        ]
        for kind in JobKind.allCases {
            for from in JobStatus.allCases {
                for to in JobStatus.allCases {
                    let expected = allowed.contains("\(from)>\(to)") || (kind == .hls && from == .started && to == .playable)
                    #expect(from.canMove(to: to, kind: kind) == expected, "\(kind) \(from) -> \(to)")
                }
            }
        }
    }

    @Test("wire names, failed shown as stopped")
    func wireNames() {
        #expect(JobStatus.starting.wireName(.recording) == "RECORDING_STARTING")
        #expect(JobStatus.playable.wireName(.hls) == "HLS_PLAYABLE")
        #expect(JobStatus.failed.wireName(.livestream) == "LIVESTREAM_STOPPED")
        #expect(JobStatus.stopping.wireName(.transcription) == "TRANSCRIPTION_STOPPING")
        #expect(!JobStatus.failed.isActive && !JobStatus.stopped.isActive && JobStatus.stopping.isActive)
    }
}
