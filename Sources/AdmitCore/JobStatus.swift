/// Where a recording, HLS, livestream or transcription job is (CONTRACT.md section 3, media
/// workers): `starting -> started (-> playable for HLS) -> stopping -> stopped | failed`.
public enum JobStatus: String, Sendable, CaseIterable {
    case starting, started, playable, stopping, stopped, failed

    /// Holds the room's one slot for its kind until it ends.
    public var isActive: Bool { self != .stopped && self != .failed }

    /// Whether a worker's report (or a stop request) may move a job of `kind` from here to `next`.
    /// A worker may report `stopped` without `stopping` (the media ended by itself) and `failed` at any time.
    public func canMove(to next: JobStatus, kind: JobKind) -> Bool {
        switch (self, next) {
        case (.starting, .started), (.starting, .stopping), (.starting, .stopped), (.starting, .failed): true
        case (.started, .playable): kind == .hls
        case (.started, .stopping), (.started, .stopped), (.started, .failed): true
        case (.playable, .stopping), (.playable, .stopped), (.playable, .failed): true
        case (.stopping, .stopped), (.stopping, .failed): true
        default: false
        }
    }

    /// The status participants see in `<kind>-state-changed`: `RECORDING_STARTED`, `HLS_PLAYABLE`, ...
    /// A failed job is reported as stopped (with the worker's error beside it), so a client that knows
    /// only the documented states leaves its "live" display.
    public func wireName(_ kind: JobKind) -> String {
        let prefix =
            switch kind {
            case .recording: "RECORDING"
            case .hls: "HLS"
            case .livestream: "LIVESTREAM"
            case .transcription: "TRANSCRIPTION"
            }
        return "\(prefix)_\((self == .failed ? JobStatus.stopped : self).rawValue.uppercased())"
    }
}

/// What a worker must do for a job now (the `action` a claim hands out).
public enum JobAction: String, Sendable {
    case start, stop
}
