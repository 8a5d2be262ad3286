import AdmitCore
import Testing

@Suite("job events in order (a late event never undoes a newer one)")
struct JobEventOrderTests {
    @Test("each status once, in the state machine's order; a late or repeated one is held back")
    func order() {
        var order = JobEventOrder()
        func tell(_ job: String, _ kind: JobKind, _ status: JobStatus) -> Bool { order.admit(job: job, kind: kind, status: status) }
        #expect(tell("j1", .recording, .starting))
        #expect(!tell("j1", .recording, .starting), "told twice")
        #expect(tell("j1", .recording, .started))
        #expect(tell("j1", .recording, .stopped))
        // A `starting` relayed late, after the stop: the room keeps hearing `stopped`.
        #expect(!tell("j1", .recording, .starting))
        #expect(!tell("j1", .recording, .started))
        // Skipping ahead is fine (a stop reached the room before the start was told).
        #expect(tell("j2", .hls, .stopped))
        #expect(!tell("j2", .hls, .starting))
        // `playable` only for HLS, as the state machine says.
        #expect(tell("j3", .hls, .started) && tell("j3", .hls, .playable))
        #expect(tell("j4", .recording, .started) && !tell("j4", .recording, .playable))
    }

    @Test("bounded: the oldest jobs are forgotten first")
    func bounded() {
        var order = JobEventOrder(capacity: 3)
        func tell(_ job: String, _ kind: JobKind, _ status: JobStatus) -> Bool { order.admit(job: job, kind: kind, status: status) }
        for id in ["a", "b", "c"] { #expect(tell(id, .recording, .stopped)) }
        #expect(!tell("a", .recording, .started), "remembered while within capacity")
        #expect(tell("d", .recording, .stopped))
        #expect(tell("a", .recording, .started), "the oldest is forgotten")
        #expect(!tell("c", .recording, .started), "a newer one is kept")
    }
}
