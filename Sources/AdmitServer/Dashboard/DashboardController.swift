import AdmitApp
import AdmitToken
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The dashboard (`/dashboard/`) and the meeting page (`/meet/:roomId`), CONTRACT.md section 8:
/// static pages and JavaScript modules embedded in the binary (`Web/`, no CDN, no build step),
/// and the few routes of their own: the session (`GET /dashboard/api/session`), sign-in and
/// sign-out. Everything else the pages do goes through the admin API, authenticated by the
/// session cookie and a CSRF token (`Services.requireAdmin`).
struct DashboardController {
    static let cookieName = "admit_session"
    /// The CSRF token's header, `X-CSRF-Token` (a valid name: the fallback is never taken).
    static let csrfHeader = HTTPField.Name("X-CSRF-Token") ?? .authorization
    let services: Services
    /// Whether an SFU is configured (the meeting page says when media is off).
    let mediaAvailable: @Sendable () -> Bool

    /// The pages' Content-Security-Policy: nothing inline, nothing from elsewhere.
    static let contentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "media-src 'self' blob: mediastream:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

    /// The dashboard's pages: one shell, each path its page.
    static let pages = ["", "keys", "token", "settings", "rooms", "jobs"]

    func register(on router: Router<AppContext>) {
        // The router matches `/dashboard` and `/dashboard/` alike: the path tells them apart.
        router.get("/dashboard") { request, _ in
            request.uri.path == "/dashboard" ? Response(status: .movedPermanently, headers: [.location: "/dashboard/"]) : Self.asset("dashboard.html")
        }
        for page in Self.pages where !page.isEmpty {
            router.get(RouterPath("/dashboard/\(page)")) { _, _ in Self.asset("dashboard.html") }
        }
        router.get("/dashboard/assets/:name") { _, context in
            guard let name = context.parameters.get("name"), WebAssets.files[name] != nil else {
                throw APIError(.notFound, "No such asset.")
            }
            return Self.asset(name)
        }
        router.get("/favicon.ico") { _, _ in Self.asset("favicon.svg") }
        router.get("/meet/:roomId") { _, _ in Self.asset("meet.html") }
        router.get("/meet/api/config") { _, _ in
            // The meeting page fills its token field from `/get-token` only when that route is on.
            JSONResponse(
                value: .object([
                    JSONMember("tokenEndpoint", .bool(services.tokenMint.policy != nil)), JSONMember("media", .bool(mediaAvailable())),
                ]))
        }

        router.get("/dashboard/api/session") { request, _ in
            let session = try await services.dashboard.session(in: request)?.session
            var members = [JSONMember("signedIn", .bool(session != nil))]
            if let session {
                members.append(JSONMember("csrf", .string(session.csrf)))
                let left = session.expires.timeIntervalSinceNow
                members.append(JSONMember("expiresIn", .number(String(left > 0 && left < 1e9 ? Int(left) : 0))))
            }
            return JSONResponse(value: .object(members), headers: [.cacheControl: "no-store"])
        }
        router.post("/dashboard/api/sign-in") { request, context in
            let origin = try sameOrigin(request)
            let body = try await request.body.collect(upTo: 4096)
            let fields = (try? JSONValue(parsing: String(buffer: body))) ?? .null
            guard let credential = fields["credential"]?.stringValue, credential.utf8.count <= 1024 else {
                throw APIError(.badRequest, "`credential` must be the admin credential, as a string.")
            }
            let address = services.clientAddress.resolve(remote: context.remoteAddress, forwardedFor: ClientAddress.forwardedFor(request.headers))
            switch try await services.dashboard.signIn(credential, from: address) {
            case .throttled:
                throw APIError(.tooManyRequests, "Too many failed sign-ins from this address: wait a minute.")
            case .wrongCredential:
                throw APIError(.unauthorized, "That is not the admin credential.")
            case .signedIn(let cookie, let csrf):
                // A session the browser brought along ends: no fixation of a known id.
                for old in DashboardSessions.cookies(in: request).prefix(8) { try? await services.dashboard.signOut(old) }
                let seconds = services.dashboard.lifetime.components.seconds
                var cookieText = "\(Self.cookieName)=\(cookie); Path=/; Max-Age=\(seconds); HttpOnly; SameSite=Strict"
                if secure(request, context, origin: origin) { cookieText += "; Secure" }
                return JSONResponse(
                    value: .object([JSONMember("csrf", .string(csrf)), JSONMember("expiresIn", .number(String(seconds)))]),
                    headers: [.setCookie: cookieText, .cacheControl: "no-store"])
            }
        }
        router.post("/dashboard/api/sign-out") { request, context in
            if let (cookie, session) = try await services.dashboard.session(in: request) {
                guard DashboardSessions.csrfMatches(session, request.headers[Self.csrfHeader]) else {
                    throw APIError(.forbidden, "Signing out needs the session's CSRF token (X-CSRF-Token).")
                }
                try await services.dashboard.signOut(cookie)
            }
            var cookieText = "\(Self.cookieName)=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"
            if secure(request, context, origin: request.headers[.origin]) { cookieText += "; Secure" }
            return Response(status: .noContent, headers: [.setCookie: cookieText])
        }
    }

