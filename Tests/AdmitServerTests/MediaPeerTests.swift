import AdmitClient
import AdmitCore
import AdmitServer
import AdmitToken
import Foundation
import HTTPTypes
import Synchronization
import Testing

/// A WebRTC peer in another process (Tests/media/peer.py, aiortc), driven one JSON line at a time.
final class MediaPeer: Sendable {
    private let process: Process
    private let input: FileHandle
    private let output: FileHandle
    private let buffer = Mutex<[UInt8]>([])

    init(script: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        try process.run()
        self.process = process
        input = stdin.fileHandleForWriting
        output = stdout.fileHandleForReading
    }

    /// Sends one request and reads its one-line answer (a read on a thread of its own).
    func call(_ request: JSONValue) async throws -> JSONValue {
        try input.write(contentsOf: Data((request.jsonText + "\n").utf8))
        let line = try await blocking { [self] () throws -> String in
            while true {
                if let line = buffer.withLock({ bytes -> String? in
                    guard let end = bytes.firstIndex(of: 0x0A) else { return nil }
                    defer { bytes.removeFirst(end + 1) }
                    return String(decoding: bytes[..<end], as: UTF8.self)
                }) {
                    return line
                }
                let chunk = output.availableData
                guard !chunk.isEmpty else { throw CancellationError() }
                buffer.withLock { $0 += chunk }
            }
        }
        let answer = try JSONValue(parsing: line)
        if let error = answer["error"]?.stringValue { Issue.record("peer: \(error)") }
        return answer
    }

    func frames() async throws -> Int {
        try await call(.object([JSONMember("op", .string("frames"))]))["frames"]?.integerValue ?? -1
    }

    func stop() {
        try? input.write(contentsOf: Data(#"{"op":"quit"}"#.utf8 + [0x0A]))
        try? input.close()
        if process.isRunning { process.terminate() }
    }
}

/// The media scenario through `AdmitClient` (the signalling an iOS or macOS app would do, with
/// aiortc standing in for its WebRTC framework): real frames from a publisher to a subscriber
/// through a real Janus, the cap in the answer, moderation stopping the frames, removal.
/// Needs a network namespace (Janus gathers no candidates on loopback): scripts/media-test.sh
/// runs it inside its own with ADMIT_MEDIA_PEER set.
@Suite("media through AdmitClient, with real WebRTC peers", .timeLimit(.minutes(2)))
struct MediaPeerTests {
    static let peerScript = ProcessInfo.processInfo.environment["ADMIT_MEDIA_PEER"]

    @Test(
        "a guest publishes, the host subscribes and decodes frames; disableWebcam stops them; removal ends the subscription",
        .enabled(if: peerScript != nil))
    func scenario() async throws {
        let script = try #require(Self.peerScript)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("admit-janus-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await withMeeting({ $0.launchJanusIn = directory }) { m in
            try #require(try await m.sfuState("up", within: .seconds(15)) == .string("up"), "Janus did not come up")
            try await m.settings(#"{"maxSendBitrate":"hd"}"#)
            let host = try await m.join("host")
            _ = try await host.next("meeting-joined")
            let guest = Reader(try await m.client().join(roomId: m.roomId, .init(participantId: "guest", micEnabled: true, webcamEnabled: true)))
            _ = try await guest.next("meeting-joined")

            let publisher = try MediaPeer(script: script)
            let subscriber = try MediaPeer(script: script)
            defer {
                publisher.stop()
                subscriber.stop()
            }
            let offer = try #require(try await publisher.call(.object([JSONMember("op", .string("offer"))]))["sdp"]?.stringValue)
            let answer = try await guest.connection.publish(offer: offer)
            #expect(answer.contains("b=TIAS:1500000"))
            _ = try await publisher.call(.object([JSONMember("op", .string("answer")), JSONMember("sdp", .string(answer))]))
            let enabled = try await host.skip(to: "stream-enabled")
            #expect(enabled.body["participantId"] == .string("guest"))

            let subscription = try await host.connection.subscribe(to: "guest")
            let reply = try await subscriber.call(.object([JSONMember("op", .string("subscribe")), JSONMember("sdp", .string(subscription.offer))]))
            try await host.connection.subscribeAnswer(subscription.subscriptionId, answer: try #require(reply["sdp"]?.stringValue))
            var frames = 0
            for _ in 0..<100 where frames < 15 {
                try await Task.sleep(for: .milliseconds(100))
                frames = try await subscriber.frames()
            }
            #expect(frames >= 15, "the subscriber decoded \(frames) frames in 10 s")

            // Moderation reaches the media: the host's subscriber stops getting frames.
            try await host.connection.disableWebcam(participantId: "guest")
            _ = try await host.skip(to: "stream-disabled")
            try await Task.sleep(for: .milliseconds(700))
            let settled = try await subscriber.frames()
            try await Task.sleep(for: .milliseconds(1500))
            let after = try await subscriber.frames()
            #expect(after - settled <= 3, "frames kept coming after disableWebcam: \(settled) -> \(after)")

            // Removal: the room hears the guest's audio stop (video was already off), and the
            // subscription to it has ended.
            try await host.connection.removeParticipant("guest")
            _ = try await guest.skip(to: "meeting-left")
            let audio = try await host.skip(to: "stream-disabled")
            #expect(audio.body["kind"] == .string("audio") && audio.body["participantId"] == .string("guest"))
            let gone = try await #require(throws: MeetingConnection.RequestFailed.self) {
                try await host.connection.unsubscribe(subscription.subscriptionId)
            }
            #expect(gone.code == 4092)
        }
    }
}
