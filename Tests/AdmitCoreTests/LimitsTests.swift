import AdmitCore
import AdmitToken
import Foundation
import Testing

@Suite("limits: request budget, lobby cap")
struct CoreLimitsTests {
    @Test("the budget allows a burst, then the rate; refuses beyond; closes one that keeps far over it")
    func budget() {
        var budget = RequestBudget(perSecond: 10, burst: 5)
        // A burst of five at t=0, then refusals.
        #expect((0..<5).map { _ in budget.take(now: 0) } == Array(repeating: .allowed, count: 5))
        #expect(budget.take(now: 0) == .refused)
        // 0.1 s later one token has come back.
        #expect(budget.take(now: 0.1) == .allowed)
        #expect(budget.take(now: 0.1) == .refused)
        // Far over the rate: refusals pile up past a burst's worth and the connection closes.
        var decisions: [RequestBudget.Decision] = []
        for _ in 0..<10 { decisions.append(budget.take(now: 0.1)) }
        #expect(decisions.contains(.close))
        #expect(decisions.first == .refused)
    }

    @Test("a client a little over the rate loses only the excess, for as long as it goes on")
    func slightlyOver() {
        var budget = RequestBudget(perSecond: 10, burst: 5)
        var counts: [RequestBudget.Decision: Int] = [:]
        // 12 a second for 30 s.
        for index in 0..<360 { counts[budget.take(now: Double(index) / 12), default: 0] += 1 }
        #expect(counts[.close] == nil)
        #expect((counts[.allowed] ?? 0) >= 300 && (counts[.allowed] ?? 0) <= 306)
        #expect((counts[.refused] ?? 0) > 0)
    }

    @Test("a time going backwards (clock adjustments) gives nothing back")
    func backwards() {
        var budget = RequestBudget(perSecond: 10, burst: 1)
        #expect(budget.take(now: 100) == .allowed)
        #expect(budget.take(now: 50) == .refused)
    }

    private func meeting(maxLobby: Int) -> Meeting {
        Meeting(roomId: "r", lobbyTimeout: 300, maxLobby: maxLobby) { "s1" }
    }

    private let guest = Claims(apiKey: "k", permissions: .askJoin, lifetime: 600, now: 1_795_000_000)

    @Test("a full lobby sends the newcomer error 4093 and closes it; a waiting participant reconnecting takes its own place")
    func lobbyCap() {
        var room = meeting(maxLobby: 2)
        let now = Date(timeIntervalSince1970: 1_795_000_000)
        _ = room.wait(1, participantId: "a", name: "A", claims: guest, now: now)
        _ = room.wait(2, participantId: "b", name: "B", claims: guest, now: now)
        #expect(room.wait(3, participantId: "c", name: "C", claims: guest, now: now) == [.send(3, .error(.lobbyFull)), .close(3)])
        #expect(room.lobbyCount == 2)
        let reconnect = room.wait(4, participantId: "b", name: "B", claims: guest, now: now)
        #expect(reconnect.contains(.close(2)))
        #expect(room.waitingIds.sorted() == ["a", "b"])
        #expect(room.isWaiting("b"))
    }

    @Test("admission refuses a lobby entrant to a full lobby with 4093 (403), but not a direct join or a reconnect")
    func admission() {
        let full = RoomFacts(roomId: "abcd-efgh-ijkl", lobbyCount: 200, maxLobby: 200)
        let request = JoinRequest(roomId: "abcd-efgh-ijkl", participantId: "g")
        guard case .refused(let error, let status) = Admission.decide(claims: guest, request: request, room: full, generateId: { "x" }) else {
            Issue.record("not refused")
            return
        }
        #expect(error.code == .lobbyFull)
        #expect(status == 403)
        var again = full
        again.alreadyWaiting = true
        #expect(Admission.decide(claims: guest, request: request, room: again, generateId: { "x" }) == .lobby(participantId: "g"))
        let member = Claims(apiKey: "k", permissions: .allowJoin, lifetime: 600, now: 1_795_000_000)
        #expect(Admission.decide(claims: member, request: request, room: full, generateId: { "x" }) == .join(participantId: "g"))
    }
}
