import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Hummingbird

/// What an operator sees across keys (the dashboard's Rooms and Jobs pages), on the admin API:
/// `GET /admin/v1/rooms` (every key's rooms, live meetings with their participants and lobby),
/// `POST /admin/v1/rooms/:roomId/lobby` (admit or deny a waiting guest), and
/// `GET /admin/v1/api-keys/:apiKey/jobs` (the key's latest jobs of every kind).
struct OverviewController {
    let services: Services
    let hub: MeetingHub
    /// The lobby answer goes to the node running the room's meeting.
    let cluster: Cluster
    /// Rooms listed per key (the newest first), and jobs per kind.
    static let perKey = 100
    /// Rooms in one answer at most (rooms with a meeting first).
    static let maxRooms = 500

    func register(on router: Router<AppContext>) {
        let admin = router.group("/admin/v1").add(middleware: AdminGuard(services: services))
        admin.get("/rooms") { _, _ in
            JSONResponse(value: .object([JSONMember("rooms", .array(try await rooms()))]), headers: [.cacheControl: "no-store"])
        }
        admin.post("/rooms/:roomId/lobby") { request, context in
            let roomId = try context.parameters.require("roomId")
            let body = try await request.body.collect(upTo: 4096)
            let fields = (try? JSONValue(parsing: String(buffer: body))) ?? .null
            guard let participantId = fields["participantId"]?.stringValue, !participantId.isEmpty, participantId.utf8.count <= 256,
                case .bool(let allow)? = fields["allow"]
            else { throw APIError(.badRequest, "The body must be {\"participantId\": string, \"allow\": true or false}.") }
            guard let room = try await services.repositories.room(roomId: roomId) else { throw APIError.notFound("No room \(roomId).") }
            guard await cluster.answerEntry(RoomRef(apiKey: room.apiKey, roomId: room.roomId), participantId: participantId, allow: allow) else {
                throw APIError(.conflict, "Nobody called \(participantId) waits in the lobby of \(roomId), or the meeting is full.")
            }
            return Response(status: .noContent)
        }
        admin.get("/api-keys/:apiKey/jobs") { _, context in
            let apiKey = try context.parameters.require("apiKey")
            guard services.keyRing.name(of: apiKey) != nil else { throw APIError.notFound("No API key \(apiKey).") }
            var members: [JSONMember] = []
            for kind in JobKind.allCases {
                let page = try await services.repositories.jobs(apiKey: apiKey, roomId: nil, kind: kind.rawValue, page: 1, perPage: Self.perKey)
                members.append(JSONMember(kind.rawValue, .array(page.items.map { $0.json(links: services.links) })))
            }
            return JSONResponse(value: .object(members), headers: [.cacheControl: "no-store"])
        }
    }

    /// Every key's rooms (the newest `perKey` of each), rooms with a live meeting first, each
    /// with its people; and meetings of rooms beyond those pages too.
    private func rooms() async throws -> [JSONValue] {
        let keys = try await services.keys.list()
        var live: [JSONValue] = []
        var idle: [JSONValue] = []
        var listed = Set<RoomRef>()
        for key in keys where live.count + idle.count < Self.maxRooms * 2 {
            let page = try await services.repositories.rooms(apiKey: key.apiKey, page: 1, perPage: Self.perKey)
            for room in page.items {
                let ref = RoomRef(apiKey: room.apiKey, roomId: room.roomId)
                listed.insert(ref)
                let snapshot = hub.snapshot(ref)
                let entry = json(room.roomId, customRoomId: room.customRoomId, key: key, disabled: room.disabled, snapshot: snapshot)
                if snapshot != nil { live.append(entry) } else { idle.append(entry) }
            }
        }
        let names = Dictionary(keys.map { ($0.apiKey, $0) }, uniquingKeysWith: { first, _ in first })
        for ref in hub.liveRooms where !listed.contains(ref) && live.count < Self.maxRooms {
            guard let key = names[ref.apiKey], let snapshot = hub.snapshot(ref) else { continue }
            live.append(json(ref.roomId, customRoomId: nil, key: key, disabled: false, snapshot: snapshot))
        }
        // Meetings other nodes own (on one PostgreSQL): each answers for its own.
        let remote = await cluster.peerMeetings()
        if !remote.isEmpty {
            var seen = Set<RoomRef>()
            idle = idle.compactMap { entry in
                guard let apiKey = entry["apiKey"]?.stringValue, let roomId = entry["roomId"]?.stringValue else { return entry }
                let ref = RoomRef(apiKey: apiKey, roomId: roomId)
                guard let meeting = remote[ref], case .object(var members) = entry else { return entry }
                seen.insert(ref)
                members.removeAll { $0.key == "live" }
                members.append(JSONMember("live", meeting))
                live.append(.object(members))
                return nil
            }
            for (ref, meeting) in remote where !listed.contains(ref) && !seen.contains(ref) && live.count < Self.maxRooms {
                guard let key = names[ref.apiKey] else { continue }
                live.append(
                    .object([
                        JSONMember("roomId", .string(ref.roomId)), JSONMember("customRoomId", .null), JSONMember("apiKey", .string(key.apiKey)),
                        JSONMember("keyName", .string(key.name)), JSONMember("disabled", .bool(false)), JSONMember("live", meeting),
                    ]))
            }
        }
        return Array((live + idle).prefix(Self.maxRooms))
    }

    private func json(
        _ roomId: String, customRoomId: String?, key: APIKeyRecord, disabled: Bool, snapshot: (session: Session?, people: MeetingSnapshot)?
    ) -> JSONValue {
        var members = [
            JSONMember("roomId", .string(roomId)), JSONMember("customRoomId", customRoomId.map(JSONValue.string) ?? .null),
            JSONMember("apiKey", .string(key.apiKey)), JSONMember("keyName", .string(key.name)), JSONMember("disabled", .bool(disabled)),
        ]
        members.append(JSONMember("live", snapshot.map(Self.live) ?? .null))
        return .object(members)
    }

    /// A live meeting as the Rooms page shows it: its session, participants and lobby (also
    /// what a node answers for the meetings it owns, `Cluster.peerMeetings`).
    static func live(_ snapshot: (session: Session?, people: MeetingSnapshot)) -> JSONValue {
        let (session, people) = snapshot
        func person(_ p: MeetingSnapshot.Person, devices: Bool) -> JSONValue {
            var fields = [JSONMember("participantId", .string(p.participantId)), JSONMember("name", .string(p.name))]
            if devices { fields += [JSONMember("mic", .bool(p.mic)), JSONMember("webcam", .bool(p.webcam))] }
            return .object(fields)
        }
        return .object([
            JSONMember("sessionId", session.map { .string($0.id) } ?? .null),
            JSONMember("start", session.map { .string($0.start.formatted(Date.ISO8601FormatStyle())) } ?? .null),
            JSONMember("participants", .array(people.participants.map { person($0, devices: true) })),
            JSONMember("lobby", .array(people.waiting.map { person($0, devices: false) })),
        ])
    }
}
