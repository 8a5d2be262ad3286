import AdmitApp
import AdmitCore
import AdmitStore
import AdmitToken
import Foundation
import Logging
import Synchronization
import Testing

/// The server's side of jobs, kept in memory: which sessions are live, what the room heard.
final class RecordingPort: JobPort {
    let live = Mutex<[RoomRef: String]>([:])
    let heard = Mutex<[String]>([])

    func liveSessionId(_ room: RoomRef) async -> String? { live.withLock { $0[room] } }
    func broadcast(_ room: RoomRef, _ event: JobEvent) { heard.withLock { $0.append(event.text) } }
    func record(_ room: RoomRef) async -> RoomRecord? { nil }
    func sendWebhook(_ event: String, apiKey: String, data: JSONValue, to urls: [String]) {}
    func jobMoved(kind: JobKind, status: JobStatus) {}
}

@Suite("application: jobs (typed, every move through the state machine)")
struct JobServiceTests {
    let room = RoomRef(apiKey: "k", roomId: "r")

    func service(settings: APISettings = APISettings()) -> (JobService, RecordingPort, MemoryRepositories) {
        let port = RecordingPort()
        let repositories = MemoryRepositories()
        let service = JobService(
            repositories: repositories, port: port, settings: { _ in settings }, startsPerMinute: 100, webhookRefusal: { _ in nil },
            logger: Logger(label: "test"))
        return (service, port, repositories)
    }

    @Test("a start needs a live session; a job no worker took stops at once; a claimed one is asked to stop")
    func startAndStop() async throws {
        let (jobs, port, _) = service()
        await #expect(throws: AppError.self) { _ = try await jobs.start(.recording, room: room, body: .object([]), source: .api) }
        port.live.withLock { $0[room] = "s1" }
        let first = try await jobs.start(.recording, room: room, body: .object([]), source: .api)
        #expect(first.jobStatus == .starting && first.action == .start && first.sessionId == "s1")
        let second = await #expect(throws: AppError.self) { _ = try await jobs.start(.recording, room: room, body: .object([]), source: .api) }
        #expect(second?.kind == .conflict)
        let stopped = try await jobs.stop(.recording, room: room)
        #expect(stopped.jobStatus == .stopped && stopped.action == nil)

        _ = try await jobs.start(.recording, room: room, body: .object([]), source: .api)
        let claimed = try #require(try await jobs.claim(kinds: [.recording]))
        #expect(claimed.action == .start)
        let stopping = try await jobs.stop(.recording, room: room)
        #expect(stopping.jobStatus == .stopping && stopping.action == .stop)
        #expect(
            port.heard.withLock { $0.map { $0.contains("RECORDING_STOPPED") || $0.contains("RECORDING_STOPPING") } } == [false, true, false, true])
    }

    @Test("worker reports move only where the state machine allows: playable is HLS's alone, nothing leaves stopped")
    func reports() async throws {
        let (jobs, port, _) = service()
        port.live.withLock { $0[room] = "s1" }
        let job = try await jobs.start(.recording, room: room, body: .object([]), source: .api)
        _ = try await jobs.claim(kinds: [])
        #expect(try await jobs.report(job.id, StatusReport(.object([JSONMember("status", .string("started"))]))).jobStatus == .started)
        for (status, allowed) in [("playable", false), ("stopped", true), ("started", false), ("failed", false)] {
            do {
                let moved = try await jobs.report(job.id, StatusReport(.object([JSONMember("status", .string(status))])))
                #expect(allowed, "\(status) was allowed")
                #expect(moved.status == status)
            } catch let error as AppError {
                #expect(!allowed, "\(status) was refused")
                #expect(error.kind == .conflict)
            }
        }
        #expect(throws: AppError.self) { _ = try StatusReport(.object([JSONMember("status", .string("starting"))])) }
    }

    @Test("a switched-off service is refused with 4021 whatever the request says; a bad livestream output with 4015")
    func refusals() async throws {
        var settings = APISettings()
        try settings.apply(patch: .object([JSONMember("recording", .object([JSONMember("enabled", .bool(false))]))]))
        let (jobs, port, _) = service(settings: settings)
        port.live.withLock { $0[room] = "s1" }
        let disabled = await #expect(throws: AppError.self) { _ = try await jobs.start(.recording, room: room, body: .object([]), source: .api) }
        #expect(disabled?.kind == .forbidden && disabled?.code == .addOnServicesDisabled)
        let noOutputs = await #expect(throws: AppError.self) {
            _ = try await jobs.start(.livestream, room: room, body: .object([JSONMember("outputs", .array([]))]), source: .api)
        }
        #expect(noOutputs?.kind == .invalid && noOutputs?.code == .invalidLivestreamConfig)
    }
}
