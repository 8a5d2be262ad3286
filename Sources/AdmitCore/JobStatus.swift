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

/// The status each job's events last told a room, so an event that arrives late (relayed
/// through another node, or queued behind a takeover) never undoes a newer one, and none is
/// told twice: an event passes only when its status is a move `canMove` allows from the last
/// one told (any status, for a job not heard of). Remembers at most `capacity` jobs, forgetting
/// the oldest first.
public struct JobEventOrder: Sendable {
    private var told: [String: JobStatus] = [:]
    private var order: [String] = []
    private var next = 0
    private let capacity: Int

    public init(capacity: Int = 4096) {
        self.capacity = max(1, capacity)
    }

    /// Whether the room is told that job `id` (of `kind`) is now `status`; remembered if so.
    public mutating func admit(job id: String, kind: JobKind, status: JobStatus) -> Bool {
        if let last = told[id] {
            guard last.canMove(to: status, kind: kind) else { return false }
            told[id] = status
            return true
        }
        if order.count < capacity {
            order.append(id)
        } else {
            told.removeValue(forKey: order[next])
            order[next] = id
            next = (next + 1) % capacity
        }
        told[id] = status
        return true
    }
}
