import AdmitApp
import AdmitToken
import Foundation
import Hummingbird

/// The official client SDKs' preflights: before opening their own media signalling they ask
/// for the meeting's configuration. Admit runs the join checks of `/rtc` (token, permissions,
/// room, whitelist, revocations, capacity) and answers the data, or the refusal in the error
/// body every route uses, so an app on an official SDK meets Admit's token and room errors in
/// its own error path. Admit does not speak those SDKs' media signalling (protoo, mediasoup
/// methods): the meeting itself runs over `/rtc` (docs/protocol.md).
struct PreflightController {
    let services: Services
    let joins: JoinService

    /// `{roomId}` as JSON or as a form; the token in `Authorization` (or a `token` field).
    /// Each at most as long as a join URL could carry it.
    static let fields = ["roomId": 256, "meetingId": 256, "participantId": 256, "name": 256, "token": 8192]

    func register(on router: Router<AppContext>) {
        for path in ["init-config", "sdk-init-config", "server-init-config"] {
            router.post("/infra/v1/meetings/\(path)") { request, context in
                let fields = try await decodeFields(Self.fields, request, context)
                let join = try await admit(request, fields: fields, roomId: fields["roomId"] ?? fields["meetingId"])
                return JSONResponse(
                    value: .object([
                        JSONMember(
                            "data",
                            .object([
                                JSONMember("baseUrl", .string(services.links.baseWithoutScheme)),
                                JSONMember("signalingUrl", .string(services.links.signaling)),
                                JSONMember("iceServers", .array([])), JSONMember("roomId", .string(join.room.roomId)),
                                JSONMember("participantId", .string(join.participantId)),
                                JSONMember("admission", .string(join.lobby ? "lobby" : "join")),
                            ]))
                    ]))
            }
        }
        router.post("/v1/prebuilt/meetings/:meetingId") { request, context in
            let fields = try await decodeFields(Self.fields, request, context)
            let join = try await admit(request, fields: fields, roomId: try context.parameters.require("meetingId"))
            return JSONResponse(
                value: .object([
                    JSONMember("meetingId", .string(join.room.roomId)), JSONMember("roomId", .string(join.room.roomId)),
                    JSONMember("participantId", .string(join.participantId)), JSONMember("admission", .string(join.lobby ? "lobby" : "join")),
                    JSONMember("signalingUrl", .string(services.links.signaling)),
                ]))
        }
    }

    private func admit(_ request: Request, fields: [String: String], roomId: String?) async throws -> AdmittedJoin {
        try await joins.admit(
            JoinQuery(
                token: Services.accessToken(request) ?? fields["token"], roomId: roomId, participantId: fields["participantId"], name: fields["name"],
                origin: request.headers[.origin], maxSendBitrate: nil, micEnabled: nil, webcamEnabled: nil))
    }
}
