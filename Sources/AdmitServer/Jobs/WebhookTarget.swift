import Foundation
import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where a webhook may go (CONTRACT.md section 4): an http(s) URL whose host is public.
/// Checked when a URL is given (`check`, a 400 on failure) and again at delivery on every
/// address the name resolves to (`resolve`), and the delivery connects to the address
/// that was checked, so a name that changes its answer between the two cannot steer a
/// delivery inward. `--webhook-allow-private` lifts the address rule, for local development.
struct WebhookTarget: Sendable, Equatable {
    var scheme: String
    /// The host as written (no brackets around IPv6 literals), for `Host` and TLS.
    var host: String
    var port: Int
    /// Path and query, at least `/`.
    var target: String
    /// Whether the host is an IP literal (no DNS, no TLS server name).
    var isLiteral: Bool

    var isHTTPS: Bool { scheme == "https" }

    /// Why `text` is refused as a webhook target (nil: accepted), as the application layer asks.
    static func refusal(of text: String, allowPrivate: Bool) -> String? {
        guard case .failure(let refusal) = check(text, allowPrivate: allowPrivate) else { return nil }
        return refusal.message
    }

    /// The URL's parts, or why it cannot be a webhook target.
    static func check(_ text: String, allowPrivate: Bool) -> Result<WebhookTarget, Refusal> {
        guard text.utf8.count <= 2048, let components = URLComponents(string: text), let scheme = components.scheme?.lowercased(),
            ["http", "https"].contains(scheme), var host = components.host, !host.isEmpty
        else { return .failure(.notHTTP) }
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        guard (1...65535).contains(port) else { return .failure(.notHTTP) }
        var target = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { target += "?" + query }
        guard target.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else { return .failure(.notHTTP) }
        let literal = Self.numericAddresses(host)
        let parsed = WebhookTarget(scheme: scheme, host: host, port: port, target: target, isLiteral: literal != nil)
        if allowPrivate { return .success(parsed) }
        if let literal {
            return literal.allSatisfy(AddressClass.isPublic) ? .success(parsed) : .failure(.privateAddress)
        }
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "."))
        // Names that only ever mean this machine or the local network.
        if name == "localhost" || name.hasSuffix(".localhost") || !name.contains(".") || name.hasSuffix(".local")
            || name.hasSuffix(".internal") || name.hasSuffix(".home.arpa")
        {
            return .failure(.privateAddress)
        }
        return .success(parsed)
    }

    enum Refusal: Error, Equatable {
        case notHTTP
        case privateAddress
        case unresolved

        var message: String {
            switch self {
            case .notHTTP: "must be an http(s) URL of at most 2048 bytes"
            case .privateAddress: "must not point at a loopback, private, link-local or other non-public address"
            case .unresolved: "names a host that does not resolve"
            }
        }
    }

    /// The addresses to connect to, each checked: every address the host resolves to must be
    /// public (unless private ones are allowed). Blocking (DNS): run it off the event loops.
    func resolve(allowPrivate: Bool) -> Result<SocketAddress, Refusal> {
        let addresses = Self.lookup(host, port: port, numericOnly: false)
        guard let first = addresses.first else { return .failure(.unresolved) }
        if !allowPrivate, !addresses.allSatisfy({ AddressClass.isPublic($0.bytes) }) { return .failure(.privateAddress) }
        return .success(first.address)
    }

    /// The host's addresses when it is an IP literal (in any form `getaddrinfo` reads without
    /// DNS: `127.1` and `2130706433` included); nil for a name.
    static func numericAddresses(_ host: String) -> [[UInt8]]? {
        let found = lookup(host, port: 0, numericOnly: true)
        return found.isEmpty ? nil : found.map(\.bytes)
    }

    private static func lookup(_ host: String, port: Int, numericOnly: Bool) -> [(bytes: [UInt8], address: SocketAddress)] {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Darwin)
            hints.ai_socktype = SOCK_STREAM
        #else
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #endif
        if numericOnly { hints.ai_flags = AI_NUMERICHOST }
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &list) == 0, let list else { return [] }
        defer { freeaddrinfo(list) }
        var found: [(bytes: [UInt8], address: SocketAddress)] = []
        var next: UnsafeMutablePointer<addrinfo>? = list
        while let entry = next, found.count < 32 {
            next = entry.pointee.ai_next
            guard let raw = entry.pointee.ai_addr else { continue }
            switch Int32(raw.pointee.sa_family) {
            case AF_INET:
                let address = raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
                let bytes = withUnsafeBytes(of: address.sin_addr) { Array($0) }
                found.append((bytes, SocketAddress(address, host: host)))
            case AF_INET6:
                let address = raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
                let bytes = withUnsafeBytes(of: address.sin6_addr) { Array($0) }
                found.append((bytes, SocketAddress(address, host: host)))
            default:
                continue
            }
        }
        return found
    }
}

