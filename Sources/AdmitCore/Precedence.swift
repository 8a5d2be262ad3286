public import AdmitToken

/// The layer a setting's value came from.
public enum SettingSource: String, Sendable, Equatable {
    /// The API key's settings (the dashboard's API Settings).
    case dashboard
    /// The SDK: a join parameter, or a start requested over `/rtc`.
    case sdk
    /// A start requested over the REST server API.
    case api
    /// Admit's built-in default.
    case `default`
}

/// A value and the layer it came from.
public struct Resolved: Sendable, Equatable {
    /// The value that applies.
    public var value: JSONValue
    /// The layer it came from.
    public var source: SettingSource

    public init(_ value: JSONValue, _ source: SettingSource) {
        self.value = value
        self.source = source
    }
}

/// An effective configuration: every value with its source, keys flattened with dots,
/// in a stable order (CONTRACT.md section 3, effective-config).
public struct EffectiveConfig: Sendable, Equatable {
    /// One setting: its dotted key and what applies.
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var resolved: Resolved
    }

    /// The settings in their stable order.
    public private(set) var entries: [Entry] = []

    /// No settings (a transcription job's configuration).
    public init() {}

    /// What applies for a dotted key, or nil when the configuration has no such setting.
    public subscript(key: String) -> Resolved? { entries.first { $0.key == key }?.resolved }

    mutating func append(_ key: String, _ resolved: Resolved) {
        entries.append(Entry(key: key, resolved: resolved))
    }

    /// `{"key": {"value": ..., "source": ...}, ...}`.
    public var json: JSONValue {
        .object(
            entries.map { entry in
                JSONMember(
                    entry.key, .object([JSONMember("value", entry.resolved.value), JSONMember("source", .string(entry.resolved.source.rawValue))]))
            })
    }
}

/// What a start request asked of the composition (`config` of `/v2/recordings/start`, `startHls`, ...).
public struct MediaRequest: Sendable, Equatable {
    /// Given fields by dotted path without a prefix (`quality`, `layout.type`).
    public private(set) var fields: [String: JSONValue] = [:]

    /// A start that asks for nothing: the dashboard and the defaults decide.
    public init() {}

    /// Reads a `config` object; unknown fields and bad values are errors naming `config.<field>`.
    public init(config: JSONValue?) throws(SettingsError) {
        guard let config, config != .null else { return }
        try read(config, prefix: "")
    }

    private mutating func read(_ value: JSONValue, prefix: String) throws(SettingsError) {
        let name = prefix.isEmpty ? "config" : "config.\(prefix)"
        guard case .object(let members) = value else { throw SettingsError(name, "`\(name)` must be an object.") }
        for member in members {
            let path = prefix.isEmpty ? member.key : "\(prefix).\(member.key)"
            if path == "layout" {
                if member.value != .null { try read(member.value, prefix: path) }
            } else if let field = MediaField.fields.first(where: { $0.path == path }) {
                if member.value != .null { fields[path] = try field.validate(member.value, as: "config.\(path)") }
            } else {
                throw SettingsError("config.\(path)", "Unknown field `config.\(path)`.")
            }
        }
    }
}

/// What a media worker job does.
public enum JobKind: String, Sendable, CaseIterable {
    case recording, hls, livestream, transcription

    /// The dashboard section whose fields are this kind's middle layer (livestreams and
    /// transcriptions have none: their only switches are `services.rtmpOut` and `transcription.enabled`).
    public var dashboardSection: String? {
        switch self {
        case .recording: "recording"
        case .hls: "hls"
        case .livestream, .transcription: nil
        }
    }

    /// The dashboard switch that must not be off for a start (4021 when it is).
    public var serviceSwitch: String {
        switch self {
        case .recording: "recording.enabled"
        case .hls: "hls.enabled"
        case .livestream: "services.rtmpOut"
        case .transcription: "transcription.enabled"
        }
    }
}

/// The precedence rules of CONTRACT.md section 5, as pure functions from the layers to an
/// effective configuration where every value says where it came from.
public enum Precedence {
    /// Audio/video: the dashboard beats the SDK's join parameter, which beats the default (`auto`).
    public static func audioVideo(dashboard: APISettings, sdkMaxSendBitrate: String?) -> EffectiveConfig {
        var config = EffectiveConfig()
        config.append("maxSendBitrate", maxSendBitrate(dashboard: dashboard, sdk: sdkMaxSendBitrate))
        return config
    }

    /// Recording, HLS, livestream: field by field, the request (`source` says which way it came)
    /// beats the dashboard, which beats the default. A requested `mode` must be one the
    /// dashboard's `modes` allows; a default `mode` it does not allow gives way to its first.
    public static func media(_ kind: JobKind, dashboard: APISettings, request: MediaRequest, source: SettingSource) throws(SettingsError)
        -> EffectiveConfig
    {
        let section = kind.dashboardSection
        let modes = section.flatMap { dashboard["\($0).modes"] }
        if let mode = request.fields["mode"], case .array(let allowed)? = modes, !allowed.contains(mode) {
            throw SettingsError(
                "config.mode", "`config.mode` \(mode.jsonText) is not among the enabled modes for \(kind.rawValue) (\(modes!.jsonText)).")
        }
        var config = EffectiveConfig()
        for field in MediaField.fields {
            var resolved: Resolved
            if let value = request.fields[field.path] {
                resolved = Resolved(value, source)
            } else if let section, let value = dashboard["\(section).\(field.path)"] {
                resolved = Resolved(value, .dashboard)
            } else {
                resolved = Resolved(field.defaultValue, .default)
            }
            if field.path == "mode", resolved.source == .default, case .array(let allowed)? = modes, !allowed.contains(resolved.value) {
                resolved = Resolved(allowed[0], .dashboard)
            }
            config.append(field.path, resolved)
        }
        if kind == .hls { config.append("recordStream", dashboardOrDefault("hls.recordStream", dashboard)) }
        return config
    }

    /// A room's configuration before any start: every setting with the dashboard or the default,
    /// and the SDK's bitrate when one is given (as a join would resolve it).
    public static func room(dashboard: APISettings, sdkMaxSendBitrate: String? = nil) -> EffectiveConfig {
        var config = EffectiveConfig()
        for field in SettingsSchema.fields {
            if field.path == "maxSendBitrate" {
                config.append(field.path, maxSendBitrate(dashboard: dashboard, sdk: sdkMaxSendBitrate))
            } else {
                config.append(field.path, dashboardOrDefault(field.path, dashboard))
            }
        }
        return config
    }

    private static func maxSendBitrate(dashboard: APISettings, sdk: String?) -> Resolved {
        if let value = dashboard["maxSendBitrate"] { return Resolved(value, .dashboard) }
        if let sdk { return Resolved(.string(sdk), .sdk) }
        return Resolved(.string("auto"), .default)
    }

    private static func dashboardOrDefault(_ path: String, _ dashboard: APISettings) -> Resolved {
        if let value = dashboard[path] { return Resolved(value, .dashboard) }
        return Resolved(SettingsSchema.byPath[path]!.defaultValue, .default)
    }
}
