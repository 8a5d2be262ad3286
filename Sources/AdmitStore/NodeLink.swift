import Crypto
public import Foundation
public import Logging
import NIOCore
import NIOPosix
import PostgresKit
import Synchronization

/// A message from another node, as it sent it.
public struct NodeMessage: Sendable {
    /// The sending node's id.
    public var from: String
    public var text: String
    /// When the sender handed it on (its clock): the relay's lag is the receiver's now minus this.
    public var sentAt: Date

    public init(from: String, text: String, sentAt: Date) {
        self.from = from
        self.text = text
        self.sentAt = sentAt
    }
}

/// Messages between the nodes that share one database (issue 14), in order per sender and
/// receiver, each delivered at most once. A message sent while the receiver is not listening
/// is lost: the protocol above it has timeouts and liveness checks.
public protocol NodeLink: Sendable {
    /// Messages for this node, as they come, to one consumer.
    var inbox: AsyncStream<NodeMessage> { get }
    /// Queues `text` (one line: no newline) for `node`; returns at once.
    func send(_ text: String, to node: String)
    /// Listens and sends until cancelled, reconnecting with growing pauses.
    func run() async
}

/// The link over PostgreSQL's LISTEN/NOTIFY. Each node LISTENs on a channel of its own
/// (`admit_node_` and a digest of its id: channel names are identifiers of at most 63 bytes)
/// and sends on one connection of its own, so its notifications to a node commit, and arrive,
/// in the order it sent them. Messages to one node are packed into notifications of up to
/// `maxPayload` bytes (NOTIFY's limit is 8,000); a message too large for one goes into
/// `relay_messages` and its notification names the row, which the receiver reads and deletes.
///
/// A notification: a header line `v1 <sender> <incarnation> <sequence> <sent-at-ms>`, then one
/// message per line (`@<row id>` for a stored one; a message's own first character `@` is
/// written `@@`). The receiver drops a sequence number it saw already from the same sender's
/// incarnation: a send tried again after a lost answer is not delivered twice.
final class PostgresNodeLink: NodeLink {
    let inbox: AsyncStream<NodeMessage>
    private let sink: AsyncStream<NodeMessage>.Continuation
    private let node: String
    /// Changes each start: sequence numbers count from 1 again.
    private let incarnation = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    private let outgoing = Mutex<[(node: String, text: String)]>([])
    /// The last sequence number seen from each sender's incarnation.
    private let seen = Mutex<[String: UInt64]>([:])
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger

    /// Bytes per notification (PostgreSQL allows 8,000, less the channel's share of nothing).
    static let maxPayload = 7_900
    /// Stored messages older than this are deleted (their receiver never came for them).
    static let storedLifetime: TimeInterval = 60

