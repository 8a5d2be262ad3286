import Crypto
public import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import Synchronization

/// A message from another node, as it sent it.
public struct NodeMessage: Sendable {
    /// The sending node's id, and its run (random at each start: a node restarted under the
    /// same id is another incarnation, whose connection ids start again).
    public var from: String
    public var incarnation: String
    public var text: String
    /// When the sender handed it on (its clock): the relay's lag is the receiver's now minus this.
    public var sentAt: Date

    public init(from: String, incarnation: String, text: String, sentAt: Date) {
        self.from = from
        self.incarnation = incarnation
        self.text = text
        self.sentAt = sentAt
    }
}

/// What the link hands on: messages, and word that some may have been lost.
public enum NodeEvent: Sendable {
    case message(NodeMessage)
    /// Messages from `from` (a gap in its sequence), or from any node (nil: this node's
    /// listening connection was down), may have been lost: whatever depends on them must be
    /// let go (the cluster closes the relays concerned, and their participants join again).
    case lost(from: String?)
}

/// Messages between the nodes that share one database (issue 14), in order per sender and
/// receiver, each delivered at most once, authenticated with a key only the nodes hold.
/// A message lost on the way is reported (`NodeEvent.lost`), never silently skipped.
public protocol NodeLink: Sendable {
    /// What comes, to one consumer.
    var inbox: AsyncStream<NodeEvent> { get }
    /// This run's incarnation.
    var incarnation: String { get }
    /// Queues `text` for `node`; returns at once. False when the queue is full (the database
    /// is unreachable and `maxQueued` messages wait already).
    @discardableResult func send(_ text: String, to node: String) -> Bool
    /// Listens and sends until cancelled, reconnecting with growing pauses.
    func run() async
}

/// The link over PostgreSQL's LISTEN/NOTIFY. Each node LISTENs on a channel of its own
/// (`admit_node_` and a digest of its id: channel names are identifiers of at most 63 bytes)
/// and sends on one connection of its own, so its notifications to a node commit, and arrive,
/// in the order it sent them. Messages to one node are packed into notifications of up to
/// `maxPayload` bytes (NOTIFY's limit is 8,000 bytes of payload); a message too large for one,
/// or not a single line, goes into `relay_messages` and its line names the row, which the
/// receiver reads and deletes in order.
///
/// A notification: a header line `v2 <sender> <incarnation> <sequence> <sent-at-ms> <mac>`, then
/// one message per line (`@<row id>` for a stored one; messages are JSON objects, so a line of
/// the sender's own starting with `@` is written `@@`, defensively). Sequence numbers count per
/// receiver from 1 in each incarnation: a repeat (a send retried after a lost answer) is dropped,
/// a gap is reported as lost. The MAC is HMAC-SHA256, under a key derived from the master key
/// (which the database does not hold), of the receiver, the header's other fields and the
/// lines: LISTEN and NOTIFY need no more than a database login, so without it any role that may
/// connect could speak for a node.
final class PostgresNodeLink: NodeLink {
    let inbox: AsyncStream<NodeEvent>
    let incarnation = String(UInt64.random(in: 0...UInt64.max), radix: 36)
    private let sink: AsyncStream<NodeEvent>.Continuation
    private let node: String
    private let key: SymmetricKey
    private let outgoing = Mutex<[(node: String, text: String)]>([])
    /// The last sequence number seen from each sender's incarnation.
    private let seen = Mutex<[String: UInt64]>([:])
    private let wake: AsyncStream<Void>.Continuation
    private let wakes: AsyncStream<Void>
    private let configuration: PostgresConnection.Configuration
    private let logger: Logger

    /// Payload bytes per notification: PostgreSQL takes fewer than 8,000; the header (about 150
    /// bytes with the MAC) and the lines together stay under this.
    static let maxPayload = 7_900
    /// Bytes kept for the header when packing.
    static let headerRoom = 200
    /// Messages waiting to be sent at most (while the database is unreachable).
    static let maxQueued = 100_000
    /// Stored messages older than this are deleted (their receiver never came for them).
    static let storedLifetime: TimeInterval = 60

