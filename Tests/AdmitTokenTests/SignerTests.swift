import Crypto
import Foundation
import Testing

@testable import AdmitToken

@Suite("signer")
struct SignerTests {
    @Test("a signed token verifies back to the same claims")
    func roundTrip() throws {
        let claims = Claims(
            apiKey: apiKey, permissions: [.allowJoin, .allowMod], lifetime: 7200, now: now + 0.75,
            roomId: "2kyv-gzay-64pg", participantId: "lxvdplwt", roles: [.crawler, .rtc], jwtID: "j\"1\\")
        let token = Signer(secret: secret).sign(claims)
        #expect(try verifier().verify(token) == claims)
    }

    @Test("iat and exp are whole seconds written as integers")
    func integerDates() throws {
        let token = Signer(secret: secret).sign(Claims(apiKey: apiKey, lifetime: 120 * 60, now: now + 0.9))
        let payload = try #require(Base64URL.decode(token.split(separator: ".")[1].utf8))
        let text = String(decoding: payload, as: UTF8.self)
        #expect(text == #"{"apikey":"demo-key","permissions":["allow_join"],"iat":\#(Int(now)),"exp":\#(Int(now) + 7200)}"#)
    }

    @Test("room, participant and roles imply version 2")
    func impliedVersion() {
        #expect(Claims(apiKey: apiKey, lifetime: 1, now: now).version == nil)
        #expect(Claims(apiKey: apiKey, lifetime: 1, now: now, roomId: "r").version == 2)
        #expect(Claims(apiKey: apiKey, lifetime: 1, now: now, participantId: "p").version == 2)
        #expect(Claims(apiKey: apiKey, lifetime: 1, now: now, roles: .crawler).version == 2)
    }

    @Test("the header is the contract's, byte for byte")
    func header() throws {
        let token = Signer(secret: secret).sign(Claims(apiKey: apiKey, lifetime: 60, now: now))
        let header = try #require(Base64URL.decode(token.split(separator: ".")[0].utf8))
        #expect(String(decoding: header, as: UTF8.self) == #"{"alg":"HS256","typ":"JWT"}"#)
    }

    @Test("strings needing escapes survive signing", arguments: ["quote\"", "back\\slash", "new\nline", "tab\t", "\u{01}", "é会議", "🎥"])
    func escapes(_ text: String) throws {
        let claims = Claims(apiKey: text, lifetime: 60, now: now)
        let token = Signer(secret: secret).sign(claims)
        #expect(try Verifier(keys: SingleSecret(secret), clock: .fixed(now)).verify(token).apiKey == text)
    }

    @Test("every byte that needs an escape is escaped at every position of a long string")
    func escapesAtEveryPosition() throws {
        let specials: [UInt8] = Array(0..<0x20) + [UInt8(ascii: "\""), UInt8(ascii: "\\")]
        let verifier = Verifier(keys: SingleSecret(secret), clock: .fixed(now))
        for position in 0..<21 {
            for special in specials {
                var bytes = [UInt8](repeating: UInt8(ascii: "a"), count: 21)
                bytes[position] = special
                let text = String(decoding: bytes, as: UTF8.self)
                let claims = Claims(apiKey: "key", lifetime: 60, now: now, roomId: text)
                // The payload is valid JSON holding the same text, and the token verifies with it.
                let json = claims.withEncoded { try? JSONValue(parsing: $0) }
                #expect(json?["roomId"] == .string(text), "byte \(special) at \(position)")
                #expect(try verifier.verify(Signer(secret: secret).sign(claims)).roomId == text)
            }
        }
    }

    @Test("plain text is copied as it is, quotes and all")
    func plainText() {
        let claims = Claims(apiKey: "k-é会議-0123456789abcdef", permissions: [.allowJoin, .allowMod], lifetime: 60, now: 1_000)
        #expect(
            claims.withEncoded { String(decoding: $0, as: UTF8.self) }
                == #"{"apikey":"k-é会議-0123456789abcdef","permissions":["allow_join","allow_mod"],"iat":1000,"exp":1060}"#)
    }

    @Test(
        "lifetimes read like jsonwebtoken's expiresIn",
        arguments: [
            ("120m", 7200), ("10m", 600), ("24h", 86_400), ("7d", 604_800), ("90s", 90), ("3600", 3600),
        ])
    func lifetimes(_ text: String, _ seconds: Int) {
        #expect(Lifetime.seconds(text) == seconds)
    }

    @Test("bad lifetimes are refused", arguments: ["", "m", "0", "-5m", "1.5h", "5q", "2 h", "１h", "99999999999", "4000d"])
    func badLifetimes(_ text: String) {
        #expect(Lifetime.seconds(text) == nil)
    }
}

