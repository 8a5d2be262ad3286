import AdmitCore
import AdmitToken
import Foundation
import Testing

@Suite("SDP: sections, and the cap written into the video section")
struct SDPTests {
    static let answer = [
        "v=0", "o=- 1 1 IN IP4 10.77.0.1", "s=VideoRoom", "t=0 0", "a=group:BUNDLE 0 1",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111", "c=IN IP4 10.77.0.1", "a=mid:0", "a=recvonly", "a=rtpmap:111 opus/48000/2",
        "m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 10.77.0.1", "b=AS:5000", "a=mid:1", "a=recvonly", "a=rtpmap:96 VP8/90000", "",
    ].joined(separator: "\r\n")

    @Test("sections are read with their kind, mid and direction")
    func sections() {
        #expect(
            SDP.sections(Self.answer) == [
                SDP.Section(kind: "audio", mid: "0", direction: "recvonly", disabled: false),
                SDP.Section(kind: "video", mid: "1", direction: "recvonly", disabled: false),
            ])
        #expect(SDP.isPlausible(Self.answer))
        #expect(!SDP.isPlausible("hello"))
        #expect(!SDP.isPlausible("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\n"))  // no media section
    }

    @Test("the video section gets b=AS and b=TIAS after its c= line, replacing its own; audio is untouched")
    func capping() throws {
        let capped = SDP.cappingVideo(Self.answer, bitsPerSecond: 1_500_000)
        let lines = capped.components(separatedBy: "\r\n")
        let video = try #require(lines.firstIndex { $0.hasPrefix("m=video") })
        #expect(
            Array(lines[video...].prefix(5)) == ["m=video 9 UDP/TLS/RTP/SAVPF 96", "c=IN IP4 10.77.0.1", "b=AS:1500", "b=TIAS:1500000", "a=mid:1"])
        #expect(!capped.contains("b=AS:5000"))
        #expect(lines.filter { $0.hasPrefix("b=") }.count == 2)
        #expect(capped.hasSuffix("\r\n") && capped.hasPrefix(Self.answer.components(separatedBy: "m=video")[0]))
        // Idempotent, and line breaks as given.
        #expect(SDP.cappingVideo(capped, bitsPerSecond: 1_500_000) == capped)
        let unix = SDP.cappingVideo(Self.answer.replacingOccurrences(of: "\r\n", with: "\n"), bitsPerSecond: 800_000)
        #expect(unix.contains("\nb=TIAS:800000\n") && !unix.contains("\r"))
    }

    @Test("a video section that ends the text, or has no c= line, still gets its cap")
    func edges() {
        let last = "v=0\r\nm=video 9 RTP/AVP 96\r\na=mid:v"
        #expect(SDP.cappingVideo(last, bitsPerSecond: 3_000_000) == "v=0\r\nm=video 9 RTP/AVP 96\r\nb=AS:3000\r\nb=TIAS:3000000\r\na=mid:v")
        let bare = "v=0\r\nm=video 9 RTP/AVP 96"
        #expect(SDP.cappingVideo(bare, bitsPerSecond: 999) == "v=0\r\nm=video 9 RTP/AVP 96\r\nb=AS:1\r\nb=TIAS:999")
        let audioOnly = "v=0\r\nm=audio 9 RTP/AVP 111\r\nb=AS:64\r\n"
        #expect(SDP.cappingVideo(audioOnly, bitsPerSecond: 800_000) == audioOnly)
    }
}

@Suite("/rtc media requests")
struct MediaRequestTests {
    static let offer = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"

    @Test("each media method reads back as written")
    func roundTrip() throws {
        let requests: [StreamRequest] = [
            .publish(sdp: Self.offer), .unpublish, .subscribe(participantId: "guest"),
            .subscribeAnswer(subscriptionId: "ab12", sdp: Self.offer), .unsubscribe(subscriptionId: "ab12"),
            .trickle(target: "publisher", candidate: nil),
            .trickle(
                target: "ab12",
                candidate: .object([
                    JSONMember("candidate", .string("candidate:1 1 udp 2122260223 10.77.0.1 50000 typ host")), JSONMember("sdpMid", .string("0")),
                    JSONMember("sdpMLineIndex", .number("0")),
                ])),
        ]
        for request in requests {
            let text = RTCRequest(id: 7, .media(request)).text
            guard case .success(let (id, parsed)) = RTCMessage.request(text) else {
                Issue.record("did not read back: \(text)")
                continue
            }
            #expect(id == 7 && parsed == .media(request), "\(text)")
        }
    }

