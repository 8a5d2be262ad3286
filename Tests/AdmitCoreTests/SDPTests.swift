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
