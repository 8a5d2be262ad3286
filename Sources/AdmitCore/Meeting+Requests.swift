public import AdmitToken
public import Foundation

/// A request from a participant over `/rtc` (CONTRACT.md section 4, methods).
public enum MeetingRequest: Sendable, Equatable {
    case respondEntry(participantId: String, decision: EntryDecision)
    case enableMic(participantId: String)
    case enableWebcam(participantId: String)
    case disableMic(participantId: String)
    case disableWebcam(participantId: String)
    case respondMicRequest(accept: Bool)
    case respondWebcamRequest(accept: Bool)
    case setMic(enabled: Bool)
    case setWebcam(enabled: Bool)
    case removeParticipant(participantId: String)
    case leave
    case end

    /// The code a failure of this request answers with.
    public var failureCode: ErrorCode {
        switch self {
        case .respondEntry: .respondEntryFailed
        case .enableMic, .respondMicRequest, .setMic: .enableParticipantMicFailed
        case .disableMic: .disableParticipantMicFailed
        case .enableWebcam, .respondWebcamRequest, .setWebcam: .enableParticipantWebcamFailed
        case .disableWebcam: .disableParticipantWebcamFailed
        case .removeParticipant: .removeParticipantFailed
        case .leave, .end: .endMeetingFailed
        }
    }
}

extension Meeting {
    /// Handles request `id` from `connection`. Waiting participants may only `leave`.
    /// `maxParticipants` bounds lobby admissions.
    public mutating func handle(_ request: MeetingRequest, id: Int, from connection: ConnectionID, maxParticipants: Int, now: Date) -> [MeetingAction]
    {
        let fail: [MeetingAction] = [.reply(connection, id: id, error: request.failureCode)]
        let ok: MeetingAction = .reply(connection, id: id, error: nil)
        if request == .leave, waiting.contains(where: { $0.connection == connection }) {
            return [ok] + depart(connection, reason: .manualLeave, now: now)
        }
        guard let me = joined.firstIndex(where: { $0.connection == connection }) else { return fail }
        let caller = joined[me]

        switch request {
        case .respondEntry(let participantId, let decision):
            guard caller.permissions.contains(.allowJoin), let waiter = waiting.first(where: { $0.participantId == participantId }) else {
                return fail
            }
            if decision == .denied { return [ok] + deny(waiterNamed: waiter.participantId) }
            guard seatsTaken(besides: waiter.participantId, now: now) < min(maxParticipants, self.maxParticipants) else { return fail }
            return [ok] + admit(waiterNamed: waiter.participantId, now: now)

        case .enableMic(let target), .enableWebcam(let target):
            guard caller.permissions.contains(.allowMod), let index = joined.firstIndex(where: { $0.participantId == target }) else { return fail }
            if case .enableMic = request {
                joined[index].micAskedBy = caller.participantId
                return [ok, .send(joined[index].connection, .micRequested(by: caller.participantId))]
            }
            joined[index].webcamAskedBy = caller.participantId
            return [ok, .send(joined[index].connection, .webcamRequested(by: caller.participantId))]

        case .disableMic(let target), .disableWebcam(let target):
            guard caller.permissions.contains(.allowMod), let index = joined.firstIndex(where: { $0.participantId == target }) else { return fail }
            let mic = request == .disableMic(participantId: target)
            return [ok] + setDevice(index, mic: mic, enabled: false)

        case .respondMicRequest(let accept), .respondWebcamRequest(let accept):
            let mic = request == .respondMicRequest(accept: accept)
            guard (mic ? caller.micAskedBy : caller.webcamAskedBy) != nil else { return fail }
            if mic { joined[me].micAskedBy = nil } else { joined[me].webcamAskedBy = nil }
            return accept ? [ok] + setDevice(me, mic: mic, enabled: true) : [ok]

        case .setMic(let enabled):
            return [ok] + setDevice(me, mic: true, enabled: enabled)
        case .setWebcam(let enabled):
            return [ok] + setDevice(me, mic: false, enabled: enabled)

        case .removeParticipant(let target):
            guard caller.permissions.contains(.allowMod), target != caller.participantId,
                let member = joined.first(where: { $0.participantId == target }) ?? waiting.first(where: { $0.participantId == target })
            else { return fail }
            return [ok] + depart(member.connection, reason: .removePeer, now: now)

        case .leave:
            return [ok] + depart(connection, reason: .manualLeave, now: now)

        case .end:
            guard caller.permissions.contains(.allowMod) else { return fail }
            return [ok] + endAll(reason: .roomClose, now: now)
        }
    }

    /// Sets a device and tells everyone (`mic-changed` / `webcam-changed`).
    private mutating func setDevice(_ index: Int, mic: Bool, enabled: Bool) -> [MeetingAction] {
        if mic { joined[index].mic = enabled } else { joined[index].webcam = enabled }
        let participantId = joined[index].participantId
        let event: MeetingEvent =
            mic ? .micChanged(participantId: participantId, enabled: enabled) : .webcamChanged(participantId: participantId, enabled: enabled)
        return joined.map { .send($0.connection, event) }
    }

    /// The first `allowed` wins: the waiter enters; `allow_join` holders and the waiter hear the answer.
    private mutating func admit(waiterNamed participantId: String, now: Date) -> [MeetingAction] {
        guard let index = waiting.firstIndex(where: { $0.participantId == participantId }) else { return [] }
        let waiter = waiting.remove(at: index)
        var actions: [MeetingAction] = joined.filter { $0.permissions.contains(.allowJoin) }.map {
            .send($0.connection, .entryResponded(participantId: participantId, decision: .allowed))
        }
        actions.append(.send(waiter.connection, .entryResponded(participantId: participantId, decision: .allowed)))
        return actions + enter(waiter, now: now)
    }

    /// An answer to a waiting guest from outside the meeting (the dashboard's `Admit` / `Deny`),
    /// with the same effects as a host's `respondEntry`; nil when nobody of that id waits, or
    /// when admitting would pass the cap.
    public mutating func answerEntry(participantId: String, decision: EntryDecision, maxParticipants: Int, now: Date) -> [MeetingAction]? {
        guard waiting.contains(where: { $0.participantId == participantId }) else { return nil }
        if decision == .denied { return deny(waiterNamed: participantId) }
        guard seatsTaken(besides: participantId, now: now) < min(maxParticipants, self.maxParticipants) else { return nil }
        return admit(waiterNamed: participantId, now: now)
    }

    private mutating func deny(waiterNamed participantId: String) -> [MeetingAction] {
        guard let waiter = waiting.first(where: { $0.participantId == participantId }) else { return [] }
        return denyWaiter(waiter.connection)
    }
}