/// Which IP addresses are public: not loopback, private (RFC 1918, ULA), link-local,
/// carrier-grade NAT, multicast, reserved, documentation or unspecified; IPv6 forms that
/// embed an IPv4 address (mapped, NAT64, 6to4) are judged by that address.
enum AddressClass {
    /// `bytes`: 4 for IPv4, 16 for IPv6, network order.
    static func isPublic(_ bytes: [UInt8]) -> Bool {
        switch bytes.count {
        case 4: return isPublicV4(bytes[0], bytes[1], bytes[2], bytes[3])
        case 16: return isPublicV6(bytes)
        default: return false
        }
    }

    private static func isPublicV4(_ a: UInt8, _ b: UInt8, _ c: UInt8, _ d: UInt8) -> Bool {
        switch (a, b, c) {
        case (0, _, _), (10, _, _), (127, _, _): return false  // this network, RFC 1918, loopback
        case (100, 64...127, _): return false  // carrier-grade NAT
        case (169, 254, _): return false  // link-local (cloud metadata lives here)
        case (172, 16...31, _), (192, 168, _): return false  // RFC 1918
        case (192, 0, 0), (192, 0, 2), (198, 51, 100), (203, 0, 113): return false  // IETF, documentation
        case (198, 18...19, _): return false  // benchmarking
        case (224...255, _, _): return false  // multicast, reserved, broadcast
        default: return true
        }
    }

    private static func isPublicV6(_ bytes: [UInt8]) -> Bool {
        let zeroPrefix = bytes[0..<10].allSatisfy { $0 == 0 }
        if zeroPrefix, bytes[10] == 0xFF, bytes[11] == 0xFF { return isPublicV4(bytes[12], bytes[13], bytes[14], bytes[15]) }  // ::ffff:a.b.c.d
        if bytes[0..<12].allSatisfy({ $0 == 0 }) { return false }  // ::, ::1, IPv4-compatible
        if bytes[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0][...] {
            return isPublicV4(bytes[12], bytes[13], bytes[14], bytes[15])  // NAT64 64:ff9b::/96
        }
        if bytes[0] == 0x20, bytes[1] == 0x02 { return isPublicV4(bytes[2], bytes[3], bytes[4], bytes[5]) }  // 6to4 2002::/16
        if bytes[0] & 0xFE == 0xFC { return false }  // unique local fc00::/7
        if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80 { return false }  // link-local fe80::/10
        if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0xC0 { return false }  // site-local fec0::/10
        if bytes[0] == 0xFF { return false }  // multicast
        if bytes[0] == 0x20, bytes[1] == 0x01, bytes[2] == 0x0D, bytes[3] == 0xB8 { return false }  // documentation
        if bytes[0] == 0x20, bytes[1] == 0x01, bytes[2] == 0x00, bytes[3] == 0x00 { return false }  // Teredo
        if bytes[0] == 0x01, bytes[1..<8].allSatisfy({ $0 == 0 }) { return false }  // discard 100::/64
        return true
    }
}
