import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken

/// What the application's `JobService` reaches in this server: the meetings (live sessions,
/// broadcasts), the room cache, webhook delivery and metrics.
struct ServerJobPort: JobPort {
    let hub: MeetingHub
    let rooms: RoomCache
    let webhooks: Webhooks
    let metrics: Metrics

    func liveSessionId(_ room: RoomRef) -> String? {
        hub.liveSession(room)?.id
    }

    func broadcast(_ room: RoomRef, _ text: String) {
        hub.broadcast(room, text)
    }

    func record(_ room: RoomRef) async -> RoomRecord? {
        try? await rooms.room(apiKey: room.apiKey, id: room.roomId)
    }

    func sendWebhook(_ event: String, apiKey: String, data: JSONValue, to urls: [String]) {
        webhooks.send(event, apiKey: apiKey, data: data, to: urls)
    }

    func jobMoved(kind: JobKind, status: JobStatus) {
        metrics.job(kind: kind.rawValue, status: status.rawValue)
    }
}
