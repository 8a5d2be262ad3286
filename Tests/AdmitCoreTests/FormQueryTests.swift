import AdmitCore
import Testing

@Suite("form-encoded queries")
struct FormQueryTests {
    @Test("plus is a space and %XX a byte, in names and values; the first value wins")
    func decoding() {
        let query = FormQuery("name=Guest+One&roomId=a%2Bb&emoji=%F0%9F%8E%A5&room%49d=x&name=Second&empty=&flag")
        #expect(query["name"] == "Guest One")
        #expect(query["roomId"] == "a+b")
        #expect(query["emoji"] == "🎥")
        #expect(query["roomId"] == "a+b")
        #expect(query["roomId"] != nil)
        #expect(query["empty"] == "")
        #expect(query["flag"] == "")
        #expect(query["missing"] == nil)
        #expect(FormQuery(target: "/get-token?peerId=p+1")["peerId"] == "p 1")
        #expect(FormQuery(target: "/get-token")["peerId"] == nil)
        #expect(FormQuery(nil)["x"] == nil)
    }

    @Test("a % without two hex digits stays as written; bytes that are not UTF-8 never trap")
    func malformed() {
        #expect(FormQuery("a=100%&b=%zz&c=%4&d=%%41")["a"] == "100%")
        #expect(FormQuery("a=100%&b=%zz&c=%4&d=%%41")["b"] == "%zz")
        #expect(FormQuery("a=100%&b=%zz&c=%4&d=%%41")["c"] == "%4")
        #expect(FormQuery("a=100%&b=%zz&c=%4&d=%%41")["d"] == "%A")
        #expect(FormQuery("a=%FF%FE")["a"] == "\u{FFFD}\u{FFFD}")
        // Every byte sequence decodes to something.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let bytes = (0..<Int.random(in: 0...24, using: &generator)).map { _ in
                Array("%+=&aF09".utf8)[Int.random(in: 0..<8, using: &generator)]
            }
            _ = FormQuery(Substring(String(decoding: bytes, as: UTF8.self)))["a"]
        }
    }

    @Test("separators are the bytes & and =, even where a combining mark follows them")
    func bytes() {
        // As Characters, "&\u{301}" and "=\u{301}" are neither "&" nor "=": the pairs would run together.
        let query = FormQuery("a=1&\u{301}b=2&c=\u{301}x&d\u{301}=4")
        #expect(query["a"] == "1")
        #expect(query["\u{301}b"] == "2")
        #expect(query["c"] == "\u{301}x")
        #expect(query["d\u{301}"] == "4")
        #expect(FormQuery(target: "/rtc?\u{301}x=1")["\u{301}x"] == "1")
    }
}
