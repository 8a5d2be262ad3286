public import AdmitToken
public import Foundation

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A client for Admit's server API and meetings, the way an iOS or macOS app (or a test)
/// uses it: async/await, errors in the contract's shape, meetings as an event stream.
public struct AdmitClient: Sendable {
    /// `http://host:port` of the Admit server (or `VIDEOSDK_API_ENDPOINT`).
    public let baseURL: URL
    /// The access token sent in `Authorization`.
    public var token: String

    public init(baseURL: URL, token: String) {
        self.baseURL = baseURL
        self.token = token
    }

    /// A refusal from the server: the HTTP status and the contract's error body.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let status: Int
        public let body: JSONValue
        /// The contract code (4002, 4022, ...), when the error has one.
        public var code: Int? { body["code"]?.integerValue }
        public var reason: String? { body["reason"]?.stringValue }
        public var description: String { "HTTP \(status): \(body.jsonText)" }

        public init(status: Int, body: JSONValue) {
            self.status = status
            self.body = body
        }
    }

    // MARK: Rooms

    /// `POST /v2/rooms`; a known `customRoomId` returns the existing room.
    public func createRoom(customRoomId: String? = nil) async throws -> JSONValue {
        let body: JSONValue = .object(customRoomId.map { [JSONMember("customRoomId", .string($0))] } ?? [])
        return try await call("POST", "/v2/rooms", body: body)
    }

    /// `GET /v2/rooms/:roomId` (room id or custom room id).
    public func room(_ roomId: String) async throws -> JSONValue {
        try await call("GET", "/v2/rooms/\(roomId)")
    }

    /// `GET /v2/rooms/validate/:roomId`.
    public func validateRoom(_ roomId: String) async throws -> JSONValue {
        try await call("GET", "/v2/rooms/validate/\(roomId)")
    }

    // MARK: Sessions

    /// `GET /v2/sessions?roomId=`: the page's `data`.
    public func sessions(roomId: String) async throws -> [JSONValue] {
        guard
            case .array(let items)? = try await call("GET", "/v2/sessions?" + Self.formEncoded([URLQueryItem(name: "roomId", value: roomId)]))["data"]
        else { return [] }
        return items
    }

    /// `POST /v2/sessions/end`: everyone leaves with 1009.
    public func endSession(roomId: String) async throws -> JSONValue {
        try await call("POST", "/v2/sessions/end", body: .object([JSONMember("roomId", .string(roomId))]))
    }

    /// `POST /v2/sessions/participants/remove`: the participant leaves with 1010.
    public func removeParticipant(roomId: String, participantId: String) async throws -> JSONValue {
        try await call(
            "POST", "/v2/sessions/participants/remove",
            body: .object([JSONMember("roomId", .string(roomId)), JSONMember("participantId", .string(participantId))]))
    }

    /// `POST /v2/<kind>/start` (`recordings`, `hls`, `livestreams`) with `fields` besides `roomId`:
    /// the answer VideoSDK documents (`"Recording started successfully"`, HLS's stream URLs).
    /// The job itself is the newest in `jobs(kind, roomId:)`.
    public func startJob(_ kind: String, roomId: String, _ fields: [JSONMember] = []) async throws -> JSONValue {
        try await call("POST", "/v2/\(kind)/start", body: .object([JSONMember("roomId", .string(roomId))] + fields))
    }

    /// `POST /v2/<kind>/end`: `"Recording ended successfully"` and the like; the job, in `jobs`,
    /// is now stopping (or stopped, if no worker had taken it).
    public func endJob(_ kind: String, roomId: String) async throws -> JSONValue {
        try await call("POST", "/v2/\(kind)/end", body: .object([JSONMember("roomId", .string(roomId))]))
    }

    /// `GET /v2/<kind>?roomId=`: the room's jobs of the kind, newest first (the first page's `data`).
    public func jobs(_ kind: String, roomId: String) async throws -> [JSONValue] {
        let page = try await call("GET", "/v2/\(kind)?" + Self.formEncoded([URLQueryItem(name: "roomId", value: roomId)]))
        guard case .array(let items)? = page["data"] else { return [] }
        return items
    }

    // MARK: Meetings

    /// What a join asks for.
    public struct JoinOptions: Sendable {
        public var participantId: String?
        public var name: String?
        public var maxSendBitrate: String?
        public var micEnabled: Bool?
        public var webcamEnabled: Bool?
        public init(
            participantId: String? = nil, name: String? = nil, maxSendBitrate: String? = nil, micEnabled: Bool? = nil, webcamEnabled: Bool? = nil
        ) {
            self.participantId = participantId
            self.name = name
            self.maxSendBitrate = maxSendBitrate
            self.micEnabled = micEnabled
            self.webcamEnabled = webcamEnabled
        }
    }

    /// `GET /rtc/validate`: the admission verdict (`{participantId, admission}`) without joining.
    public func validateJoin(roomId: String, _ options: JoinOptions = .init()) async throws -> JSONValue {
        try await call("GET", "/rtc/validate?" + query(roomId: roomId, options))
    }

    /// Joins `roomId`: checks the verdict with `/rtc/validate` first (so a refusal comes back as a
    /// `Failure` with the contract's body), then opens the WebSocket.
    public func join(roomId: String, _ options: JoinOptions = .init()) async throws -> MeetingConnection {
        _ = try await validateJoin(roomId: roomId, options)
        var components = URLComponents(url: baseURL, resolvingAgainstBaseURL: false)!
        components.scheme = components.scheme == "https" ? "wss" : "ws"
        let url = components.url!.absoluteString + "/rtc?" + query(roomId: roomId, options)
        return MeetingConnection.open(url: url, token: token)
    }

    private func query(roomId: String, _ options: JoinOptions) -> String {
        var items = [URLQueryItem(name: "roomId", value: roomId)]
        if let value = options.participantId { items.append(.init(name: "participantId", value: value)) }
        if let value = options.name { items.append(.init(name: "name", value: value)) }
        if let value = options.maxSendBitrate { items.append(.init(name: "maxSendBitrate", value: value)) }
        if let value = options.micEnabled { items.append(.init(name: "micEnabled", value: String(value))) }
        if let value = options.webcamEnabled { items.append(.init(name: "webcamEnabled", value: String(value))) }
        return Self.formEncoded(items)
    }

    /// A query as the server reads it (form-encoded): `URLComponents` leaves `+` as it is,
    /// which a form reader takes for a space, so a literal plus is written `%2B`.
    static func formEncoded(_ items: [URLQueryItem]) -> String {
        var components = URLComponents()
        components.queryItems = items
        return (components.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
    }

    // MARK: Transport

    /// Sends a request with the token and returns the JSON answer, or throws `Failure`.
    public func call(_ method: String, _ path: String, body: JSONValue? = nil) async throws -> JSONValue {
        var request = URLRequest(url: URL(string: baseURL.absoluteString + path)!)
        request.httpMethod = method
        request.setValue(token, forHTTPHeaderField: "Authorization")
        if let body {
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
            request.httpBody = Data(body.jsonText.utf8)
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let json = (try? JSONValue(parsing: String(decoding: data, as: UTF8.self))) ?? .null
        guard (200..<300).contains(status) else { throw Failure(status: status, body: json) }
        return json
    }
}
