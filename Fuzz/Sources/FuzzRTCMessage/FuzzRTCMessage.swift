import AdmitCore
import AdmitToken
import Foundation

/// libFuzzer target for the `/rtc` request decoder, and for the meeting state machine that
/// carries out what it decodes: a meeting with a host, a member and a waiting guest takes
/// each decoded request from one of them (the first byte picks who).
enum FuzzRTCMessage {
    static let now = Date(timeIntervalSince1970: 1_795_000_000)

    static func claims(_ permissions: Permissions) -> Claims {
        Claims(apiKey: "k", permissions: permissions, lifetime: 600, now: 1_795_000_000)
    }

    static func run(_ input: UnsafeRawBufferPointer) {
        guard let first = input.first else { return }
        let text = String(decoding: input.dropFirst(), as: UTF8.self)
        // What the server reads, a client writing it again (`RTCRequest`) says the same.
        if case .success(let (id, message)) = RTCMessage.request(text), case .meeting = message {
            guard case .success(let (again, reread)) = RTCMessage.request(RTCRequest(id: id, message).json.jsonText) else {
                preconditionFailure("a request the server read could not be written back")
            }
            precondition(again == id && reread == message)
        }
        switch RTCMessage.request(text) {
        case .failure(let error):
            precondition(!error.message.isEmpty)
        case .success(let (id, .meeting(request))):
            var meeting = Meeting(roomId: "r", lobbyTimeout: 300, maxLobby: 2) { "s1" }
            _ = meeting.join(1, participantId: "host", name: "Host", claims: claims([.allowJoin, .allowMod]), now: now)
            _ = meeting.join(2, participantId: "member", name: "Member", claims: claims(.allowJoin), now: now)
            _ = meeting.wait(3, participantId: "guest", name: "Guest", claims: claims(.askJoin), now: now)
            let from = ConnectionID(first % 4)
            let actions = meeting.handle(request, id: id, from: from, maxParticipants: 3, now: now)
            // A request never touches a connection the meeting does not know.
            for action in actions {
                if case .send(let connection, _) = action { precondition((1...3).contains(connection)) }
            }
        case .success(let (_, .startJob(_, body))):
            _ = try? MediaRequest(config: body["config"])
        case .success:
            break
        }
    }
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
        FuzzRTCMessage.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
        return 0
    }

    @_silgen_name("LLVMFuzzerRunDriver")
    func runDriver(
        _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
    ) -> CInt

    /// SwiftPM links an executable's entry point as `<module>_main`: hand over to libFuzzer's driver.
    @_cdecl("FuzzRTCMessage_main")
    public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
        var argc = argc
        var argv = argv
        return runDriver(&argc, &argv, fuzzOne)
    }
#else
    @main
    struct Usage {
        static func main() {
            print("A libFuzzer target: build and run it with Fuzz/run.sh.")
        }
    }
#endif
