public import AdmitToken

/// One setting of the dashboard's API Settings (CONTRACT.md section 5), named by its dotted
/// path (`recording.layout.gridSize`), with the values it takes and its built-in default.
public struct SettingField: Sendable {
    /// What values a setting takes.
    public enum Kind: Sendable {
        case bool
        case choice([String])
        case integer(ClosedRange<Int>)
        /// A non-empty list of recording modes (`video-and-audio`, `audio`).
        case modes
        /// A list of `https://host[:port]` origins (the domain whitelist).
        case origins
    }

    /// The dotted path, as in PATCH documents and effective configurations (`hls.layout.gridSize`).
    public let path: String
    /// The values it takes.
    public let kind: Kind
    /// The value that applies when no layer sets one.
    public let defaultValue: JSONValue

    init(_ path: String, _ kind: Kind, _ defaultValue: JSONValue) {
        self.path = path
        self.kind = kind
        self.defaultValue = defaultValue
    }
}

/// The recording/HLS/livestream composition fields, shared by the dashboard and API requests.
public enum MediaField {
    /// `maxSendBitrate` values: no limit, 800, 1500 and 3000 kbps.
    public static let bitrates = ["auto", "sd", "hd", "fullhd"]
    /// Recording and streaming modes ("Enabled Modes").
    public static let modeNames = ["video-and-audio", "audio"]

    /// The fields of a `config` object, without a section prefix, in the order they are shown.
    public static let fields: [SettingField] = [
        SettingField("quality", .choice(["low", "med", "high"]), .string("med")),
        SettingField("theme", .choice(["DARK", "LIGHT", "DEFAULT"]), .string("DEFAULT")),
        SettingField("orientation", .choice(["landscape", "portrait"]), .string("landscape")),
        SettingField("mode", .choice(modeNames), .string("video-and-audio")),
        SettingField("layout.type", .choice(["GRID", "SPOTLIGHT", "SIDEBAR"]), .string("GRID")),
        SettingField("layout.priority", .choice(["SPEAKER", "PIN"]), .string("SPEAKER")),
        SettingField("layout.gridSize", .integer(1...25), .number("4")),
    ]
}

/// Every dashboard setting, in the order the effective configuration lists them.
public enum SettingsSchema {
    /// Every setting with its kind and default.
    public static let fields: [SettingField] = {
        func section(_ name: String, extra: [SettingField]) -> [SettingField] {
            [
                SettingField("\(name).enabled", .bool, .bool(true)),
                SettingField("\(name).modes", .modes, .array(MediaField.modeNames.map(JSONValue.string))),
                SettingField("\(name).autoStart", .bool, .bool(false)),
            ] + extra + MediaField.fields.map { SettingField("\(name).\($0.path)", $0.kind, $0.defaultValue) }
        }
        return [SettingField("maxSendBitrate", .choice(MediaField.bitrates), .string("auto"))]
            + section("recording", extra: [])
            + section("hls", extra: [SettingField("hls.recordStream", .bool, .bool(false))])
            + [
                SettingField("services.rtmpOut", .bool, .bool(true)),
                SettingField("services.sip", .bool, .bool(true)),
                SettingField("services.realtimeTranslation", .bool, .bool(true)),
                SettingField("transcription.enabled", .bool, .bool(true)),
                SettingField("transcription.whitelistDomains", .origins, .array([])),
            ]
    }()

    static let byPath: [String: SettingField] = Dictionary(uniqueKeysWithValues: fields.map { ($0.path, $0) })
    /// Paths that name objects (`recording`, `recording.layout`, ...), for walking nested JSON.
    static let sections: Set<String> = Set(
        fields.flatMap { field in
            let parts = field.path.split(separator: ".")
            return (1..<parts.count).map { parts[..<$0].joined(separator: ".") }
        })
}

