import AdmitClient
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

@testable import AdmitServer

extension JSONValue {
    /// The elements of an array; nil for anything else.
    var items: [JSONValue]? {
        if case .array(let elements) = self { return elements }
        return nil
    }
}

/// The dashboard's server side (CONTRACT.md section 8): pages and their headers, sign-in and
/// its session, CSRF, the throttle, and the overview endpoints the pages use. The pages
/// themselves run in Chromium (Tests/browser, scripts/browser-test.sh).
@Suite("dashboard: pages, sign-in, sessions, CSRF", .timeLimit(.minutes(1)))
struct DashboardTests {
    static let origin = "http://admit.test"

    static func configuration(_ change: @escaping (inout AppConfiguration) -> Void = { _ in }) -> AppConfiguration {
        testConfiguration {
            $0.publicURL = origin
            change(&$0)
        }
    }

    static func signIn(_ h: Harness, _ credential: String = adminToken, origin: String? = DashboardTests.origin) async throws -> Reply {
        var headers: HTTPFields = [:]
        if let origin { headers[.origin] = origin }
        return try await h.call(.post, "/dashboard/api/sign-in", body: #"{"credential":"\#(credential)"}"#, headers: headers)
    }

    /// The session cookie's value from a sign-in's `Set-Cookie`.
    static func cookie(_ reply: Reply) throws -> String {
        let header = try #require(reply.headers[.setCookie])
        let pair = try #require(header.split(separator: ";").first)
        #expect(pair.hasPrefix("admit_session="))
        return String(pair.dropFirst("admit_session=".count))
    }

    static func withCookie(_ cookie: String, csrf: String? = nil) -> HTTPFields {
        var headers: HTTPFields = [.cookie: "admit_session=\(cookie)"]
        if let csrf { headers[DashboardController.csrfHeader] = csrf }
        return headers
    }

    @Test("pages and assets come from Admit with a CSP that forbids inline script; /dashboard redirects")
    func pages() async throws {
        try await withServer(Self.configuration()) { h in
            let redirect = try await h.call(.get, "/dashboard")
            #expect(redirect.status == 301 && redirect.headers[.location] == "/dashboard/")
            for path in [
                "/dashboard/", "/dashboard/keys", "/dashboard/token", "/dashboard/settings", "/dashboard/rooms", "/dashboard/jobs",
                "/meet/abcd-efgh-ijkl",
            ] {
                let page = try await h.call(.get, path)
                let csp = page.headers[.contentSecurityPolicy] ?? ""
                #expect(page.status == 200 && page.headers[.contentType]?.hasPrefix("text/html") == true, "\(path)")
                #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline") && csp.contains("frame-ancestors 'none'"), "\(path)")
                // No inline script in the markup either: modules from /dashboard/assets only.
                #expect(!page.text.contains("<script>") && page.text.contains(#"<script type="module" src="/dashboard/assets/"#), "\(path)")
            }
            let script = try await h.call(.get, "/dashboard/assets/dashboard.js")
            #expect(script.status == 200 && script.headers[.contentType]?.hasPrefix("text/javascript") == true && script.text.contains("Sign In"))
            #expect(try await h.call(.get, "/dashboard/assets/style.css").headers[.contentType]?.hasPrefix("text/css") == true)
            #expect(try await h.call(.get, "/favicon.ico").headers[.contentType] == "image/svg+xml")
            #expect(try await h.call(.get, "/dashboard/assets/nope.js").status == 404)
            #expect(try await h.call(.get, "/dashboard/assets/..%2Fadmit.sqlite").status == 404)
            let session = try await h.call(.get, "/dashboard/api/session")
            #expect(session.status == 200 && session.json["signedIn"] == .bool(false) && session.json["csrf"] == nil)
            #expect(try await h.call(.get, "/meet/api/config").json["media"] == .bool(false))
        }
    }

    @Test(
        "sign-in: Origin checked, a wrong credential 401, the right one a session cookie (HttpOnly, SameSite=Strict, Path=/, Max-Age, no Secure over http)"
    )
    func signIn() async throws {
        try await withServer(Self.configuration()) { h in
            for origin in [nil, "https://evil.example", "null", "http://admit.test:8443", "http://admit.test.evil.example"] {
                let status = try await Self.signIn(h, origin: origin).status
                #expect(status == 403, "\(origin ?? "no Origin")")
            }
            let wrong = try await Self.signIn(h, "nope")
            #expect(wrong.status == 401 && wrong.headers[.setCookie] == nil)
            let right = try await Self.signIn(h)
            #expect(right.status == 200)
            let header = try #require(right.headers[.setCookie])
            for attribute in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] { #expect(header.contains(attribute), "\(attribute)") }
            #expect(!header.contains("Secure"))
            #expect(!header.contains(adminToken) && !right.text.contains(adminToken))
            let cookie = try Self.cookie(right)
            let csrf = try #require(right.json["csrf"]?.stringValue)
            let session = try await h.call(.get, "/dashboard/api/session", headers: Self.withCookie(cookie))
            #expect(session.json["signedIn"] == .bool(true) && session.json["csrf"] == .string(csrf))
        }
        // A page over https gets a Secure cookie; a proxy that is not trusted cannot claim https.
        try await withServer(testConfiguration { $0.publicURL = "https://admit.test" }) { h in
            let right = try await Self.signIn(h, origin: "https://admit.test")
            #expect(right.headers[.setCookie]?.contains("; Secure") == true)
        }
        try await withServer(Self.configuration()) { h in
            var headers: HTTPFields = [.origin: Self.origin]
            headers[HTTPField.Name("X-Forwarded-Proto")!] = "https"
            let plain = try await h.call(.post, "/dashboard/api/sign-in", body: #"{"credential":"\#(adminToken)"}"#, headers: headers)
            #expect(plain.status == 200 && plain.headers[.setCookie]?.contains("Secure") == false)
        }
    }

    @Test("the admin API by cookie: reads without a CSRF token, every change needs it (403 without or wrong); sign-out ends the session")
    func csrf() async throws {
        try await withServer(Self.configuration()) { h in
            let right = try await Self.signIn(h)
            let cookie = try Self.cookie(right)
            let csrf = try #require(right.json["csrf"]?.stringValue)
            #expect(try await h.call(.get, "/admin/v1/api-keys", headers: Self.withCookie(cookie)).status == 200)
            let body = #"{"name":"by-cookie"}"#
            #expect(try await h.call(.post, "/admin/v1/api-keys", body: body, headers: Self.withCookie(cookie)).status == 403)
            #expect(try await h.call(.post, "/admin/v1/api-keys", body: body, headers: Self.withCookie(cookie, csrf: "wrong")).status == 403)
            let created = try await h.call(.post, "/admin/v1/api-keys", body: body, headers: Self.withCookie(cookie, csrf: csrf))
            #expect(created.status == 200 && created.json["name"] == .string("by-cookie"))
            // Every other change too: settings, their check, revocations, the lobby, workers' claims.
            let apiKey = try #require(created.json["apiKey"]?.stringValue)
            let changes: [(HTTPRequest.Method, String, String)] = [
                (.put, "/admin/v1/api-keys/\(apiKey)/settings", #"{"maxSendBitrate":"hd"}"#),
                (.patch, "/admin/v1/api-keys/\(apiKey)/settings", #"{"maxSendBitrate":"sd"}"#),
                (.post, "/admin/v1/api-keys/\(apiKey)/settings/problems", "{}"),
                (.post, "/admin/v1/api-keys/\(apiKey)/tokens", #"{"permissions":["allow_join"],"expiresIn":60}"#),
                (.post, "/admin/v1/api-keys/\(apiKey)/rotate", "{}"),
                (.post, "/admin/v1/revocations", #"{"apiKey":"\#(apiKey)","participantId":"p"}"#),
                (.post, "/admin/v1/rooms/none/lobby", #"{"participantId":"p","allow":true}"#),
                (.post, "/admin/v1/jobs/claim", "{}"),
                (.post, "/admin/v1/api-keys/\(apiKey)/deactivate", "{}"),
            ]
            for (method, path, body) in changes {
                let refused = try await h.call(method, path, body: body, headers: Self.withCookie(cookie))
                #expect(refused.status == 403, "\(method) \(path) without CSRF: \(refused.status)")
                let taken = try await h.call(method, path, body: body, headers: Self.withCookie(cookie, csrf: csrf))
                #expect(taken.status != 403 && taken.status != 401, "\(method) \(path) with CSRF: \(taken.status)")
            }
            // A stale cookie sent first (another app on the host) does not hide the live one.
            var both = Self.withCookie(cookie)
            both[.cookie] = "admit_session=stale; admit_session=\(cookie)"
            #expect(try await h.call(.get, "/admin/v1/api-keys", headers: both).status == 200)
            // An unknown cookie is no session; the Bearer credential still works beside the dashboard.
            #expect(try await h.call(.get, "/admin/v1/api-keys", headers: Self.withCookie("forged")).status == 401)
            #expect(try await h.admin(.get, "/admin/v1/api-keys").status == 200)
            // Sign-out needs the CSRF token too, then the cookie is dead on the server.
            #expect(try await h.call(.post, "/dashboard/api/sign-out", headers: Self.withCookie(cookie)).status == 403)
            let out = try await h.call(.post, "/dashboard/api/sign-out", headers: Self.withCookie(cookie, csrf: csrf))
            #expect(out.status == 204 && out.headers[.setCookie]?.contains("Max-Age=0") == true)
            #expect(try await h.call(.get, "/admin/v1/api-keys", headers: Self.withCookie(cookie)).status == 401)
            #expect(try await h.call(.get, "/dashboard/api/session", headers: Self.withCookie(cookie)).json["signedIn"] == .bool(false))
        }
    }

    @Test("five failed sign-ins from one address in a minute: every sign-in from it gets 429, the right credential included")
    func throttle() async throws {
        try await withServer(Self.configuration()) { h in
            for _ in 0..<4 {
                let status = try await Self.signIn(h, "nope").status
                #expect(status == 401)
            }
            let fifth = try await Self.signIn(h, "nope").status
            let right = try await Self.signIn(h).status
            let sixth = try await Self.signIn(h, "nope").status
            #expect(fifth == 401 && right == 429 && sixth == 429)
        }
        // Below five, the right credential clears the count.
        try await withServer(Self.configuration()) { h in
            for _ in 0..<4 {
                let status = try await Self.signIn(h, "nope").status
                #expect(status == 401)
            }
            let cleared = try await Self.signIn(h).status
            #expect(cleared == 200)
            for _ in 0..<4 {
                let status = try await Self.signIn(h, "nope").status
                #expect(status == 401)
            }
            let again = try await Self.signIn(h).status
            #expect(again == 200)
        }
    }

    @Test("X-Forwarded-For from a peer that is not a trusted proxy names nobody: the throttle still counts the peer")
    func spoofedForwarding() async throws {
        try await withServer(Self.configuration()) { h in
            for index in 0..<5 {
                var headers: HTTPFields = [.origin: Self.origin]
                headers[HTTPField.Name("X-Forwarded-For")!] = "203.0.113.\(index)"
                let status = try await h.call(.post, "/dashboard/api/sign-in", body: #"{"credential":"nope"}"#, headers: headers).status
                #expect(status == 401)
            }
            #expect(try await Self.signIn(h).status == 429)
            // The admin API's Bearer path is blocked for that address too, and counts its own failures.
            #expect(try await h.admin(.get, "/admin/v1/api-keys").status == 429)
        }
        try await withServer(Self.configuration()) { h in
            for _ in 0..<5 {
                let status = try await h.call(.get, "/admin/v1/api-keys", token: "Bearer wrong").status
                #expect(status == 401)
            }
            #expect(try await Self.signIn(h).status == 429)
        }
    }

    @Test("the Origin may name the host the request was sent to, when that is one this server answers as")
    func originByHost() async throws {
        try await withServer(testConfiguration { $0.publicURL = "https://public.example" }, mode: .live) { h in
            // The test client sends `Host: localhost` (no port).
            let byHost = try await Self.signIn(h, origin: "http://localhost").status
            let otherHost = try await Self.signIn(h, origin: "http://127.0.0.1").status
            let rebinding = try await Self.signIn(h, origin: "http://rebinding.example").status
            let byPublicURL = try await Self.signIn(h, origin: "https://public.example").status
            #expect(byHost == 200 && otherHost == 403 && rebinding == 403 && byPublicURL == 200)
        }
    }

    @Test("sessions expire on the server")
    func expiry() async throws {
        // A lifetime with room for a loaded run between the sign-in and the first use.
        try await withServer(Self.configuration { $0.dashboardSessionLifetime = .seconds(8) }) { h in
            let cookie = try Self.cookie(try await Self.signIn(h))
            let signedIn = ContinuousClock.now
            #expect(try await h.call(.get, "/admin/v1/api-keys", headers: Self.withCookie(cookie)).status == 200)
            try await Task.sleep(until: signedIn + .milliseconds(8500))
            #expect(try await h.call(.get, "/admin/v1/api-keys", headers: Self.withCookie(cookie)).status == 401)
        }
    }

    @Test("the failure table stays bounded, keeps blocked addresses, slides, and counts an IPv6 /64 as one address")
    func bounds() async throws {
        let sessions = DashboardSessions(store: MemoryRepositories(), maxAddresses: 4) { $0 == "right" }
        let start = ContinuousClock.now
        for index in 0..<50 { _ = try await sessions.signIn("wrong", from: "10.1.0.\(index)", now: start) }
        #expect(sessions.addressCount <= 4)
        for _ in 0..<5 { _ = try await sessions.signIn("wrong", from: "10.2.0.1", now: start) }
        // Many other addresses failing meanwhile do not push the blocked one out of the table.
        for index in 0..<50 { _ = try await sessions.signIn("wrong", from: "10.3.0.\(index)", now: start + .seconds(1)) }
        #expect(try await sessions.signIn("right", from: "10.2.0.1", now: start + .seconds(30)) == .throttled)
        guard case .signedIn = try await sessions.signIn("right", from: "10.2.0.1", now: start + .seconds(61)) else {
            Issue.record("still throttled after the minute")
            return
        }
        // One IPv6 host's /64 is one address.
        for index in 0..<5 { _ = try await sessions.signIn("wrong", from: "2001:db8:1:2::\(index + 1)", now: start) }
        #expect(try await sessions.signIn("right", from: "2001:db8:1:2::ff", now: start + .seconds(1)) == .throttled)
        // The minute slides: five failures within any minute block, though no fixed minute holds them.
        let sliding = DashboardSessions(store: MemoryRepositories()) { $0 == "right" }
        for offset in [0, 10, 20, 58, 61, 65] { _ = try await sliding.signIn("wrong", from: "10.4.0.1", now: start + .seconds(offset)) }
        #expect(try await sliding.signIn("right", from: "10.4.0.1", now: start + .seconds(66)) == .throttled)
    }

    @Test("a session made on one node works on another sharing the store, and sign-out ends it on both")
    func sharedSessions() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("admit-dashboard-\(UUID()).sqlite").path
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let configuration = Self.configuration {
            $0.database = .sqlite(path: path)
            $0.masterKey = "mTXp0Qh3gn3Q9uV0bYyJ9yq3S2v0m6Cq0Yx4S9c2XxY="
        }
        try await withServer(configuration) { a in
            try await withServer(configuration) { b in
                let signedIn = try await Self.signIn(a)
                let cookie = try Self.cookie(signedIn)
                let csrf = try #require(signedIn.json["csrf"]?.stringValue)
                #expect(try await b.call(.get, "/admin/v1/api-keys", headers: Self.withCookie(cookie)).status == 200)
                #expect(try await b.call(.get, "/dashboard/api/session", headers: Self.withCookie(cookie)).json["csrf"] == .string(csrf))
                #expect(try await b.call(.post, "/dashboard/api/sign-out", headers: Self.withCookie(cookie, csrf: csrf)).status == 204)
                #expect(try await a.call(.get, "/admin/v1/api-keys", headers: Self.withCookie(cookie)).status == 401)
            }
        }
    }

    @Test("the overview: every key's rooms with the live lobby; a guest admitted or denied from outside the meeting; jobs per key")
    func overview() async throws {
        try await withMeeting { m in
            let host = try await m.join("host")
            _ = try await host.next("meeting-joined")
            let guest = Reader(try await m.client([.askJoin]).join(roomId: m.roomId, .init(participantId: "guest", name: "Guest One")))
            _ = try await host.next("entry-requested")
            let rooms = try await m.admin.admin(.get, "/admin/v1/rooms")
            let room = try #require(rooms.json["rooms"]?.items?.first { $0["roomId"] == .string(m.roomId) })
            #expect(room["live"]?["participants"]?.items?.map { $0["participantId"] } == [.string("host")])
            #expect(room["live"]?["lobby"]?.items?.first?["name"] == .string("Guest One"))
            #expect(rooms.json["rooms"]?.items?.first?["roomId"] == .string(m.roomId), "live rooms first")
            let admitted = try await m.admin.admin(.post, "/admin/v1/rooms/\(m.roomId)/lobby", body: #"{"participantId":"guest","allow":true}"#)
            #expect(admitted.status == 204)
            _ = try await guest.skip(to: "meeting-joined")
            #expect(try await host.skip(to: "participant-joined").body["participantId"] == .string("guest"))
            let again = try await m.admin.admin(.post, "/admin/v1/rooms/\(m.roomId)/lobby", body: #"{"participantId":"guest","allow":false}"#)
            #expect(again.status == 409)
            #expect(try await m.admin.admin(.post, "/admin/v1/rooms/\(m.roomId)/lobby", body: #"{"participantId":"guest"}"#).status == 400)
            #expect(try await m.admin.admin(.post, "/admin/v1/rooms/nope/lobby", body: #"{"participantId":"g","allow":true}"#).status == 404)
            // Denied: the guest hears it and is closed.
            let second = Reader(try await m.client([.askJoin]).join(roomId: m.roomId, .init(participantId: "second")))
            _ = try await host.skip(to: "entry-requested")
            #expect(
                try await m.admin.admin(.post, "/admin/v1/rooms/\(m.roomId)/lobby", body: #"{"participantId":"second","allow":false}"#).status == 204)
            #expect(try await second.skip(to: "entry-responded").body["decision"] == .string("denied"))

            let jobs = try await m.admin.admin(.get, "/admin/v1/api-keys/\(m.key.apiKey)/jobs")
            #expect(jobs.status == 200 && ["recording", "hls", "livestream", "transcription"].allSatisfy { jobs.json[$0]?.items != nil })
            #expect(try await m.admin.admin(.get, "/admin/v1/api-keys/nope/jobs").status == 404)
            // Without the admin credential, none of it.
            #expect(try await m.admin.call(.get, "/admin/v1/rooms").status == 401)
        }
    }

    @Test("admitting a waiting guest into a full meeting from outside is refused: the cap holds")
    func admitIntoFull() async throws {
        try await withMeeting({ $0.maxParticipants = 1 }) { m in
            let host = try await m.join("host")
            _ = try await host.next("meeting-joined")
            let guest = Reader(try await m.client([.askJoin]).join(roomId: m.roomId, .init(participantId: "guest")))
            _ = try await host.next("entry-requested")
            let full = try await m.admin.admin(.post, "/admin/v1/rooms/\(m.roomId)/lobby", body: #"{"participantId":"guest","allow":true}"#)
            #expect(full.status == 409)
            #expect(try await m.admin.admin(.get, "/admin/v1/rooms").json["rooms"]?.items?.first?["live"]?["lobby"]?.items?.count == 1)
            _ = guest
        }
    }

    @Test("settings: every problem at once, each naming its field (200 from the check, 400 from PUT), nothing saved")
    func settingsProblems() async throws {
        try await withServer(Self.configuration()) { h in
            let key = try await h.createKey()
            let bad = #"{"maxSendBitrate":"4k","recording":{"layout":{"gridSize":30}},"transcription":{"whitelistDomains":["nope"]},"extra":1}"#
            let checked = try await h.admin(.post, "/admin/v1/api-keys/\(key.apiKey)/settings/problems", body: bad)
            let fields = checked.json["errors"]?.items?.compactMap { $0["field"]?.stringValue } ?? []
            #expect(checked.status == 200 && fields == ["maxSendBitrate", "recording.layout.gridSize", "transcription.whitelistDomains", "extra"])
            let put = try await h.admin(.put, "/admin/v1/api-keys/\(key.apiKey)/settings", body: bad)
            #expect(put.status == 400 && put.json["errors"]?.items?.count == 4 && put.error?.contains("maxSendBitrate") == true)
            #expect(try await h.admin(.get, "/admin/v1/api-keys/\(key.apiKey)/settings").json == .object([]))
            let fine = try await h.admin(.post, "/admin/v1/api-keys/\(key.apiKey)/settings/problems", body: #"{"maxSendBitrate":"hd"}"#)
            #expect(fine.json["errors"] == .array([]))
        }
    }
}
