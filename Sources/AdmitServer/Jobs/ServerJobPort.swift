import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken

/// What the application's `JobService` reaches in this server: the meetings (live sessions,
/// broadcasts; on the room's owner node when it is another), the room cache, webhook delivery
/// and metrics.
struct ServerJobPort: JobPort {
    let hub: MeetingHub
    /// Set once the cluster exists (it needs the job service itself).
    let cluster: LateCluster
    let rooms: RoomCache
    let webhooks: Webhooks
    let metrics: Metrics

    func liveSessionId(_ room: RoomRef) async -> String? {
        guard let cluster = cluster.value else { return hub.liveSession(room)?.id }
        return await cluster.liveSessionId(room)
    }

    /// Through the cluster's queue when the store is shared (one order for this node's events,
    /// whether its meeting runs here or on another node), else straight to the hub.
    func broadcast(_ room: RoomRef, _ event: JobEvent) {
        guard let cluster = cluster.value, cluster.isShared else { return hub.broadcast(room, job: event) }
        cluster.broadcast(room, event)
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