@Suite("codecs")
struct CodecTests {
    @Test("base64url round-trips every length and refuses what is not canonical")
    func base64() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            let text = Base64URL.encode(bytes)
            #expect(text == b64(Data(bytes)))
            #expect(Base64URL.decode(text.utf8) == bytes)
        }
        #expect(Base64URL.decode("QQ==".utf8) == nil)
        #expect(Base64URL.decode("QR".utf8) == nil)  // trailing bits set
        #expect(Base64URL.decode("Q".utf8) == nil)  // impossible length
        #expect(Base64URL.decode("a+b/".utf8) == nil)
        #expect(Base64URL.decode("QQ".utf8) == [0x41])
    }

    /// The plainest decoder: a bit accumulator, nil for anything not canonical.
    static func referenceDecode(_ text: [UInt8]) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        guard text.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        var accumulator = 0
        var bits = 0
        for char in text {
            guard let value = alphabet.firstIndex(of: char) else { return nil }
            accumulator = accumulator << 6 | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> bits))
                accumulator &= (1 << bits) - 1
            }
        }
        return accumulator == 0 ? out : nil
    }

    @Test("base64url decoding agrees with a reference for every byte at every position")
    func base64EveryByte() {
        // Lengths that exercise whole groups, the word-store path, its end, and both tails.
        for length in [2, 3, 4, 6, 7, 8, 11, 43] {
            let valid = Array(Base64URL.encode((0..<64).map { UInt8($0 * 7 % 256) }).utf8.prefix(length))
            for position in 0..<length {
                for byte in 0...255 {
                    var text = valid
                    text[position] = UInt8(byte)
                    let expected = Self.referenceDecode(text)
                    #expect(Base64URL.decode(text) == expected, "length \(length), byte \(byte) at \(position)")
                    // Decoding into exactly the decoded size (no spare bytes) gives the same answer.
                    if let count = Base64URL.decodedCount(length) {
                        var exact = [UInt8](repeating: 0, count: count)
                        let ok = text.withUnsafeBytes { input in exact.withUnsafeMutableBytes { Base64URL.decode(input, into: $0) } }
                        #expect(ok == (expected != nil))
                        if let expected { #expect(exact == expected) }
                    }
                }
            }
        }
    }

    @Test("base64url round-trips random bytes of every length up to 300")
    func base64Random() {
        var generator = SystemRandomNumberGenerator()
        for length in 0...300 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let text = Base64URL.encode(bytes)
            #expect(text == b64(Data(bytes)))
            #expect(Base64URL.decode(text.utf8) == bytes)
            #expect(Self.referenceDecode(Array(text.utf8)) == bytes)
        }
    }

    @Test(
        "numbers read as their values, eight digits at a time or not",
        arguments: [
            "0", "7", "10", "1796046869", "12345678", "123456789", "99999999", "1234567890123", "123456789012345",
            "1234567890123456", "12345678901234567890", "-5", "-12345678", "-1796046869", "1.5", "1796046869.25",
            "1e3", "1E+3", "12345678e2", "0.5", "-0", "123456789.5", "12345678,", "1796046869}", "10000000 ",
        ])
    func numbers(_ text: String) {
        let bytes = Array(text.utf8)
        let length = bytes.prefix { !",} ".utf8.contains($0) }.count
        let (value, index) = bytes.withUnsafeBytes { raw in
            var scanner = JSONScanner(raw)
            return (try? scanner.readNumber(), scanner.index)
        }
        #expect(value == Double(String(text.prefix(length)))!)
        #expect(index == length)
    }

    @Test(
        "numbers outside the JSON grammar are refused",
        arguments: ["01", "00000000", "012345678", "-", "-a", "1.", "1e", ".5", "+1", "--1", "-012345678"])
    func badNumbers(_ text: String) {
        // As a claim: the number reader may stop early ("01" reads 0), the object then fails.
        var payload = Payload()
        let decoded = Array(#"{"exp":\#(text)}"#.utf8).withUnsafeBytes { raw in
            (try? Payload.decode(raw, into: &payload)) != nil
        }
        #expect(!decoded)
    }

    @Test("JSON keeps member order and number text")
    func jsonOrder() throws {
        let value = try JSONValue(parsing: #" {"b":1.50,"a":[true,false,null],"c":"\u00e9\n"} "#)
        #expect(value.jsonText == #"{"b":1.50,"a":[true,false,null],"c":"é\n"}"#)
        #expect(value["b"]?.doubleValue == 1.5)
    }

    @Test("compact JSON reads back as the value it was written from, escapes and all")
    func jsonRoundTrip() throws {
        // The cases that fill the buffer exactly, or nearly: the longest literal alone, a
        // string of escapes only, empty containers.
        let edges: [JSONValue] = [
            .bool(false), .null, .number("0"), .string("\u{01}\u{01}\u{01}"), .string(""), .array([]), .object([]),
            .object([JSONMember("", .bool(false))]), .array([.bool(false), .bool(false)]),
        ]
        for value in edges { #expect(try JSONValue(parsing: value.jsonText) == value, "\(value.jsonText)") }
        // Then random values, from a fixed seed so that a failure repeats.
        var generator = SeededGenerator(seed: 0x5EED_0F_AD_01)
        let pieces = ["", "a", "\"", "\\", "\n", "\u{01}", "\u{1F}", "é", "🎥", "\u{301}", "x y", "\t\r", "{}[],:"]
        func text() -> String { (0..<Int.random(in: 0...6, using: &generator)).map { _ in pieces.randomElement(using: &generator) ?? "" }.joined() }
        func value(_ depth: Int) -> JSONValue {
            switch Int.random(in: 0..<(depth > 3 ? 4 : 6), using: &generator) {
            case 0: .null
            case 1: .bool(Bool.random(using: &generator))
            case 2: .number(["0", "-1.50", "1e300", "12345678901234567890"].randomElement(using: &generator) ?? "0")
            case 3: .string(text())
            case 4: .array((0..<Int.random(in: 0...4, using: &generator)).map { _ in value(depth + 1) })
            default: .object((0..<Int.random(in: 0...4, using: &generator)).map { _ in JSONMember(text(), value(depth + 1)) })
            }
        }
        for _ in 0..<500 {
            let original = value(0)
            let written = original.jsonText
            #expect(try JSONValue(parsing: written) == original, "\(written)")
            #expect(try JSONValue(parsing: original.prettyText).jsonText == written)
        }
    }

    /// SplitMix64: a small generator with a seed, for tests that must repeat.
    struct SeededGenerator: RandomNumberGenerator {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test(
        "JSON refuses what RFC 8259 refuses",
        arguments: [
            "", "{", "{\"a\":}", "{\"a\":1,}", "[1,]", "01", "1.", ".5", "-", "1e", "+1", "'a'", "{\"a\" 1}", "tru", "nul",
            "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "{} {}", "NaN", "Infinity",
        ])
    func jsonRefuses(_ text: String) {
        #expect(throws: JSONError.self) { try JSONValue(parsing: text) }
    }

    @Test("surrogate pairs decode to one scalar")
    func surrogatePair() throws {
        #expect(try JSONValue(parsing: #""\ud83c\udfa5""#) == .string("🎥"))
    }

    @Test("relative times use the two largest units")
    func relative() {
        #expect(RelativeTime.describe(7380) == "2 h 3 min")
        #expect(RelativeTime.describe(45) == "45 s")
        #expect(RelativeTime.describe(90061) == "1 d 1 h")
        #expect(RelativeTime.expiry(now - 7380, now: now) == "expired 2 h 3 min ago")
        #expect(RelativeTime.expiry(now + 7140, now: now) == "expires in 1 h 59 min")
    }
}

@Suite("HMAC")
struct HMACTests {
    private func mac(_ key: [UInt8], _ data: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        data.withUnsafeBytes { input in out.withUnsafeMutableBytes { Secret(bytes: key).mac(input, into: $0) } }
        return out
    }

    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    @Test("RFC 4231 test cases 2 (short key) and 6 (131-byte key)")
    func rfc4231() {
        #expect(
            hex(mac(Array("Jefe".utf8), Array("what do ya want for nothing?".utf8)))
                == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        #expect(
            hex(mac([UInt8](repeating: 0xAA, count: 131), Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)))
                == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test("matches swift-crypto's HMAC for keys around the block size", arguments: [1, 32, 63, 64, 65, 200])
    func matchesCrypto(_ length: Int) {
        let key = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let data = Array("eyJhbGciOiJIUzI1NiJ9.e30".utf8)
        let reference = HMAC<SHA256>.authenticationCode(for: data, using: SymmetricKey(data: key))
        #expect(mac(key, data) == Array(reference))
    }
}

@Suite("wire names")
struct WireNameTests {
    @Test("permissions and roles parse from lists and arrays; the first unknown name is reported")
    func parse() throws {
        #expect(try Permissions(list: "allow_join, allow_mod") == [.allowJoin, .allowMod])
        #expect(try Roles(names: ["rtc", "crawler"]) == [.crawler, .rtc])
        #expect(throws: UnknownName(name: "root")) { try Permissions(list: "allow_join,root") }
        #expect(throws: UnknownName(name: "")) { try Roles(list: "rtc,") }
        #expect(Permissions.knownNames == "allow_join, ask_join, allow_mod")
    }
}
