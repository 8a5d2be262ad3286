/// The little of SDP (RFC 8866) that Admit reads and writes: the media sections' kinds and
/// mids, and a bandwidth line on the video section. Pure text work, line by line; anything
/// Admit does not touch is kept byte for byte.
public enum SDP {
    /// A media section (`m=` line to the next one).
    public struct Section: Sendable, Equatable {
        /// `audio`, `video`, `application`, ...
        public var kind: String
        /// `a=mid:` when present.
        public var mid: String?
        /// The section's direction (`sendrecv`, `sendonly`, `recvonly`, `inactive`), `sendrecv` when unsaid.
        public var direction: String
        /// Port 0: the section is rejected or disabled.
        public var disabled: Bool

        public init(kind: String, mid: String?, direction: String, disabled: Bool) {
            self.kind = kind
            self.mid = mid
            self.direction = direction
            self.disabled = disabled
        }
    }

    /// The line break the text uses (RFC 8866 says CRLF; some stacks write LF).
    static func lineBreak(_ text: String) -> String {
        text.contains("\r\n") ? "\r\n" : "\n"
    }

    /// The lines, without their CRLF or LF. Split on the bytes: to `String`, "\r\n" is one
    /// character, which no test for "\n" would find.
    static func lines(_ text: String) -> [Substring] {
        let utf8 = text.utf8
        var lines: [Substring] = []
        var start = utf8.startIndex
        var index = utf8.startIndex
        while index != utf8.endIndex {
            if utf8[index] == 0x0A {
                var end = index
                if end > start, utf8[utf8.index(before: end)] == 0x0D { end = utf8.index(before: end) }
                lines.append(text[start..<end])
                start = utf8.index(after: index)
            }
            index = utf8.index(after: index)
        }
        lines.append(text[start...])
        return lines
    }

    /// The media sections in order.
    public static func sections(_ text: String) -> [Section] {
        var sections: [Section] = []
        for line in lines(text) {
            if line.hasPrefix("m=") {
                let parts = line.dropFirst(2).split(separator: " ")
                sections.append(
                    Section(kind: parts.first.map(String.init) ?? "", mid: nil, direction: "sendrecv", disabled: parts.dropFirst().first == "0"))
            } else if !sections.isEmpty {
                if line.hasPrefix("a=mid:") {
                    sections[sections.count - 1].mid = String(line.dropFirst(6))
                } else if ["a=sendrecv", "a=sendonly", "a=recvonly", "a=inactive"].contains(line) {
                    sections[sections.count - 1].direction = String(line.dropFirst(2))
                }
            }
        }
        return sections
    }

    /// Whether `text` looks like a session description at all: `v=0` first, and at least one
    /// media section. (Janus judges the rest.)
    public static func isPlausible(_ text: String) -> Bool {
        lines(text).first == "v=0" && !sections(text).isEmpty
    }

    /// `text` with every video section's bandwidth set to `bitsPerSecond`: `b=TIAS` (RFC 3890,
    /// bit/s) and `b=AS` (kbit/s, for stacks that read only that), in place of any `b=` lines
    /// the section had, placed where RFC 8866 orders them (after `i=` and `c=`).
    public static func cappingVideo(_ text: String, bitsPerSecond: Int) -> String {
        let breakText = lineBreak(text)
        let kilobits = max(1, (bitsPerSecond + 999) / 1000)
        var out: [String] = []
        var inVideo = false
        var placed = false
        func place() {
            out.append("b=AS:\(kilobits)")
            out.append("b=TIAS:\(bitsPerSecond)")
            placed = true
        }
        for line in lines(text) {
            if line.hasPrefix("m=") {
                if inVideo, !placed { place() }
                inVideo = line.hasPrefix("m=video ")
                placed = false
                out.append(String(line))
                continue
            }
            guard inVideo else {
                out.append(String(line))
                continue
            }
            if line.hasPrefix("b=") { continue }
            if !placed, !line.hasPrefix("i="), !line.hasPrefix("c="), !line.isEmpty { place() }
            out.append(String(line))
        }
        if inVideo, !placed {
            // The text ended inside the video section: place before the trailing empty line, if any.
            if out.last?.isEmpty == true {
                out.removeLast()
                place()
                out.append("")
            } else {
                place()
            }
        }
        return out.joined(separator: breakText)
    }
}