    @Test("bad media requests are refused by name, never trapping")
    func refusals() {
        let bad = [
            #"{"id":1,"method":"publish"}"#, #"{"id":1,"method":"publish","sdp":"not sdp"}"#,
            #"{"id":1,"method":"publish","sdp":"v=0\r\n\#(String(repeating: "a=x\\r\\n", count: 8000))m=audio 9 RTP/AVP 0\r\n"}"#,
            #"{"id":1,"method":"subscribe"}"#, #"{"id":1,"method":"subscribe","participantId":""}"#,
            #"{"id":1,"method":"subscribeAnswer","subscriptionId":"a"}"#, #"{"id":1,"method":"unsubscribe","subscriptionId":5}"#,
            #"{"id":1,"method":"trickle","candidate":null}"#, #"{"id":1,"method":"trickle","target":"publisher","candidate":"x"}"#,
            #"{"id":1,"method":"trickle","target":"publisher","candidate":{"candidate":"c","sdpMLineIndex":1e300}}"#,
            #"{"id":1,"method":"trickle","target":"publisher","candidate":{"candidate":"c","sdpMLineIndex":-1}}"#,
        ]
        for text in bad {
            guard case .failure(let error) = RTCMessage.request(text) else {
                Issue.record("accepted: \(text.prefix(80))")
                continue
            }
            #expect(error.id == 1 && error.message.contains("`"), "\(text.prefix(80))")
        }
    }
}

@Suite("ICE candidates and descriptions the SFU may see")
struct CandidateTests {
    static func candidate(_ address: String, type: String = "host") -> String {
        "candidate:842163049 1 udp 1677729535 \(address) 50000 typ \(type) raddr 0.0.0.0 rport 0 generation 0"
    }

    @Test("candidates parse field by field; public, private and mDNS addresses are forwarded")
    func allowed() throws {
        let parsed = try #require(ICECandidate(parsing: "a=" + Self.candidate("203.0.113.9", type: "srflx")))
        #expect(parsed.component == 1 && parsed.transport == "udp" && parsed.priority == 1_677_729_535 && parsed.port == 50000)
        #expect(parsed.address == "203.0.113.9" && parsed.type == "srflx" && parsed.foundation == "842163049")
        for address in [
            "203.0.113.9", "10.77.0.2", "192.168.1.20", "2001:db8::1", "fd00::5", "172.16.0.1", "2002:cb00:7109::1", "64:ff9b::cb00:7109",
        ] {
            let candidate = try #require(ICECandidate(parsing: Self.candidate(address)), "\(address)")
            #expect(candidate.refusal == nil, "\(address)")
        }
        #expect(ICECandidate(parsing: "candidate:1 1 TCP 2105524479 10.0.0.1 9 typ host tcptype active")?.transport == "tcp")
    }

    @Test("loopback, unspecified, link-local, multicast, reserved and DNS names are not forwarded")
    func refused() throws {
        for address in [
            "127.0.0.1", "127.8.9.1", "::1", "0.0.0.0", "::", "169.254.169.254", "fe80::1", "224.0.0.251", "ff02::fb", "255.255.255.255",
            "240.0.0.1", "::ffff:127.0.0.1", "metadata.google.internal", "localhost", "a.b.local", ".local", "0a1b2c3d-aaaa-bbbb.local",
            "::127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::1", "100.100.100.200", "100.64.0.1", "fd00:ec2::254",
        ] {
            let candidate = try #require(ICECandidate(parsing: Self.candidate(address)), "\(address)")
            #expect(candidate.refusal != nil, "\(address)")
        }
    }

