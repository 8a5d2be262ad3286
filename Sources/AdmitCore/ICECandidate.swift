import Foundation

/// An ICE candidate (RFC 8839 section 5.1) as a client names it, in a trickle or on an
/// `a=candidate:` line of its SDP. The SFU sends connectivity checks to the address a client
/// names, so a client could aim them at the SFU's own machine or its network: Admit forwards
/// only candidates that parse and name an address a peer can have. Private addresses are
/// allowed (meetings inside one network need them); loopback, unspecified, link-local,
/// carrier-grade NAT (a cloud's metadata service lives there too), multicast and reserved ones
/// are not, nor IPv6 forms embedding such an IPv4 address, and neither are names: DNS names,
/// and mDNS ones (`x.local`), which Janus resolves unless told not to (an answer on the local
/// network could point its checks anywhere). The text is judged as ASCII bytes, as Janus
/// reads it: the attribute name in any letter case, nothing outside printable ASCII.
public struct ICECandidate: Sendable, Equatable {
    public var foundation: Substring
    public var component: Int
    /// `udp` or `tcp`, lower-cased.
    public var transport: String
    public var priority: UInt32
    public var address: Substring
    public var port: Int
    /// `host`, `srflx`, `prflx` or `relay`.
    public var type: Substring

    /// Candidates one publication or subscription may name, in its SDP and trickles together.
    public static let maxPerConnection = 64

    /// Whether an SDP line is a candidate attribute as Janus sees one: `a=candidate:` with the
    /// name in any letter case, compared on the bytes.
    public static func isCandidateLine(_ line: some StringProtocol) -> Bool {
        Array(line.utf8.prefix(12)).map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 } == Array("a=candidate:".utf8)
    }

    /// Parses `candidate:...` (with or without a leading `a=`, the name in any letter case);
    /// nil if it is not one, or has a byte outside printable ASCII.
    public init?(parsing text: some StringProtocol) {
        guard text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else { return nil }
        var body = Substring(text)
        if body.utf8.prefix(2).elementsEqual("a=".utf8) { body = body.dropFirst(2) }
        guard body.count >= 10, body.prefix(10).lowercased() == "candidate:" else { return nil }
        let fields = body.dropFirst(10).split(separator: " ", omittingEmptySubsequences: false)
        guard fields.count >= 8, fields.count <= 32, fields[6] == "typ" else { return nil }
        let iceChars = { (c: Character) in c.isASCII && (c.isLetter || c.isNumber || c == "+" || c == "/") }
        guard (1...32).contains(fields[0].count), fields[0].allSatisfy(iceChars),
            fields[1].count <= 3, let component = Int(fields[1]), (1...256).contains(component),
            ["udp", "tcp"].contains(fields[2].lowercased()),
            fields[3].count <= 10, let priority = UInt32(fields[3]), priority > 0,
            fields[5].count <= 5, let port = Int(fields[5]), (0...65_535).contains(port),
            ["host", "srflx", "prflx", "relay"].contains(fields[7])
        else { return nil }
        foundation = fields[0]
        self.component = component
        transport = fields[2].lowercased()
        self.priority = priority
        address = fields[4]
        self.port = port
        type = fields[7]
    }

    /// Why the SFU must not be pointed at this candidate; nil when it may.
    public var refusal: String? {
        guard let bytes = Self.addressBytes(String(address)) else {
            return "the address must be an IP address (names, mDNS ones included, are not resolved)"
        }
        return Self.unreachable(bytes).map { "\($0) addresses are not forwarded to the SFU" }
    }

    /// An IPv4 or IPv6 literal as bytes (4 or 16, network order).
    static func addressBytes(_ text: String) -> [UInt8]? {
        guard text.utf8.count <= 45, !text.contains("%") else { return nil }
        var v4 = in_addr()
        if inet_pton(AF_INET, text, &v4) == 1 { return withUnsafeBytes(of: &v4) { Array($0) } }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, text, &v6) == 1 { return withUnsafeBytes(of: &v6) { Array($0) } }
        return nil
    }

    /// The kind of address no peer has (`loopback`, ...); nil for public and private ones.
    static func unreachable(_ bytes: [UInt8]) -> String? {
        if bytes.count == 16 {
            if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF { return unreachable(Array(bytes[12...])) }  // ::ffff:a.b.c.d
            if bytes[0..<15].allSatisfy({ $0 == 0 }) { return bytes[15] == 1 ? "loopback" : "unspecified" }
            if bytes[0..<12].allSatisfy({ $0 == 0 }) { return unreachable(Array(bytes[12...])) ?? "IPv4-compatible" }  // ::a.b.c.d
            if bytes[0..<12].elementsEqual([0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]) { return unreachable(Array(bytes[12...])) }  // NAT64
            if bytes[0] == 0x20, bytes[1] == 0x02 { return unreachable(Array(bytes[2..<6])) }  // 6to4
            if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80 { return "link-local" }
            if bytes[0] == 0xFF { return "multicast" }
            // AWS's instance metadata service over IPv6 (fd00:ec2::254).
            if bytes[0..<4].elementsEqual([0xFD, 0x00, 0x0E, 0xC2]) { return "cloud metadata" }
            return nil
        }
        guard bytes.count == 4 else { return "unknown" }
        switch (bytes[0], bytes[1]) {
        case (0, _): return "unspecified"
        case (127, _): return "loopback"
        case (169, 254): return "link-local"
        case (100, 64...127): return "carrier-grade NAT"
        case (224...239, _): return "multicast"
        case (240...255, _): return "reserved"
        default: return nil
        }
    }
}

extension SDP {
    /// The `a=candidate:` lines of a description, as written.
    public static func candidateLines(_ text: String) -> [Substring] {
        lines(text).filter(ICECandidate.isCandidateLine)
    }

    /// Why an offer or answer must not reach the SFU; nil when it may: at most one audio, one
    /// video and one data (`application`) section, and at most 64 candidate lines.
    public static func refusal(_ text: String) -> String? {
        let kinds = sections(text).map(\.kind)
        for kind in ["audio", "video", "application"] where kinds.filter({ $0 == kind }).count > 1 {
            return "at most one \(kind) section"
        }
        if let other = kinds.first(where: { !["audio", "video", "application"].contains($0) }) { return "no \(other) sections" }
        if candidateLines(text).count > ICECandidate.maxPerConnection { return "at most \(ICECandidate.maxPerConnection) candidates" }
        return nil
    }

    /// The description without the candidate lines the SFU must not be pointed at (those that
    /// do not parse, or name a refused address), byte for byte otherwise. A browser may list a
    /// link-local address among good ones: the good ones still go, where a trickled candidate
    /// alone is refused by name.
    public static func withoutRefusedCandidates(_ text: String) -> String {
        let all = lines(text)
        let kept = all.filter { line in
            guard ICECandidate.isCandidateLine(line) else { return true }
            guard let candidate = ICECandidate(parsing: line) else { return false }
            return candidate.refusal == nil
        }
        return kept.count == all.count ? text : kept.joined(separator: lineBreak(text))
    }
}