    init(node: String, configuration: PostgresConnection.Configuration, logger: Logger) {
        self.node = node
        self.configuration = configuration
        self.logger = logger
        (inbox, sink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The channel a node listens on.
    static func channel(of node: String) -> String {
        "admit_node_" + SHA256.hash(data: Data(node.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    func send(_ text: String, to node: String) {
        outgoing.withLock { $0.append((node, text)) }
        wake.yield()
    }

    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.listen() }
            group.addTask { await self.sendLoop() }
            await group.next()
            group.cancelAll()
        }
        wake.finish()
        sink.finish()
    }

    // MARK: Sending

    private func sendLoop() async {
        var connection: PostgresConnection?
        var lastCleanup = Date.distantPast
        var pause: Duration = .milliseconds(100)
        var sequence: UInt64 = 0
        for await _ in wakes {
            let taken = outgoing.withLock { queue -> [(node: String, text: String)] in
                defer { queue.removeAll(keepingCapacity: true) }
                return queue
            }
            guard !taken.isEmpty else { continue }
            // Per receiver, in order: messages to different nodes need no order between them.
            var order: [String] = []
            var byNode: [String: [String]] = [:]
            for (node, text) in taken {
                if byNode[node] == nil { order.append(node) }
                byNode[node, default: []].append(text)
            }
            for receiver in order {
                for payload in packed(byNode[receiver] ?? [], sequence: &sequence) {
                    // Tried until it goes (or the node stops): the sequence number makes a retry harmless.
                    while !Task.isCancelled {
                        do {
                            if connection == nil {
                                connection = try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger)
                                pause = .milliseconds(100)
                            }
                            guard let open = connection else { continue }
                            try await deliver(payload, to: receiver, on: open)
                            break
                        } catch {
                            logger.warning("could not send to another node; retrying", metadata: ["node": "\(receiver)", "error": "\(error)"])
                            try? await connection?.close()
                            connection = nil
                            try? await Task.sleep(for: pause)
                            pause = min(pause * 2, .seconds(2))
                        }
                    }
                }
            }
            if let open = connection, Date().timeIntervalSince(lastCleanup) > 10 {
                lastCleanup = Date()
                let cutoff = Int64((Date().timeIntervalSince1970 - Self.storedLifetime) * 1000)
                _ = try? await open.query("DELETE FROM relay_messages WHERE created_at < \(cutoff)", logger: logger)
            }
        }
        try? await connection?.close()
    }

    /// A payload: its messages, some of them too large and stored (their row ids), and its
    /// sequence number (given once: a retry sends the same one).
    private struct Payload {
        var sequence: UInt64 = 0
        var lines: [String] = []
        var stored: [(id: String, body: String)] = []
        var bytes = 0
    }

    /// Packs messages into payloads of at most `maxPayload` bytes, in order.
    private func packed(_ texts: [String], sequence: inout UInt64) -> [Payload] {
        var payloads: [Payload] = []
        var current = Payload()
        for text in texts {
            var line = text.hasPrefix("@") ? "@" + text : text
            if line.utf8.count + 100 > Self.maxPayload || line.contains("\n") || line.contains("\0") {
                let id = String(UInt64.random(in: 0...UInt64.max), radix: 36) + String(UInt64.random(in: 0...UInt64.max), radix: 36)
                current.stored.append((id, text))
                line = "@" + id
            }
            if current.bytes + line.utf8.count + 1 > Self.maxPayload - 100, !current.lines.isEmpty {
                payloads.append(current)
                current = Payload()
            }
            current.lines.append(line)
            current.bytes += line.utf8.count + 1
        }
        if !current.lines.isEmpty { payloads.append(current) }
        for index in payloads.indices {
            sequence += 1
            payloads[index].sequence = sequence
        }
        return payloads
    }

    private func deliver(_ payload: Payload, to receiver: String, on connection: PostgresConnection) async throws {
        let millis = Int64(Date().timeIntervalSince1970 * 1000)
        for (id, body) in payload.stored {
            try await connection.query(
                "INSERT INTO relay_messages (id, body, created_at) VALUES (\(id), \(body), \(millis)) ON CONFLICT (id) DO NOTHING",
                logger: logger)
        }
        let text = "v1 \(node) \(incarnation) \(payload.sequence) \(millis)\n" + payload.lines.joined(separator: "\n")
        try await connection.query("SELECT pg_notify(\(Self.channel(of: receiver)), \(text))", logger: logger)
    }

    // MARK: Receiving

    /// LISTENs on this node's channel, reconnecting with growing pauses; a `SELECT 1` every
    /// 30 s notices a connection that died without a word.
    private func listen() async {
        var pause: Duration = .milliseconds(100)
        while !Task.isCancelled {
            do {
                let connection = try await PostgresConnection.connect(configuration: configuration, id: 2, logger: logger)
                do {
                    try await connection.listen(on: Self.channel(of: node)) { notifications in
                        pause = .milliseconds(100)
                        try await withThrowingTaskGroup(of: Void.self) { group in
                            group.addTask {
                                for try await notification in notifications {
                                    await self.receive(notification.payload, on: connection)
                                }
                            }
                            group.addTask {
                                while true {
                                    try await Task.sleep(for: .seconds(30))
                                    _ = try await connection.query("SELECT 1", logger: self.logger)
                                }
                            }
                            _ = try await group.next()
                            group.cancelAll()
                        }
                    }
                } catch {
                    try? await connection.close()
                    throw error
                }
                try? await connection.close()
            } catch {
                if !Task.isCancelled { logger.warning("the node link lost PostgreSQL; retrying", metadata: ["error": "\(error)"]) }
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(2))
        }
    }

    private func receive(_ payload: String, on connection: PostgresConnection) async {
        var lines = payload.split(separator: "\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { return }
        let header = lines.removeFirst().split(separator: " ")
        guard header.count == 5, header[0] == "v1", let sequence = UInt64(header[3]), let millis = Int64(header[4]) else {
            logger.warning("a node message in an unknown format was dropped")
            return
        }
        let sender = String(header[1])
        let key = sender + " " + header[2]
        let fresh = seen.withLock { seen in
            guard sequence > seen[key] ?? 0 else { return false }
            seen[key] = sequence
            // Bounded: senders' incarnations come and go; forgetting them all at worst lets a retried payload through.
            if seen.count > 1024 { seen = [key: sequence] }
            return true
        }
        guard fresh else { return }
        let sentAt = Date(timeIntervalSince1970: Double(millis) / 1000)
        for line in lines {
            var text = String(line)
            if text.hasPrefix("@@") {
                text.removeFirst()
            } else if text.hasPrefix("@") {
                let id = String(text.dropFirst())
                do {
                    let rows = try await connection.query("DELETE FROM relay_messages WHERE id = \(id) RETURNING body", logger: logger)
                    var body: String?
                    for try await row in rows { body = try row.decode(String.self) }
                    guard let body else {
                        logger.warning("a stored node message was missing", metadata: ["from": "\(sender)"])
                        continue
                    }
                    text = body
                } catch {
                    logger.warning("could not read a stored node message", metadata: ["from": "\(sender)", "error": "\(error)"])
                    continue
                }
            }
            sink.yield(NodeMessage(from: sender, text: text, sentAt: sentAt))
        }
    }
}