    init(node: String, key: SymmetricKey, configuration: PostgresConnection.Configuration, logger: Logger) {
        self.node = node
        self.key = key
        self.configuration = configuration
        self.logger = logger
        (inbox, sink) = AsyncStream.makeStream(bufferingPolicy: .unbounded)
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// The channel a node listens on.
    static func channel(of node: String) -> String {
        "admit_node_" + SHA256.hash(data: Data(node.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    @discardableResult
    func send(_ text: String, to node: String) -> Bool {
        let queued = outgoing.withLock { queue -> Bool in
            guard queue.count < Self.maxQueued else { return false }
            queue.append((node, text))
            return true
        }
        if queued { wake.yield() } else { logger.warning("the node link's queue is full: a message was dropped", metadata: ["to": "\(node)"]) }
        return queued
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

    /// The MAC of a notification for `receiver`: over the receiver, the header's fields and the lines.
    private func mac(_ receiver: String, _ fields: String, _ lines: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Data("\(receiver)\n\(fields)\n\(lines)".utf8), using: key)
        return Data(code).base64EncodedString()
    }

    // MARK: Sending

    private func sendLoop() async {
        var connection: PostgresConnection?
        var lastCleanup = Date.distantPast
        var pause: Duration = .milliseconds(100)
        var sequences: [String: UInt64] = [:]
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
                for payload in packed(byNode[receiver] ?? [], sequence: &sequences[receiver, default: 0]) {
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
                // The store's clock, as for the rows' times: nodes whose clocks disagree keep each other's rows.
                let lifetime = Int64(Self.storedLifetime * 1000)
                _ = try? await open.query(
                    "DELETE FROM relay_messages WHERE created_at < CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT) - \(lifetime)",
                    logger: logger)
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
            if line.utf8.count + Self.headerRoom > Self.maxPayload || line.contains("\n") || line.contains("\0") {
                let id = String(UInt64.random(in: 0...UInt64.max), radix: 36) + String(UInt64.random(in: 0...UInt64.max), radix: 36)
                current.stored.append((id, text))
                line = "@" + id
            }
            if current.bytes + line.utf8.count + 1 + Self.headerRoom > Self.maxPayload, !current.lines.isEmpty {
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
                """
                INSERT INTO relay_messages (id, body, created_at)
                VALUES (\(id), \(body), CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)) ON CONFLICT (id) DO NOTHING
                """,
                logger: logger)
        }
        let fields = "\(node) \(incarnation) \(payload.sequence) \(millis)"
        let lines = payload.lines.joined(separator: "\n")
        let text = "v2 \(fields) \(mac(receiver, fields, lines))\n" + lines
        try await connection.query("SELECT pg_notify(\(Self.channel(of: receiver)), \(text))", logger: logger)
    }

    // MARK: Receiving

    /// LISTENs on this node's channel (`PostgresListener`). After a reconnect, whatever was
    /// sent meanwhile is lost: `.lost(from: nil)`.
    private func listen() async {
        var connected = false
        let sink = self.sink
        await PostgresListener.run(
            on: Self.channel(of: node), configuration: configuration, logger: logger, name: "the node link",
            pauses: (.milliseconds(100), .seconds(2)),
            listening: {
                if connected { sink.yield(.lost(from: nil)) }
                connected = true
            }
        ) { payload, connection in await self.receive(payload, on: connection) }
    }

    private func receive(_ payload: String, on connection: PostgresConnection) async {
        guard let newline = payload.firstIndex(of: "\n") else { return }
        let header = payload[..<newline].split(separator: " ")
        let body = String(payload[payload.index(after: newline)...])
        guard header.count == 6, header[0] == "v2", let sequence = UInt64(header[3]), let millis = Int64(header[4]) else {
            logger.warning("a node message in an unknown format was dropped")
            return
        }
        let fields = header[1...4].joined(separator: " ")
        // Compared in constant time: the MAC is a credential of the nodes.
        guard let given = Data(base64Encoded: String(header[5])),
            HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Data("\(node)\n\(fields)\n\(body)".utf8), using: key)
        else {
            logger.warning("a node message with a wrong MAC was dropped (another master key, or not a node)")
            return
        }
        let sender = String(header[1])
        let incarnation = String(header[2])
        let key = sender + " " + incarnation
        let (fresh, gap) = seen.withLock { seen -> (Bool, Bool) in
            let last = seen[key] ?? 0
            guard sequence > last else { return (false, false) }
            seen[key] = sequence
            // Bounded: incarnations come and go; one forgotten is reported as a gap at its next message.
            if seen.count > 1024 { seen = [key: sequence] }
            return (true, sequence != last + 1)
        }
        guard fresh else { return }
        if gap { sink.yield(.lost(from: sender)) }
        let sentAt = Date(timeIntervalSince1970: Double(millis) / 1000)
        for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
            var text = String(line)
            if text.hasPrefix("@@") {
                text.removeFirst()
            } else if text.hasPrefix("@") {
                let id = String(text.dropFirst())
                do {
                    let rows = try await connection.query("DELETE FROM relay_messages WHERE id = \(id) RETURNING body", logger: logger)
                    var stored: String?
                    for try await row in rows { stored = try row.decode(String.self) }
                    guard let stored else {
                        sink.yield(.lost(from: sender))
                        continue
                    }
                    text = stored
                } catch {
                    logger.warning("could not read a stored node message", metadata: ["from": "\(sender)", "error": "\(error)"])
                    sink.yield(.lost(from: sender))
                    continue
                }
            }
            sink.yield(.message(NodeMessage(from: sender, incarnation: incarnation, text: text, sentAt: sentAt)))
        }
    }
}
