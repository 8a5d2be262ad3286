public import AdmitToken
public import Foundation

/// Identifies one WebSocket connection; a participant id may move between connections.
public typealias ConnectionID = UInt64

/// Why someone leaves (CONTRACT.md section 2, leave reasons).
public struct LeaveReason: Sendable, Hashable {
    public let code: Int
    public let name: String
    public let message: String

    public static let websocketDisconnected = LeaveReason(code: 1001, name: "WEBSOCKET_DISCONNECTED", message: "The connection was lost.")
    public static let removePeer = LeaveReason(code: 1002, name: "REMOVE_PEER", message: "A moderator removed you from the meeting.")
    public static let roomClose = LeaveReason(code: 1006, name: "ROOM_CLOSE", message: "The meeting was ended by a moderator.")
    public static let meetingEndAPI = LeaveReason(code: 1009, name: "MEETING_END_API", message: "The meeting was ended through the server API.")
    public static let removePeerAPI = LeaveReason(code: 1010, name: "REMOVE_PEER_API", message: "You were removed through the server API.")
    public static let duplicateParticipant = LeaveReason(code: 1011, name: "DUPLICATE_PARTICIPANT", message: ErrorCode.duplicateParticipant.message)
    public static let manualLeave = LeaveReason(code: 1101, name: "MANUAL_LEAVE_CALLED", message: "You left the meeting.")
}

/// A participant as other participants see them.
public struct ParticipantInfo: Sendable, Hashable {
    public var participantId: String
    public var name: String
    public var mic: Bool
    public var webcam: Bool

    public init(participantId: String, name: String, mic: Bool, webcam: Bool) {
        self.participantId = participantId
        self.name = name
        self.mic = mic
        self.webcam = webcam
    }
}

/// The lobby answer.
public enum EntryDecision: String, Sendable, Hashable {
    case allowed, denied
}

/// A server event for one connection (CONTRACT.md section 4).
public enum MeetingEvent: Sendable, Hashable {
    case meetingJoined(participantId: String, participants: [ParticipantInfo], permissions: Permissions)
    case participantJoined(participantId: String, name: String)
    case participantLeft(participantId: String, name: String, reason: LeaveReason)
    case entryRequested(participantId: String, name: String)
    case entryResponded(participantId: String, decision: EntryDecision)
    case micRequested(by: String)
    case webcamRequested(by: String)
    case micChanged(participantId: String, enabled: Bool)
    case webcamChanged(participantId: String, enabled: Bool)
    case meetingLeft(reason: LeaveReason)
    /// `error` to one participant: a refusal that is no reply to a request (a full lobby).
    case error(ErrorCode)
}

/// What the server must do after an event, in order.
public enum MeetingAction: Sendable, Equatable {
    /// Send an event on a connection.
    case send(ConnectionID, MeetingEvent)
    /// Answer request `id` on a connection: success, or the contract code it failed with.
    case reply(ConnectionID, id: Int, error: ErrorCode?)
    /// Close a connection (after the events sent before it).
    case close(ConnectionID)
    /// Arm the lobby timer of a waiting connection.
    case startLobbyTimer(ConnectionID, deadline: Date)
    /// The session changed (started, a time log changed, ended): persist it, and tell observers
    /// (jobs, webhooks) what happened, in order.
    case sessionChanged(Session, notices: [SessionNotice])
}

/// What a change did to the session, as observers hear it: the meeting says so itself, so
/// nothing has to work it out by comparing states.
public enum SessionNotice: Sendable, Equatable {
    case started
    case entered(participantId: String, name: String)
    case exited(participantId: String, name: String)
    case ended
}

/// One session of a room: from the first join to the last leave.
public struct Session: Sendable, Equatable {
    /// One stretch in the meeting; Codable as the store keeps time logs.
    public struct Stay: Sendable, Equatable, Codable {
        public var start: Date
        public var end: Date?
        public init(start: Date, end: Date? = nil) {
            self.start = start
            self.end = end
        }
    }
    public struct Attendee: Sendable, Equatable, Codable {
        public var participantId: String
        public var name: String
        public var timelog: [Stay]
        public init(participantId: String, name: String, timelog: [Stay]) {
            self.participantId = participantId
            self.name = name
            self.timelog = timelog
        }
    }

    public init(id: String, roomId: String, start: Date, end: Date? = nil, attendees: [Attendee]) {
        self.id = id
        self.roomId = roomId
        self.start = start
        self.end = end
        self.attendees = attendees
    }

    public var id: String
    public var roomId: String
    public var start: Date
    public var end: Date?
    /// In order of first join.
    public var attendees: [Attendee]

    public var isLive: Bool { end == nil }
}

/// A media request over `/rtc` (CONTRACT.md section 7): the participant's own publication and
/// subscriptions, carried out by the SFU.
public enum StreamRequest: Sendable, Equatable {
    /// An offer with the participant's audio and/or video; answered with the SFU's answer.
    case publish(sdp: String)
    case unpublish
    /// An offer from the SFU for one publisher's tracks.
    case subscribe(participantId: String)
    case subscribeAnswer(subscriptionId: String, sdp: String)
    case unsubscribe(subscriptionId: String)
    /// An ICE candidate for the publisher connection (`target` "publisher") or a subscription;
    /// nil ends them.
    case trickle(target: String, candidate: JSONValue?)
}