/// A value given for a setting (or a config field) that is not one it takes. `field` is the dotted path.
public struct SettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The dotted path of the field at fault (`recording.layout.gridSize`, `config.quality`).
    public let field: String
    /// The sentence to answer, naming the field.
    public let message: String
    public var description: String { message }

    init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
}

/// The API settings of one key: only the fields the operator set. Unset means "not
/// configured", so the next layer down applies (CONTRACT.md section 5).
public struct APISettings: Sendable, Equatable {
    /// Set fields by dotted path; values already validated.
    public private(set) var values: [String: JSONValue] = [:]

    /// Nothing set: every value comes from the next layer down.
    public init() {}

    /// The settings a whole document describes (PUT): absent and `null` fields are unset.
    public init(validating document: JSONValue) throws(SettingsError) {
        try apply(patch: document)
    }

    /// Merges a partial document (PATCH): given fields replace, `null` unsets a field or a whole section.
    public mutating func apply(patch document: JSONValue) throws(SettingsError) {
        guard case .object = document else { throw SettingsError("", "Settings are a JSON object.") }
        var next = self
        try next.merge(document, prefix: "")
        try next.checkModes()
        self = next
    }

    /// Settings read back from the store: fields this version does not know (written by a newer
    /// server during a rolling upgrade) or cannot read are skipped instead of failing the whole
    /// key ring. Writes always go through `init(validating:)` or `apply(patch:)`.
    public init(stored document: JSONValue) {
        func walk(_ value: JSONValue, prefix: String) {
            guard case .object(let members) = value else { return }
            for member in members {
                let path = prefix.isEmpty ? member.key : "\(prefix).\(member.key)"
                if SettingsSchema.sections.contains(path) {
                    walk(member.value, prefix: path)
                } else if let field = SettingsSchema.byPath[path], member.value != .null,
                    let value = try? field.validate(member.value, as: path)
                {
                    values[path] = value
                }
            }
        }
        walk(document, prefix: "")
    }

    /// The value set for a dotted path, or nil when it is not set.
    public subscript(path: String) -> JSONValue? { values[path] }

    /// The domain whitelist; empty allows any origin.
    public var whitelist: [String] {
        guard case .array(let items)? = values["transcription.whitelistDomains"] else { return [] }
        return items.compactMap(\.stringValue)
    }

    /// Whether a service is on: the dashboard's switch, unset meaning enabled.
    public func isEnabled(_ switchPath: String) -> Bool {
        if case .bool(let flag)? = values[switchPath] { return flag }
        return true
    }

    /// The settings as nested JSON, fields in schema order.
    public var json: JSONValue {
        var root = JSONValue.object([])
        for field in SettingsSchema.fields {
            guard let value = values[field.path] else { continue }
            root.insert(value, at: field.path.split(separator: ".").map(String.init)[...])
        }
        return root
    }

    private mutating func merge(_ document: JSONValue, prefix: String) throws(SettingsError) {
        guard case .object(let members) = document else { return }
        for member in members {
            let path = prefix.isEmpty ? member.key : "\(prefix).\(member.key)"
            if SettingsSchema.sections.contains(path) {
                switch member.value {
                case .null: values = values.filter { !$0.key.hasPrefix(path + ".") }
                case .object: try merge(member.value, prefix: path)
                default: throw SettingsError(path, "`\(path)` must be an object (or null to unset it).")
                }
            } else if let field = SettingsSchema.byPath[path] {
                if member.value == .null {
                    values[path] = nil
                } else {
                    values[path] = try field.validate(member.value, as: path)
                }
            } else {
                throw SettingsError(path, "Unknown setting `\(path)`.")
            }
        }
    }

