import Foundation
import HTTPTypes

/// Who the client is, for rate limits and logs: the connection's address, or, when that
/// address is a trusted reverse proxy (`--trusted-proxy`), the nearest address in
/// `X-Forwarded-For` that is not itself a trusted proxy. Without trusted proxies the header
/// is ignored: anyone can write it.
struct ClientAddress: Sendable {
    let trustedProxies: Set<String>

    /// `forwardedFor`: every `X-Forwarded-For` value in the order the lines came, joined by
    /// commas (a proxy may add its own line rather than extend the client's).
    func resolve(remote: String?, forwardedFor: String?) -> String {
        guard let remote = remote.map(Self.unmapped) else { return "unknown" }
        guard !trustedProxies.isEmpty, trustedProxies.contains(remote), let forwardedFor else { return remote }
        // Rightmost first: each proxy appends the address it received from.
        for hop in forwardedFor.split(separator: ",").reversed() {
            let address = Self.unmapped(hop.trimmingCharacters(in: .whitespaces))
            guard !address.isEmpty, address.utf8.count <= 64 else { return remote }
            if !trustedProxies.contains(address) { return address }
        }
        return remote
    }

    /// Every `X-Forwarded-For` line of a request, in order, joined by commas; nil when there is none.
    static func forwardedFor(_ headers: HTTPFields) -> String? {
        let values = headers.filter { $0.name.canonicalName == "x-forwarded-for" }.map(\.value)
        return values.isEmpty ? nil : values.joined(separator: ",")
    }

    /// `::ffff:10.0.0.2` (an IPv4 peer on a dual-stack socket) as `10.0.0.2`.
    static func unmapped(_ address: String) -> String {
        // NIO writes addresses in lower case; no allocation for the usual, unmapped address.
        address.utf8.starts(with: "::ffff:".utf8) && address.utf8.contains(UInt8(ascii: ".")) ? String(address.dropFirst(7)) : address
    }
}
