import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A WebSocket client over a plain socket, for what a library client hides: whether it answers
/// pings, the close code the server sends, frames sent as fast as the socket takes them.
final class RawWebSocket: @unchecked Sendable {
    struct Frame: Equatable {
        var opcode: UInt8
        var payload: [UInt8]
        var text: String { String(decoding: payload, as: UTF8.self) }
        /// The close code of a close frame.
        var closeCode: Int? { opcode == 8 && payload.count >= 2 ? Int(payload[0]) << 8 | Int(payload[1]) : nil }
    }

    let connection: RawHTTP.Connection
    private var buffer: [UInt8] = []
    /// The upgrade response's status line.
    private(set) var statusLine = ""

    /// Opens `path` and reads the upgrade's answer, off the cooperative pool: the server's
    /// admission runs on that pool, and a test thread blocked in a read there can starve it
    /// (two such reads on a 2-core machine held every upgrade until their timeouts).
    static func open(port: Int, path: String, timeoutSeconds: Int = 2) async throws -> RawWebSocket {
        try await blocking { try RawWebSocket(port: port, path: path, timeoutSeconds: timeoutSeconds) }
    }

    /// Opens `path` (with its query) and reads the upgrade's answer. Blocking: from async code use `open`.
    init(port: Int, path: String, timeoutSeconds: Int = 2) throws {
        connection = try RawHTTP.Connection(port: port)
        var value = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        let request =
            "GET \(path) HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        try write(Array(request.utf8))
        while true {
            if let end = buffer.firstRange(of: Array("\r\n\r\n".utf8)) {
                statusLine = String(decoding: buffer[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")[0]
                buffer.removeSubrange(..<end.upperBound)
                return
            }
            guard try fill() else { throw RawHTTP.Failure(description: "closed during the upgrade") }
        }
    }

    var upgraded: Bool { statusLine.hasPrefix("HTTP/1.1 101") }

    func write(_ bytes: [UInt8]) throws {
        guard send(connection.fd, bytes, bytes.count, Int32(MSG_NOSIGNAL)) == bytes.count else { throw RawHTTP.Failure(description: "send") }
    }

    /// A masked client frame, as RFC 6455 requires of clients.
    static func frame(opcode: UInt8, _ payload: [UInt8]) -> [UInt8] {
        var bytes: [UInt8] = [0x80 | opcode]
        if payload.count < 126 {
            bytes.append(0x80 | UInt8(payload.count))
        } else {
            bytes += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        }
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        bytes += mask
        bytes += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        return bytes
    }

    func sendText(_ text: String) throws { try write(Self.frame(opcode: 1, Array(text.utf8))) }

    /// The next frame; nil when the server closed the stream or nothing came within the socket's timeout.
    func read() throws -> Frame? {
        while true {
            if buffer.count >= 2 {
                let opcode = buffer[0] & 0x0F
                var length = Int(buffer[1] & 0x7F)
                var offset = 2
                if length == 126 {
                    guard buffer.count >= 4 else { if try !fill() { return nil }; continue }
                    length = Int(buffer[2]) << 8 | Int(buffer[3])
                    offset = 4
                } else if length == 127 {
                    guard buffer.count >= 10 else { if try !fill() { return nil }; continue }
                    length = buffer[2..<10].reduce(0) { $0 << 8 | Int($1) }
                    offset = 10
                }
                if buffer.count >= offset + length {
                    let frame = Frame(opcode: opcode, payload: Array(buffer[offset..<offset + length]))
                    buffer.removeSubrange(..<(offset + length))
                    return frame
                }
            }
            guard try fill() else { return nil }
        }
    }

    /// Reads frames until `until` holds for one (returned) or the stream ends (nil).
    func read(until: (Frame) -> Bool) throws -> Frame? {
        while let frame = try read() {
            if until(frame) { return frame }
        }
        return nil
    }

    /// More bytes; false on end of stream or timeout.
    private func fill() throws -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(connection.fd, &chunk, chunk.count, 0)
        guard count > 0 else { return false }
        buffer += chunk[..<count]
        return true
    }

    /// Sets how long a read waits.
    func timeout(seconds: Int, microseconds: Int = 0) {
        var value = timeval(tv_sec: seconds, tv_usec: .init(microseconds))
        setsockopt(connection.fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }
}

/// Runs blocking socket work off the cooperative pool.
func blocking<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}