    /// Every problem of a whole document (PUT), each naming its field, in document order; empty
    /// when `init(validating:)` would accept it. The dashboard shows each beside its field.
    public static func problems(in document: JSONValue) -> [SettingsError] {
        guard case .object = document else { return [SettingsError("", "Settings are a JSON object.")] }
        var problems: [SettingsError] = []
        var valid = APISettings()
        func walk(_ value: JSONValue, prefix: String) {
            guard case .object(let members) = value else { return }
            for member in members where problems.count < 100 {
                let path = prefix.isEmpty ? member.key : "\(prefix).\(member.key)"
                if SettingsSchema.sections.contains(path) {
                    switch member.value {
                    case .null: continue
                    case .object: walk(member.value, prefix: path)
                    default: problems.append(SettingsError(path, "`\(path)` must be an object (or null to unset it)."))
                    }
                } else if let field = SettingsSchema.byPath[path] {
                    guard member.value != .null else { continue }
                    do throws(SettingsError) {
                        valid.values[path] = try field.validate(member.value, as: path)
                    } catch {
                        problems.append(error)
                    }
                } else {
                    problems.append(SettingsError(path, "Unknown setting `\(path)`."))
                }
            }
        }
        walk(document, prefix: "")
        do throws(SettingsError) {
            try valid.checkModes()
        } catch {
            problems.append(error)
        }
        return problems
    }

    /// A mode the dashboard fixes must be one its own `modes` allows.
    private func checkModes() throws(SettingsError) {
        for section in ["recording", "hls"] {
            guard let mode = values["\(section).mode"], case .array(let modes)? = values["\(section).modes"] else { continue }
            guard modes.contains(mode) else {
                throw SettingsError("\(section).mode", "`\(section).mode` must be one of `\(section).modes`.")
            }
        }
    }
}

extension SettingField {
    /// The value, checked and normalised (whitelist origins to `scheme://host[:port]`), or an error naming `path`.
    func validate(_ value: JSONValue, as path: String) throws(SettingsError) -> JSONValue {
        switch kind {
        case .bool:
            guard case .bool = value else { throw SettingsError(path, "`\(path)` must be true or false.") }
            return value
        case .choice(let names):
            guard let text = value.stringValue, names.contains(text) else {
                throw SettingsError(path, "`\(path)` must be one of \(names.joined(separator: ", ")).")
            }
            return value
        case .integer(let range):
            guard let number = value.doubleValue, number == number.rounded(), range.contains(Int(exactly: number) ?? .min) else {
                throw SettingsError(path, "`\(path)` must be a whole number from \(range.lowerBound) to \(range.upperBound).")
            }
            return .number(String(Int(number)))
        case .modes:
            guard case .array(let items) = value, !items.isEmpty,
                items.allSatisfy({ MediaField.modeNames.contains($0.stringValue ?? "") }), Set(items.compactMap(\.stringValue)).count == items.count
            else {
                throw SettingsError(path, "`\(path)` must list one or both of video-and-audio, audio, each once.")
            }
            return value
        case .origins:
            guard case .array(let items) = value, items.count <= 100 else {
                throw SettingsError(path, "`\(path)` must be a list of at most 100 origins like https://app.example.com.")
            }
            var seen: [JSONValue] = []
            for item in items {
                guard let text = item.stringValue, text.utf8.count <= 300, let origin = Whitelist.Origin(text) else {
                    throw SettingsError(path, "`\(path)`: \(item.jsonText) is not an origin like https://domain.name[:port] (no path, no wildcard).")
                }
                let canonical = JSONValue.string(origin.canonical)
                if !seen.contains(canonical) { seen.append(canonical) }
            }
            return .array(seen)
        }
    }
}

extension JSONValue {
    /// Sets `value` at a path of object keys, creating objects on the way.
    mutating func insert(_ value: JSONValue, at path: ArraySlice<String>) {
        guard let key = path.first else { return self = value }
        guard case .object(var members) = self else { return }
        if let index = members.firstIndex(where: { $0.key == key }) {
            members[index].value.insert(value, at: path.dropFirst())
        } else {
            var child = JSONValue.object([])
            child.insert(value, at: path.dropFirst())
            members.append(JSONMember(key, child))
        }
        self = .object(members)
    }
}
