/// A VideoSDK meeting error code with its name and message, exactly as the contract's table.
///
/// Shared by the token verifier, the server's HTTP errors and the meeting protocol.
public struct ErrorCode: Sendable, Hashable, CustomStringConvertible {
    /// The numeric code, such as 4002.
    public let value: Int
    /// The constant name, such as `INVALID_TOKEN`.
    public let name: String
    /// The contract's message for the code.
    public let message: String

    public var description: String { "\(value) \(name)" }

    init(_ value: Int, _ name: String, _ message: String) {
        self.value = value
        self.name = name
        self.message = message
    }

    public static let invalidAPIKey = ErrorCode(
        4001, "INVALID_API_KEY", "`apikey` provided in the token is empty or invalid, please verify it on the dashboard.")
    public static let invalidToken = ErrorCode(4002, "INVALID_TOKEN", "`token` is empty or invalid or might have expired.")
    public static let invalidMeetingID = ErrorCode(
        4003, "INVALID_MEETING_ID", "`meetingId` is empty or invalid, please verify it or generate new meetingId using the API.")
    public static let invalidParticipantID = ErrorCode(
        4004, "INVALID_PARTICIPANT_ID", "`participantId` is empty or invalid, it shouldn't contain any whitespaces.")
    public static let duplicateParticipant = ErrorCode(
        4005, "DUPLICATE_PARTICIPANT", "Leaving meeting, since this `participantId` joined from another device.")
    public static let invalidPermissions = ErrorCode(
        4008, "INVALID_PERMISSIONS", "`permissions` provided in the token are invalid, please don't use `allow_join` or `allow_mod` with `ask_join`.")
    public static let maxParticipantReached = ErrorCode(4009, "MAX_PARTICIPANT_REACHED", "You have reached max partcipant limit in a meeting.")
    public static let startRecordingFailed = ErrorCode(4011, "START_RECORDING_FAILED", "Recording start request failed.")
    public static let stopRecordingFailed = ErrorCode(4012, "STOP_RECORDING_FAILED", "Recording stop request failed.")
    public static let startLivestreamFailed = ErrorCode(4013, "START_LIVESTREAM_FAILED", "Livestream start request failed.")
    public static let stopLivestreamFailed = ErrorCode(4014, "STOP_LIVESTREAM_FAILED", "Livestream stop request failed.")
    public static let invalidLivestreamConfig = ErrorCode(
        4015, "INVALID_LIVESTREAM_CONFIG", "Livestream 'outputs' configuration provided was invalid.")
    public static let startHLSFailed = ErrorCode(4016, "START_HLS_FAILED", "HLS start request failed.")
    public static let stopHLSFailed = ErrorCode(4017, "STOP_HLS_FAILED", "HLS stop request failed.")
    public static let addOnServicesDisabled = ErrorCode(4021, "ADD_ON_SERVICES_DISABLED", "Add-On services are disabled for your account!")
    public static let unauthorizedMeetingID = ErrorCode(4022, "UNAUTHORIZED_MEETING_ID", "'token' is not valid for the provided meetingId")
    public static let unauthorizedParticipantID = ErrorCode(
        4023, "UNAUTHORIZED_PARTICIPANT_ID", "'token' is not valid for the provided participantId")
    public static let unauthorizedRole = ErrorCode(4024, "UNAUTHORIZED_ROLE", "Role provided in 'token' is not valid for joining the meeting")
    public static let unauthorizedRequest = ErrorCode(4025, "UNAUTHORIZED_REQUEST", "Your request does not match the security configuration")
    public static let startTranscriptionFailed = ErrorCode(4031, "START_TRANSCRIPTION_FAILED", "Transcription start request failed.")
    public static let stopTranscriptionFailed = ErrorCode(4032, "STOP_TRANSCRIPTION_FAILED", "Transcription stop request failed.")
    public static let meetingIDDisabled = ErrorCode(
        4052, "MEETING_ID_DISABLED", "'meetingId' is disabled, please generate a new meetingId using the API.")
    public static let apiKeyDeactivated = ErrorCode(
        4053, "APIKEY_DEACTIVATED", "'apikey' provided in the token is deactivated, please verify it on the dashboard.")
    public static let respondEntryFailed = ErrorCode(4059, "RESPOND_ENTRY_FAILED", "Respond to entry request failed.")
    public static let removeParticipantFailed = ErrorCode(4066, "REMOVE_PARTICIPANT_FAILED", "Remove participant request failed.")
    public static let enableParticipantMicFailed = ErrorCode(4067, "ENABLE_PARTICIPANT_MIC_FAILED", "Enable participant mic request failed.")
    public static let disableParticipantMicFailed = ErrorCode(4068, "DISABLE_PARTICIPANT_MIC_FAILED", "Disable participant mic request failed.")
    public static let enableParticipantWebcamFailed = ErrorCode(4069, "ENABLE_PARTICIPANT_WEBCAM_FAILED", "Enable participant webcam request failed.")
    public static let disableParticipantWebcamFailed = ErrorCode(
        4070, "DISABLE_PARTICIPANT_WEBCAM_FAILED", "Disable participant webcam request failed.")
    public static let endMeetingFailed = ErrorCode(3057, "ERROR_END_MEETING_FAILED", "Unable to end the meeting.")
    /// Admit's own: the room's lobby holds `--max-lobby` waiting participants already.
    public static let lobbyFull = ErrorCode(4093, "LOBBY_FULL", "The waiting room is full.")
    /// Admit's own: a `/rtc` connection sent requests faster than its limit (about 50 a second,
    /// bursts of 100). The request is refused; a connection that keeps it up is closed with
    /// WebSocket close code 4029.
    public static let tooManyRequests = ErrorCode(4029, "TOO_MANY_REQUESTS", "Too many requests on this connection; slow down.")
    /// Admit's own (media): no SFU is configured, or it is down.
    public static let mediaUnavailable = ErrorCode(4090, "MEDIA_UNAVAILABLE", "No media server is available.")
    /// Admit's own (media): a `publish` (or `unpublish`) the SFU or the meeting refused.
    public static let publishFailed = ErrorCode(4091, "PUBLISH_FAILED", "Publish request failed.")
    /// Admit's own (media): a `subscribe`, `subscribeAnswer`, `unsubscribe` or `trickle` refused.
    public static let subscribeFailed = ErrorCode(4092, "SUBSCRIBE_FAILED", "Subscribe request failed.")

    /// Every code of the contract's table.
    public static let all: [ErrorCode] = [
        .invalidAPIKey, .invalidToken, .invalidMeetingID, .invalidParticipantID, .duplicateParticipant,
        .invalidPermissions, .maxParticipantReached, .startRecordingFailed, .stopRecordingFailed,
        .startLivestreamFailed, .stopLivestreamFailed, .invalidLivestreamConfig, .startHLSFailed, .stopHLSFailed,
        .addOnServicesDisabled, .unauthorizedMeetingID, .unauthorizedParticipantID, .unauthorizedRole,
        .unauthorizedRequest, .startTranscriptionFailed, .stopTranscriptionFailed, .meetingIDDisabled,
        .apiKeyDeactivated, .respondEntryFailed, .removeParticipantFailed, .enableParticipantMicFailed,
        .disableParticipantMicFailed, .enableParticipantWebcamFailed, .disableParticipantWebcamFailed,
        .endMeetingFailed, .lobbyFull, .tooManyRequests, .mediaUnavailable, .publishFailed, .subscribeFailed,
    ]
}