    @Test("what is not a candidate does not parse, never trapping")
    func malformed() {
        for text in [
            "", "candidate:", "x", "candidate:1 1 udp 1 10.0.0.1 5000", "candidate:1 1 sctp 1 10.0.0.1 5000 typ host",
            "candidate:1 0 udp 1 10.0.0.1 5000 typ host", "candidate:1 1 udp 0 10.0.0.1 5000 typ host",
            "candidate:1 1 udp 4294967296 10.0.0.1 5000 typ host", "candidate:1 1 udp 1 10.0.0.1 65536 typ host",
            "candidate:1 1 udp 1 10.0.0.1 -1 typ host", "candidate:1 1 udp 1 10.0.0.1 5000 typ bogus",
            "candidate:1 1 udp 1 10.0.0.1 5000 type host", "candidate:\(String(repeating: "f", count: 33)) 1 udp 1 10.0.0.1 5000 typ host",
            "candidate:1 99999999999999999999 udp 1 10.0.0.1 5000 typ host",
            "candidate:1 1 udp 1 10.0.0.1 5000 typ host" + String(repeating: " x", count: 40),
        ] {
            #expect(ICECandidate(parsing: text) == nil, "\(text.prefix(60))")
        }
    }

    @Test(
        "an offer with two video sections or too many candidates is refused by name; refused candidates are dropped from SDP and refused in a trickle"
    )
    func descriptions() {
        let base = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\n"
        let audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=mid:0\r\n"
        let video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=mid:1\r\n"
        #expect(SDP.refusal(base + audio + video + "a=" + Self.candidate("10.77.0.2") + "\r\n") == nil)
        #expect(SDP.refusal(base + audio + video + video)?.contains("one video") == true)
        #expect(SDP.refusal(base + "m=text 9 RTP/AVP 98\r\n")?.contains("text") == true)
        // Candidate lines Janus must not see are dropped from a description, the rest kept byte for byte.
        // Janus reads the attribute name in any case, and bytes Swift would merge into one character.
        let mixed =
            base + audio + "a=" + Self.candidate("127.0.0.1") + "\r\na=candidate:garbage\r\na=CANDIDATE:1 1 udp 1 127.0.0.1 9 typ host\r\n"
            + "a=candidate:\u{301}1 1 udp 1 127.0.0.1 9 typ host\r\na=" + Self.candidate("10.77.0.2") + "\r\n"
        #expect(SDP.refusal(mixed) == nil)
        #expect(SDP.withoutRefusedCandidates(mixed) == base + audio + "a=" + Self.candidate("10.77.0.2") + "\r\n")
        #expect(SDP.withoutRefusedCandidates(base + audio) == base + audio)
        let many = String(repeating: "a=" + Self.candidate("10.77.0.2") + "\r\n", count: ICECandidate.maxPerConnection + 1)
        #expect(SDP.refusal(base + audio + many)?.contains("at most") == true)

        let publish = RTCRequest(id: 3, .media(.publish(sdp: base + audio + "a=" + Self.candidate("::1") + "\r\n"))).text
        guard case .success((_, .media(.publish(let forwarded)))) = RTCMessage.request(publish) else {
            Issue.record("an offer with a loopback candidate was refused")
            return
        }
        #expect(forwarded == base + audio && !forwarded.contains("::1"))
        let trickle =
            #"{"id":4,"method":"trickle","target":"publisher","candidate":{"candidate":"\#(Self.candidate("169.254.169.254"))","sdpMid":"0"}}"#
        guard case .failure(let refused) = RTCMessage.request(trickle) else {
            Issue.record("a link-local candidate was accepted")
            return
        }
        #expect(refused.message.contains("link-local"))
        // A browser's end of candidates is an empty candidate.
        let end = #"{"id":5,"method":"trickle","target":"publisher","candidate":{"candidate":"","sdpMid":"0","sdpMLineIndex":0}}"#
        guard case .success(let (_, request)) = RTCMessage.request(end) else {
            Issue.record("the empty candidate was refused")
            return
        }
        #expect(request == .media(.trickle(target: "publisher", candidate: nil)))
    }
}
