public import Foundation
public import Hummingbird
import NIOCore

/// The request context: Hummingbird's core storage plus the client's address (for rate
/// limits) and the body limit.
public struct AppContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address, when known.
    public let remoteAddress: String?
    /// The connection's identity (a refused upgrade's answer is found by it).
    let channel: ObjectIdentifier
    public var maxUploadSize: Int { Self.bodyLimit }

    /// Set once at start from `AppConfiguration.maxBodySize`.
    nonisolated(unsafe) static var bodyLimit = 64 * 1024

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress?.ipAddress
        self.channel = ObjectIdentifier(source.channel)
    }

    public var responseEncoder: JSONEncoder { Self.encoder }

    /// One encoder for every response: ISO 8601 times with milliseconds, sorted keys.
    static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))
        }
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return encoder
    }()
}