    /// Sign-in carries no CSRF token (there is no session yet): it must come from a page of
    /// this server. `Origin` must be the public URL's origin, or name the host the request was
    /// sent to when that host is one this server answers as (the public URL's host, the bound
    /// host, or loopback): a DNS-rebinding page whose own name points here is refused.
    /// Returns the origin (its scheme says whether the page came over https).
    private func sameOrigin(_ request: Request) throws(APIError) -> String {
        let refusal = APIError(.forbidden, "Sign in from the dashboard's own page (the request's Origin is not this server).")
        guard let origin = request.headers[.origin]?.lowercased() else { throw refusal }
        let publicURL = URLComponents(string: services.links.base)
        var publicOrigin = "\(publicURL?.scheme ?? "")://\(publicURL?.host ?? "")"
        if let port = publicURL?.port { publicOrigin += ":\(port)" }
        if origin == publicOrigin.lowercased() { return origin }
        guard let authority = request.head.authority?.lowercased() else { throw refusal }
        let hostName: Substring =
            authority.hasPrefix("[") ? authority.prefix { $0 != "]" }.dropFirst() : authority.split(separator: ":").first ?? ""
        let known: Set<String> = [
            "localhost", "127.0.0.1", "::1", services.configuration.host.lowercased(), (publicURL?.host ?? "").lowercased(),
        ]
        guard known.contains(String(hostName)), origin == "http://\(authority)" || origin == "https://\(authority)" else { throw refusal }
        return origin
    }

    /// Whether the browser reached this server over https: the page's origin says so, or a
    /// trusted proxy does (`X-Forwarded-Proto`).
    private func secure(_ request: Request, _ context: AppContext, origin: String?) -> Bool {
        if origin?.lowercased().hasPrefix("https://") == true { return true }
        guard let remote = context.remoteAddress, services.clientAddress.trustedProxies.contains(ClientAddress.unmapped(remote)) else {
            return false
        }
        return request.headers.first { $0.name.canonicalName == "x-forwarded-proto" }?.value.lowercased() == "https"
    }

    static let securityHeaders = [
        ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("X-Frame-Options", "DENY"),
        ("Permissions-Policy", "camera=(self), microphone=(self)"),
    ]

    /// An embedded file with its type and the pages' security headers.
    static func asset(_ name: String) -> Response {
        guard let bytes = WebAssets.files[name] else { return Response(status: .notFound) }
        let type: String =
            switch name.split(separator: ".").last {
            case "html": "text/html; charset=utf-8"
            case "js": "text/javascript; charset=utf-8"
            case "css": "text/css; charset=utf-8"
            case "svg": "image/svg+xml"
            default: "application/octet-stream"
            }
        var headers: HTTPFields = [.contentType: type, .cacheControl: "no-cache", .contentSecurityPolicy: contentSecurityPolicy]
        for (name, value) in securityHeaders {
            if let name = HTTPField.Name(name) { headers.append(HTTPField(name: name, value: value)) }
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
