import Foundation
import Testing

@testable import AdmitToken

/// Differential fuzzing of the claims decoder: random payloads, and random edits of them,
/// are read both by `Payload.decode` (the verifier's fast path) and by the tree parser
/// (`JSONValue`) with the contract's rules applied to the tree. The two must agree on
/// whether the text is a payload at all and, when it is, on every claim.
@Suite("payload fuzzing")
struct PayloadFuzzTests {
    /// A small deterministic generator (xorshift64*), so a failure names a case that reproduces.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return state &* 0x2545_F491_4F6C_DD1D
        }
    }

    static let claimNames = ["apikey", "permissions", "version", "roomId", "participantId", "roles", "exp", "iat", "nbf", "jti"]

    /// What a payload says about each claim, as text: "absent", "invalid" or "value:...".
    struct Reading: Equatable, CustomStringConvertible {
        var claims: [String: String] = [:]
        var unknownPermissions: [String] = []
        var unknownRoles: [String] = []
        var description: String {
            "\(claims.sorted { $0.key < $1.key }) unknown: \(unknownPermissions) \(unknownRoles)"
        }
    }

    static func text<T>(_ field: Field<T>) -> String {
        switch field {
        case .absent: "absent"
        case .invalid: "invalid"
        // -0 and 0 are the same NumericDate.
        case .value(let value): "value:\((value as? Double).map { $0 + 0 } as Any? ?? value)"
        }
    }

    /// The decoder's reading, or nil when it refuses the text.
    static func decoded(_ bytes: [UInt8], deferringAPIKey: Bool) -> Reading? {
        bytes.withUnsafeBytes { raw -> Reading? in
            guard let payload = try? Payload.decoded(raw, deferringAPIKey: deferringAPIKey) else { return nil }
            var reading = Reading()
            var apiKey = text(payload.apiKey)
            if let range = payload.apiKeyBytes {
                apiKey = "value:" + String(decoding: UnsafeRawBufferPointer(rebasing: raw[range]), as: UTF8.self)
            }
            reading.claims = [
                "apikey": apiKey, "permissions": text(payload.permissions), "version": text(payload.version),
                "roomId": text(payload.roomId), "participantId": text(payload.participantId), "roles": text(payload.roles),
                "exp": text(payload.expiresAt), "iat": text(payload.issuedAt), "nbf": text(payload.notBefore),
                "jti": text(payload.jwtID),
            ]
            reading.unknownPermissions = payload.unknownPermissions
            reading.unknownRoles = payload.unknownRoles
            return reading
        }
    }

    /// The contract's rules applied to the tree parser's result, or nil when the text is not a payload.
    static func modelled(_ bytes: [UInt8]) -> Reading? {
        guard let value = bytes.withUnsafeBytes({ try? JSONValue(parsing: $0) }), case .object(let members) = value else { return nil }
        var byName: [String: JSONValue] = [:]
        for member in members where claimNames.contains(member.key) {
            guard byName.updateValue(member.value, forKey: member.key) == nil else { return nil }
        }
        var reading = Reading()
        func string(_ value: JSONValue?) -> String {
            switch value {
            case nil, .null?: "absent"
            case .string(let text)?: "value:\(text)"
            default: "invalid"
            }
        }
        func number(_ value: JSONValue?) -> String {
            switch value {
            case nil, .null?: "absent"
            case .number(let text)?: Double(text).map { $0.isFinite ? "value:\($0 + 0)" : "invalid" } ?? "invalid"
            default: "invalid"
            }
        }
        func version(_ value: JSONValue?) -> String {
            switch value {
            case nil, .null?: return "absent"
            case .string(let text)?:
                guard let number = Int(text), String(number) == text else { return "invalid" }
                return "value:\(number)"
            case .number(let text)?:
                guard let number = Double(text), number.isFinite, number == number.rounded(), abs(number) < 1e9 else { return "invalid" }
                return "value:\(Int(number))"
            default: return "invalid"
            }
        }
        func names<Set: WireNamedSet>(_ value: JSONValue?, _: Set.Type, unknown: inout [String]) -> String {
            switch value {
            case nil, .null?: return "absent"
            case .array(let items)?:
                var set = Set()
                var allStrings = true
                for item in items {
                    guard case .string(let name) = item else {
                        allStrings = false
                        continue
                    }
                    if let member = Set(name: name) { set.formUnion(member) } else { unknown.append(name) }
                }
                return allStrings ? "value:\(set)" : "invalid"
            default: return "invalid"
            }
        }
        reading.claims = [
            "apikey": string(byName["apikey"]), "roomId": string(byName["roomId"]),
            "participantId": string(byName["participantId"]), "jti": string(byName["jti"]),
            "exp": number(byName["exp"]), "iat": number(byName["iat"]), "nbf": number(byName["nbf"]),
            "version": version(byName["version"]),
            "permissions": names(byName["permissions"], Permissions.self, unknown: &reading.unknownPermissions),
            "roles": names(byName["roles"], Roles.self, unknown: &reading.unknownRoles),
        ]
        return reading
    }

    // MARK: - Generation

    static func pick<T>(_ items: [T], _ generator: inout Generator) -> T { items[Int.random(in: 0..<items.count, using: &generator)] }

    static func space(_ generator: inout Generator) -> String {
        Int.random(in: 0..<6, using: &generator) == 0 ? pick([" ", "\n", "\t ", "\r\n  "], &generator) : ""
    }

    /// A name, sometimes with one character written as a \u escape.
    static func name(_ generator: inout Generator) -> String {
        var name =
            Int.random(in: 0..<4, using: &generator) == 0
            ? pick(["sub", "x", "apiKey", "ex", "permission", ""], &generator) : pick(claimNames, &generator)
        if !name.isEmpty, Int.random(in: 0..<8, using: &generator) == 0 {
            let characters = Array(name)
            let index = Int.random(in: 0..<characters.count, using: &generator)
            let escaped = String(format: "\\u%04x", characters[index].unicodeScalars.first!.value)
            name = String(characters[..<index]) + escaped + String(characters[(index + 1)...])
        }
        return "\"" + name + "\""
    }

    static func stringValue(_ generator: inout Generator) -> String {
        pick(
            [
                #""demo-key""#, #""2kyv-gzay-64pg""#, #""allow_join""#, #""ask_join""#, #""allow_mod""#, #""crawler""#, #""rtc""#,
                #""""#, #""2""#, #""02""#, #""q\"uote""#, #""\u00e9t\u00E9""#, #""😀 é 会議""#, #""\ud83d\ude00""#, #""tab\tnew\nline""#,
                #""a/b\/c""#, #""allow_joinx""#, #""1b7f3e0c-4f5d-4d3a-9a51-7c9e2a6f0b42""#,
            ], &generator)
    }

    static func numberValue(_ generator: inout Generator) -> String {
        pick(
            [
                "0", "2", "-2", "2.0", "2.5", "1796046869", "1796046869.5", "17960468690", "12345678", "123456789012345",
                "1234567890123456789", "1e3", "1E+2", "2e0", "-0", "0.000001", "1e400", "-1e400", "99999999999", "1000000000",
                "999999999",
            ], &generator)
    }

    static func value(_ generator: inout Generator, depth: Int = 0) -> String {
        switch Int.random(in: 0..<10, using: &generator) {
        case 0, 1, 2: return stringValue(&generator)
        case 3, 4: return numberValue(&generator)
        case 5: return pick(["null", "true", "false"], &generator)
        case 6, 7:
            let count = Int.random(in: 0..<4, using: &generator)
            let items = (0..<count).map { _ in
                depth < 3 && Int.random(in: 0..<4, using: &generator) == 0 ? value(&generator, depth: depth + 1) : stringValue(&generator)
            }
            return "[" + items.joined(separator: "," + space(&generator)) + "]"
        default:
            guard depth < 3 else { return "{}" }
            let count = Int.random(in: 0..<3, using: &generator)
            return "{" + (0..<count).map { _ in name(&generator) + ":" + value(&generator, depth: depth + 1) }.joined(separator: ",") + "}"
        }
    }

    static func payload(_ generator: inout Generator) -> String {
        let count = Int.random(in: 0..<12, using: &generator)
        let members = (0..<count).map { _ in
            space(&generator) + name(&generator) + space(&generator) + ":" + space(&generator) + value(&generator) + space(&generator)
        }
        return space(&generator) + "{" + members.joined(separator: ",") + "}" + space(&generator)
    }

    /// One to three random edits: a byte deleted, inserted or replaced.
    static func mutate(_ text: [UInt8], _ generator: inout Generator) -> [UInt8] {
        var bytes = text
        let alphabet = Array("{}[]\":,\\ 0123456789.-+eEnultrfas_u".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xC3, 0xE9, 0xF0, 0xFF]
        for _ in 0..<Int.random(in: 1...3, using: &generator) {
            let index = bytes.isEmpty ? 0 : Int.random(in: 0..<bytes.count, using: &generator)
            switch Int.random(in: 0..<3, using: &generator) {
            case 0 where !bytes.isEmpty: bytes.remove(at: index)
            case 1: bytes.insert(pick(alphabet, &generator), at: index)
            default: if !bytes.isEmpty { bytes[index] = pick(alphabet, &generator) }
            }
        }
        return bytes
    }

    @Test("the decoder agrees with the tree parser on 20,000 generated payloads and 20,000 edited ones")
    func agrees() {
        var generator = Generator(state: 0x5EED_0F_AD_317)
        var accepted = 0
        var refused = 0
        for round in 0..<40_000 {
            var bytes = Array(Self.payload(&generator).utf8)
            if round % 2 == 1 { bytes = Self.mutate(bytes, &generator) }
            let expected = Self.modelled(bytes)
            if expected == nil { refused += 1 } else { accepted += 1 }
            for deferring in [false, true] {
                let actual = Self.decoded(bytes, deferringAPIKey: deferring)
                guard actual == expected else {
                    Issue.record(
                        "round \(round), deferring \(deferring): \(String(decoding: bytes, as: UTF8.self))\n  decoder: \(actual.map(String.init(describing:)) ?? "refused")\n  model:   \(expected.map(String.init(describing:)) ?? "refused")"
                    )
                    return
                }
            }
        }
        // Both kinds must be well represented, or the comparison says little.
        #expect(accepted > 10_000)
        #expect(refused > 5_000)
    }
}
